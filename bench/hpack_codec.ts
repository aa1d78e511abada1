/**
 * HPACK micro-benchmark (not wired into bench/main.ts; the codec has no process or network
 * to set up): what our HTTP/2 client pays per header block for APNs traffic.
 *
 * - encode: an APNs request block (`:method`, `:scheme`, `:path` with a 64-hex token,
 *   `:authority`, a ~170-char bearer JWT never indexed, content type, topic, push type,
 *   priority, expiration; with and without `apns-collapse-id`);
 * - decode: a stream of APNs-like answers as a server encodes them (npm hpack.js's
 *   compressor: `:status` indexed, `apns-id` and `apns-unique-id` new UUIDs each time,
 *   Huffman-coded, added to the dynamic table, which fills and evicts) and a 410 answer
 *   with literals and no Huffman; one decoder for the stream, as on a connection.
 *
 * - encode into a buffer: the same request with `encodeHeaderBlockInto` into a frame-sized
 *   buffer, which saves allocating the result.
 *
 * Sequential, one block after another; wall ns per block, after a warm-up.
 *
 * `deno run --allow-all bench/hpack_codec.ts [--blocks N]`
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";
import hpack from "hpack.js";
import {
  encodeHeaderBlock,
  encodeHeaderBlockInto,
  type HeaderField,
  HpackDecoder,
} from "../adapters/push/http2/hpack.ts";

const { values } = parseArgs({ args: Deno.args, options: { blocks: { type: "string" } } });
const BLOCKS = Number(values.blocks ?? 200_000);

/** ns per call of `op` over `n` calls, after a warm-up of the same length. */
function nsPerCall(n: number, op: (i: number) => unknown): number {
  let sink = 0;
  for (let i = 0; i < n; i++) sink += op(i) === undefined ? 0 : 1;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) sink += op(i) === undefined ? 0 : 1;
  const ns = ((performance.now() - t0) * 1e6) / n;
  if (sink < 0) console.log(sink); // keeps the results alive
  return ns;
}

const JWT = "eyJhbGciOiJFUzI1NiIsImtpZCI6IjhZTDNHM1JSWDcifQ." +
  "eyJpc3MiOiI1VTg4NEI5OVFaIiwiaWF0IjoxNzY0MTI2MDAwfQ." +
  "MEUCIQDxq3vV1r8YFq9cPjXWzjGNq1bqv0Qm4cKJzM8Yt1a2bQIgZ3m3d1F1b7oQ2yM0n4Fq6bK0y0hE1Yw8m";
const SENSITIVE = new Set(["authorization"]);

function request(token: string, collapse: boolean): HeaderField[] {
  const fields: HeaderField[] = [
    [":method", "POST"],
    [":scheme", "https"],
    [":path", `/3/device/${token}`],
    [":authority", "api.push.apple.com"],
    ["authorization", `bearer ${JWT}`],
    ["content-type", "application/json"],
    ["apns-topic", "org.example.app"],
    ["apns-push-type", "alert"],
    ["apns-priority", "10"],
    ["apns-expiration", "0"],
  ];
  if (collapse) fields.push(["apns-collapse-id", "account-7"]);
  return fields;
}

const tokens = Array.from({ length: 1024 }, () => {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
});
const requests = tokens.map((token, i) => request(token, i % 2 === 1));
const plain = requests.filter((_, i) => i % 2 === 0);
const collapsing = requests.filter((_, i) => i % 2 === 1);

// A server's answers: distinct UUIDs, encoded once up front by hpack.js (one compressor, so
// the dynamic table fills and evicts as on a long-lived connection).
const compressor = hpack.compressor.create({ table: { maxSize: 4096 } });
const answers: Uint8Array[] = Array.from({ length: 4096 }, () => {
  compressor.write([
    { name: ":status", value: "200" },
    { name: "apns-id", value: crypto.randomUUID().toUpperCase(), huffman: true },
    { name: "apns-unique-id", value: crypto.randomUUID(), huffman: true },
  ]);
  return new Uint8Array(compressor.read() as Buffer);
});
const gone = encodeHeaderBlock([
  [":status", "410"],
  ["content-type", "application/json"],
  ["apns-id", crypto.randomUUID().toUpperCase()],
  ["apns-unique-id", crypto.randomUUID()],
]);

// The answer stream must be decoded in order: replay it from the start with a new decoder.
let decoder = new HpackDecoder();
const decodeStream = (i: number) => {
  const at = i % answers.length;
  if (at === 0) decoder = new HpackDecoder();
  return decoder.decode(answers[at]);
};
const goneDecoder = new HpackDecoder();
const frame = new Uint8Array(16384);

const rows: Array<[string, number, number]> = [
  [
    "encode request",
    nsPerCall(BLOCKS, (i) => encodeHeaderBlock(plain[i & 511], SENSITIVE)),
    encodeHeaderBlock(plain[0], SENSITIVE).length,
  ],
  [
    "encode request into a buffer",
    nsPerCall(BLOCKS, (i) => encodeHeaderBlockInto(frame, 9, plain[i & 511], SENSITIVE)),
    encodeHeaderBlockInto(frame, 9, plain[0], SENSITIVE) - 9,
  ],
  [
    "encode request + collapse-id",
    nsPerCall(BLOCKS, (i) => encodeHeaderBlock(collapsing[i & 511], SENSITIVE)),
    encodeHeaderBlock(collapsing[0], SENSITIVE).length,
  ],
  ["decode 200 (Huffman, indexed)", nsPerCall(BLOCKS, decodeStream), answers[100].length],
  ["decode 410 (literals)", nsPerCall(BLOCKS, () => goneDecoder.decode(gone)), gone.length],
];
console.log(`deno ${Deno.version.deno}, ${BLOCKS} blocks each`);
console.log("block                            ns/block  octets");
for (const [name, ns, octets] of rows) {
  console.log(`${name.padEnd(32)} ${ns.toFixed(0).padStart(8)}  ${String(octets).padStart(6)}`);
}
