/**
 * The HPACK codec against RFC 7541: the Appendix C examples, the Appendix A and B tables,
 * every rejection a malformed block must meet, and property tests against an independent
 * implementation (npm hpack.js) in both directions.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import hpack from "hpack.js";
import {
  encodeHeaderBlock,
  encodeHeaderBlockInto,
  headerBlockBound,
  type HeaderField,
  HpackDecoder,
  HpackError,
  STATIC_TABLE,
} from "../../../../adapters/push/http2/hpack.ts";
import {
  decodeHuffman,
  encodeHuffman,
  EOS,
  HUFFMAN_CODE_LENGTHS,
  HUFFMAN_CODES,
} from "../../../../adapters/push/http2/huffman.ts";
import { check } from "../../../fuzz/fuzz_params.ts";
import { hex, SEQUENCES, SINGLE_FIELDS } from "./rfc7541_vectors.ts";

// --- hpack.js, the independent implementation -------------------------------------------

/** A header as hpack.js's compressor takes it. */
interface HpackJsHeader {
  name: string;
  value: string;
  huffman?: boolean;
  neverIndex?: boolean;
  incremental?: boolean;
}

/** hpack.js's encoder of one connection direction. */
class Reference {
  // deno-lint-ignore no-explicit-any
  readonly #compressor: any;
  // deno-lint-ignore no-explicit-any
  readonly #decompressor: any;

  #failure: unknown = null;

  constructor(maxTableSize: number) {
    this.#compressor = hpack.compressor.create({ table: { maxSize: maxTableSize } });
    this.#decompressor = hpack.decompressor.create({ table: { maxSize: maxTableSize } });
    this.#decompressor.on("error", (error: unknown) => this.#failure = error);
  }

  /** One block; `resetTable` starts it with size updates to 0 and back (evicting all). */
  encode(headers: HpackJsHeader[], resetTable = false): Uint8Array {
    if (resetTable) this.#compressor.reset();
    this.#compressor.write(headers);
    const chunk: Buffer | null = this.#compressor.read();
    return new Uint8Array(chunk ?? []);
  }

  /** Decodes one block: fields and whether each was "never indexed". */
  decode(block: Uint8Array): { fields: HeaderField[]; neverIndexed: boolean[] } {
    this.#decompressor.write(Buffer.from(block));
    this.#decompressor.execute();
    if (this.#failure !== null) throw this.#failure;
    const fields: HeaderField[] = [];
    const neverIndexed: boolean[] = [];
    for (;;) {
      const header = this.#decompressor.read();
      if (header === null) break;
      fields.push([header.name, header.value]);
      neverIndexed.push(header.neverIndex);
    }
    return { fields, neverIndexed };
  }
}

// --- generators ---------------------------------------------------------------------------

const STATIC_NAMES = [...new Set(STATIC_TABLE.map(([name]) => name))];

/** Names: static ones (indexed names) and new ones ("x-" keeps clear of Object.prototype keys). */
const nameArb = fc.oneof(
  fc.constantFrom(...STATIC_NAMES),
  fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-"), maxLength: 12 })
    .map((tail) => `x-${tail}`),
);

/** A value of octets `min..max` as chars; static values and some repeats mixed in. */
function valueArb(min: number, max: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(...STATIC_TABLE.map(([, value]) => value), "200", "410"),
    fc.string({
      unit: fc.integer({ min, max }).map((code) => String.fromCharCode(code)),
      maxLength: 160, // past 127: multi-octet length prefixes
    }),
  ).filter((value) => !(value in Object.prototype)); // hpack.js looks values up in a plain object
}

const referenceHeaderArb = fc.record({
  name: nameArb,
  value: valueArb(0, 255),
  huffman: fc.boolean(),
  neverIndex: fc.boolean(),
  incremental: fc.boolean(),
});

// --- RFC 7541 Appendix C ------------------------------------------------------------------

Deno.test("RFC 7541 C.2: single fields decode as the RFC says, with its table sizes", () => {
  for (const example of SINGLE_FIELDS) {
    const decoder = new HpackDecoder({ maxTableSize: example.maxTableSize });
    const [block] = example.blocks;
    assert.deepEqual(decoder.decode(hex(block.hex)), block.fields, example.name);
    assert.equal(decoder.tableSize, block.tableSize, example.name);
  }
});

Deno.test("RFC 7541 C.3-C.6: request and response sequences share one decoder's table", () => {
  for (const example of SEQUENCES) {
    const decoder = new HpackDecoder({ maxTableSize: example.maxTableSize });
    example.blocks.forEach((block, i) => {
      const what = `${example.name}, block ${i + 1}`;
      assert.deepEqual(decoder.decode(hex(block.hex)), block.fields, what);
      assert.equal(decoder.tableSize, block.tableSize, what);
    });
  }
});

Deno.test("encoder: the RFC's non-indexing examples come out byte for byte (C.2.2-C.2.4)", () => {
  assert.deepEqual(
    encodeHeaderBlock([[":path", "/sample/path"]]),
    hex(SINGLE_FIELDS[1].blocks[0].hex),
  );
  assert.deepEqual(
    encodeHeaderBlock([["password", "secret"]], new Set(["password"])),
    hex(SINGLE_FIELDS[2].blocks[0].hex),
  );
  assert.deepEqual(encodeHeaderBlock([[":method", "GET"]]), hex("82"));
});

// --- tables -------------------------------------------------------------------------------

Deno.test("static table: 61 entries, spot checks against RFC 7541 Appendix A", () => {
  assert.equal(STATIC_TABLE.length, 61);
  const spots: Array<[number, string, string]> = [
    [1, ":authority", ""],
    [2, ":method", "GET"],
    [7, ":scheme", "https"],
    [8, ":status", "200"],
    [14, ":status", "500"],
    [16, "accept-encoding", "gzip, deflate"],
    [23, "authorization", ""],
    [31, "content-type", ""],
    [46, "location", ""],
    [55, "set-cookie", ""],
    [61, "www-authenticate", ""],
  ];
  for (const [index, name, value] of spots) {
    assert.deepEqual(STATIC_TABLE[index - 1], [name, value]);
  }
  // Every entry as an index, decoded by hpack.js (its own copy of the table).
  const block = new Uint8Array(STATIC_TABLE.map((_, i) => 0x80 | (i + 1)));
  assert.deepEqual(new Reference(4096).decode(block).fields, STATIC_TABLE);
});

/** RFC 7541 Appendix B's "code as hex" column, symbols 0-256, transcribed separately. */
// deno-fmt-ignore
const RFC_HUFFMAN_HEX = (
  "1ff8 7fffd8 fffffe2 fffffe3 fffffe4 fffffe5 fffffe6 fffffe7 fffffe8 ffffea 3ffffffc " +
  "fffffe9 fffffea 3ffffffd fffffeb fffffec fffffed fffffee fffffef ffffff0 ffffff1 ffffff2 " +
  "3ffffffe ffffff3 ffffff4 ffffff5 ffffff6 ffffff7 ffffff8 ffffff9 ffffffa ffffffb " +
  "14 3f8 3f9 ffa 1ff9 15 f8 7fa 3fa 3fb f9 7fb fa 16 17 18 0 1 2 19 1a 1b 1c 1d 1e 1f 5c fb " +
  "7ffc 20 ffb 3fc 1ffa 21 5d 5e 5f 60 61 62 63 64 65 66 67 68 69 6a 6b 6c 6d 6e 6f 70 71 72 " +
  "fc 73 fd 1ffb 7fff0 1ffc 3ffc 22 7ffd 3 23 4 24 5 25 26 27 6 74 75 28 29 2a 7 2b 76 2c 8 9 " +
  "2d 77 78 79 7a 7b 7ffe 7fc 3ffd 1ffd ffffffc " +
  "fffe6 3fffd2 fffe7 fffe8 3fffd3 3fffd4 3fffd5 7fffd9 3fffd6 7fffda 7fffdb 7fffdc 7fffdd " +
  "7fffde ffffeb 7fffdf ffffec ffffed 3fffd7 7fffe0 ffffee 7fffe1 7fffe2 7fffe3 7fffe4 1fffdc " +
  "3fffd8 7fffe5 3fffd9 7fffe6 7fffe7 ffffef 3fffda 1fffdd fffe9 3fffdb 3fffdc 7fffe8 7fffe9 " +
  "1fffde 7fffea 3fffdd 3fffde fffff0 1fffdf 3fffdf 7fffeb 7fffec 1fffe0 1fffe1 3fffe0 1fffe2 " +
  "7fffed 3fffe1 7fffee 7fffef fffea 3fffe2 3fffe3 3fffe4 7ffff0 3fffe5 3fffe6 7ffff1 3ffffe0 " +
  "3ffffe1 fffeb 7fff1 3fffe7 7ffff2 3fffe8 1ffffec 3ffffe2 3ffffe3 3ffffe4 7ffffde 7ffffdf " +
  "3ffffe5 fffff1 1ffffed 7fff2 1fffe3 3ffffe6 7ffffe0 7ffffe1 3ffffe7 7ffffe2 fffff2 1fffe4 " +
  "1fffe5 3ffffe8 3ffffe9 ffffffd 7ffffe3 7ffffe4 7ffffe5 fffec fffff3 fffed 1fffe6 3fffe9 " +
  "1fffe7 1fffe8 7ffff3 3fffea 3fffeb 1ffffee 1ffffef fffff4 fffff5 3ffffea 7ffff4 3ffffeb " +
  "7ffffe6 3ffffec 3ffffed 7ffffe7 7ffffe8 7ffffe9 7ffffea 7ffffeb ffffffe 7ffffec 7ffffed " +
  "7ffffee 7ffffef 7fffff0 3ffffee 3fffffff"
).split(" ").map((code) => parseInt(code, 16));

Deno.test("Huffman table: 257 codes, the RFC's values, a complete prefix code, EOS all ones", () => {
  assert.equal(HUFFMAN_CODE_LENGTHS.length, 257);
  assert.equal(RFC_HUFFMAN_HEX.length, 257);
  assert.deepEqual([...HUFFMAN_CODES], RFC_HUFFMAN_HEX);
  // Kraft sum exactly 1: no code is a prefix of another and none is missing.
  const kraft = HUFFMAN_CODE_LENGTHS.reduce((sum, length) => sum + 2 ** -length, 0);
  assert.equal(kraft, 1);
  assert.equal(HUFFMAN_CODE_LENGTHS[EOS], 30);
  assert.equal(HUFFMAN_CODES[EOS], 2 ** 30 - 1);
});

Deno.test("Huffman: every symbol round-trips through ours and hpack.js, alone and in a run", () => {
  const reference = new Reference(4096);
  const strings: number[][] = [...Array(256).keys()].map((symbol) => [symbol]);
  strings.push([...Array(256).keys()], [...Array(256).keys()].reverse());
  for (const octets of strings) {
    const text = String.fromCharCode(...octets);
    const coded = encodeHuffman(new Uint8Array(octets));
    assert.equal(decodeHuffman(coded, 0, coded.length), text);
    // A literal without indexing, new name "x", value Huffman-coded by us: hpack.js decodes it.
    const block = new Uint8Array([0x00, 0x01, 0x78, ...huffmanLength(coded.length), ...coded]);
    assert.deepEqual(reference.decode(block).fields, [["x", text]]);
    // hpack.js's own Huffman coding of the same string, decoded by us.
    const theirs = reference.encode([{
      name: "x",
      value: text,
      huffman: true,
      incremental: false,
    }]);
    assert.deepEqual(new HpackDecoder().decode(theirs), [["x", text]]);
  }
});

/** A Huffman string's length prefix (H bit set). */
function huffmanLength(length: number): number[] {
  return length < 127 ? [0x80 | length] : [0xff, ...continuation(length - 127)];
}

function continuation(value: number): number[] {
  const bytes: number[] = [];
  for (; value >= 128; value = Math.floor(value / 128)) bytes.push((value % 128) | 128);
  bytes.push(value);
  return bytes;
}

// --- against hpack.js, property tests ----------------------------------------------------

Deno.test("property: blocks hpack.js encodes (Huffman, indexing, size updates) decode the same", () => {
  check(
    fc.property(
      fc.constantFrom(128, 256, 1024, 4096),
      fc.array(
        fc.record({
          headers: fc.array(referenceHeaderArb, { minLength: 1, maxLength: 12 }),
          resetTable: fc.boolean(),
        }),
        { minLength: 1, maxLength: 8 },
      ),
      (maxTableSize, blocks) => {
        const reference = new Reference(maxTableSize);
        const ours = new HpackDecoder({ maxTableSize, maxHeaderListSize: 1 << 20 });
        for (const { headers, resetTable } of blocks) {
          const block = reference.encode(headers, resetTable);
          const expected = headers.map(({ name, value }): HeaderField => [name, value]);
          assert.deepEqual(ours.decode(block), expected);
          assert.ok(ours.tableSize <= maxTableSize);
        }
      },
    ),
    300,
  );
});

Deno.test("property: blocks we encode decode the same with hpack.js, sensitive never indexed", () => {
  check(
    fc.property(
      fc.array(
        fc.record({
          fields: fc.array(fc.tuple(nameArb, valueArb(0, 127)), { maxLength: 12 }),
          sensitive: fc.array(nameArb, { maxLength: 3 }),
        }),
        { minLength: 1, maxLength: 6 },
      ),
      (blocks) => {
        const reference = new Reference(4096);
        for (const { fields, sensitive } of blocks) {
          const secret = new Set(sensitive);
          const block = encodeHeaderBlock(fields, secret);
          const decoded = reference.decode(block);
          assert.deepEqual(decoded.fields, fields);
          assert.deepEqual(decoded.neverIndexed, fields.map(([name]) => secret.has(name)));
          // And ours agrees, and no field of ours ever lands in a decoder's table.
          const decoder = new HpackDecoder();
          assert.deepEqual(decoder.decode(block), fields);
          assert.equal(decoder.tableSize, 0);
        }
      },
    ),
    300,
  );
});

// --- the encoder --------------------------------------------------------------------------

const DEVICE = "a".repeat(64);
const JWT = "eyJhbGciOiJFUzI1NiIsImtpZCI6IkFCQzEyM0RFRkcifQ." + "x".repeat(120);

/** An APNs request's headers, as the sender makes them. */
const APNS_REQUEST: readonly HeaderField[] = [
  [":method", "POST"],
  [":scheme", "https"],
  [":path", `/3/device/${DEVICE}`],
  [":authority", "api.push.apple.com"],
  ["authorization", `bearer ${JWT}`],
  ["content-type", "application/json"],
  ["apns-topic", "org.example.app"],
  ["apns-push-type", "alert"],
  ["apns-priority", "10"],
  ["apns-expiration", "0"],
];

Deno.test("encoder: an APNs request uses static indexes and names, never-indexes the token", () => {
  const block = encodeHeaderBlock(APNS_REQUEST, new Set(["authorization"]));
  assert.deepEqual([...block.subarray(0, 2)], [0x83, 0x87]); // :method POST, :scheme https
  assert.equal(block[2], 0x04); // :path, static name 4, without indexing
  const authorization = block.indexOf(0x1f); // never indexed, name index 23 = 15 + 8
  assert.deepEqual([...block.subarray(authorization, authorization + 2)], [0x1f, 0x08]);
  const decoded = new Reference(4096).decode(block);
  assert.deepEqual(decoded.fields, APNS_REQUEST);
  assert.deepEqual(decoded.neverIndexed, APNS_REQUEST.map(([name]) => name === "authorization"));
});

Deno.test("encoder: a size update starts the block when asked, and only then", () => {
  const fields: HeaderField[] = [[":method", "POST"]];
  assert.deepEqual([...encodeHeaderBlock(fields, undefined, 0)], [0x20, 0x83]);
  assert.deepEqual([...encodeHeaderBlock(fields, undefined, 4096)], [0x3f, 0xe1, 0x1f, 0x83]);
  assert.deepEqual([...encodeHeaderBlock(fields)], [0x83]);
  const decoder = new HpackDecoder();
  assert.deepEqual(decoder.decode(encodeHeaderBlock(fields, undefined, 100)), fields);
  for (const bad of [-1, 1.5, NaN, 2 ** 31]) {
    assert.throws(() => encodeHeaderBlock(fields, undefined, bad), RangeError);
  }
});

Deno.test("encoder: long and non-ASCII strings get multi-byte length prefixes and UTF-8", () => {
  for (const length of [0, 1, 41, 42, 43, 126, 127, 128, 300, 5000]) {
    const fields: HeaderField[] = [["x-long", "v".repeat(length)], ["x-é", "é".repeat(length)]];
    const block = encodeHeaderBlock(fields);
    // Latin1 decoding shows the UTF-8 octets: é is C3 A9.
    const utf8AsLatin1 = "\u00c3\u00a9".repeat(length);
    assert.deepEqual(new HpackDecoder({ maxHeaderListSize: 1 << 20 }).decode(block), [
      ["x-long", "v".repeat(length)],
      ["x-\u00c3\u00a9", utf8AsLatin1],
    ], `length ${length}`);
  }
});

Deno.test("encoder: the result is the caller's (a later block does not overwrite it)", () => {
  const first = encodeHeaderBlock([["x-a", "1"]]);
  const copy = [...first];
  encodeHeaderBlock([["x-b", "2".repeat(1000)]]);
  assert.deepEqual([...first], copy);
});

Deno.test("encoder: into a buffer at an offset, the same octets; too small a buffer refused", () => {
  const fields = [...APNS_REQUEST, ["x-é", "ü".repeat(200)] as const];
  const expected = encodeHeaderBlock(fields, new Set(["authorization"]));
  const bound = headerBlockBound(fields);
  assert.ok(bound >= expected.length);
  const frame = new Uint8Array(9 + bound).fill(0xee);
  const end = encodeHeaderBlockInto(frame, 9, fields, new Set(["authorization"]));
  assert.deepEqual(frame.subarray(9, end), expected);
  assert.deepEqual([...frame.subarray(0, 9)], new Array(9).fill(0xee)); // frame header untouched
  const small = new Uint8Array(9 + bound - 1).fill(0xee);
  assert.throws(() => encodeHeaderBlockInto(small, 9, fields), RangeError);
  assert.ok(small.every((octet) => octet === 0xee)); // nothing written
});

// --- the decoder's rejections -------------------------------------------------------------

function rejects(bytes: number[], options?: ConstructorParameters<typeof HpackDecoder>[0]): void {
  assert.throws(() => new HpackDecoder(options).decode(new Uint8Array(bytes)), HpackError);
}

Deno.test("decoder rejects index 0 and indexes past the tables", () => {
  rejects([0x80]); // indexed, index 0
  rejects([0xbe]); // index 62 with an empty dynamic table
  rejects([0x7e, 0x01, 0x61]); // literal with incremental indexing, name index 62
  rejects([0x0f, 0x2f, 0x01, 0x61]); // literal without indexing, name index 62
  rejects([0xff, 0x80, 0x80, 0x80, 0x07]); // index far past everything
  // One entry in the table: index 62 works, 63 does not.
  const decoder = new HpackDecoder();
  decoder.decode(new Uint8Array([0x40, 0x01, 0x61, 0x01, 0x62]));
  assert.deepEqual(decoder.decode(new Uint8Array([0xbe])), [["a", "b"]]);
  assert.throws(() => decoder.decode(new Uint8Array([0xbf])), HpackError);
});

Deno.test("decoder rejects integers that overflow or run past the block", () => {
  rejects([0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]); // above 2^31 - 1
  rejects([0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]); // 6 continuation octets
  rejects([0xff, 0x80]); // continuation missing
  rejects([0x40, 0x7f]); // a name length's continuation missing
});

Deno.test("decoder rejects strings longer than what is left of the block", () => {
  rejects([0x00, 0x05, 0x61, 0x62]);
  rejects([0x00, 0x01, 0x61, 0x03, 0x61]); // value
  rejects([0x00, 0x85, 0x1f]); // Huffman
  rejects([0x00]); // name missing
  rejects([0x00, 0x01, 0x61]); // value missing
});

Deno.test("decoder rejects bad Huffman padding and EOS inside a string", () => {
  // 'a' is 00011 (5 bits): 0x1f is 'a' + 3 bits of ones padding, which is valid.
  assert.deepEqual(
    new HpackDecoder().decode(new Uint8Array([0x00, 0x81, 0x1f, 0x01, 0x62])),
    [["a", "b"]],
  );
  rejects([0x00, 0x82, 0x1f, 0xff, 0x01, 0x62]); // 'a' + 11 bits of padding
  rejects([0x00, 0x81, 0xff, 0x01, 0x62]); // 8 bits of padding, no symbol
  rejects([0x00, 0x81, 0x18, 0x01, 0x62]); // 'a' + padding 000, not all ones
  rejects([0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x01, 0x62]); // EOS (30 ones)
  rejects([0x00, 0x85, 0x1f, 0xff, 0xff, 0xff, 0xfc, 0x01, 0x62]); // 'a' then EOS
});

Deno.test("decoder: size updates within the announced maximum and at the block's start only", () => {
  rejects([0x3f, 0xe2, 0x1f]); // 4097 > 4096
  rejects([0x3f, 0xe2, 0x00], { maxTableSize: 100 }); // 129 > 100
  rejects([0x82, 0x20]); // after a field
  rejects([0x20, 0x82, 0x20]); // after a field, even with one before
  const decoder = new HpackDecoder();
  // Two updates at the start (RFC 7541 §4.2 allows them), then an entry.
  const block = [0x20, 0x3f, 0xe1, 0x1f, 0x40, 0x01, 0x61, 0x01, 0x62];
  assert.deepEqual(decoder.decode(new Uint8Array(block)), [["a", "b"]]);
  assert.equal(decoder.tableSize, 34);
  // Shrinking to 0 evicts it.
  assert.deepEqual(decoder.decode(new Uint8Array([0x20])), []);
  assert.equal(decoder.tableSize, 0);
  assert.throws(() => decoder.decode(new Uint8Array([0xbe])), HpackError);
});

Deno.test("decoder: eviction keeps the newest entries, an entry too big empties the table", () => {
  const decoder = new HpackDecoder({ maxTableSize: 70 }); // room for two 34-octet entries
  const add = (
    name: string,
    value: string,
  ) => [0x40, 0x01, name.charCodeAt(0), 0x01, value.charCodeAt(0)];
  decoder.decode(new Uint8Array([...add("a", "1"), ...add("b", "2"), ...add("c", "3")]));
  assert.equal(decoder.tableSize, 68);
  assert.deepEqual(decoder.decode(new Uint8Array([0xbe, 0xbf])), [["c", "3"], ["b", "2"]]);
  assert.throws(() => decoder.decode(new Uint8Array([0xc0])), HpackError);
  // 33 + 40 octets > 70: the table empties, the field itself is still delivered.
  const big = [0x40, 0x01, 0x64, 0x28, ...new Array(40).fill(0x7a)];
  assert.deepEqual(decoder.decode(new Uint8Array(big)), [["d", "z".repeat(40)]]);
  assert.equal(decoder.tableSize, 0);
});

Deno.test("decoder rejects a header list over maxHeaderListSize, counting name + value + 32", () => {
  // ":status: 200" is 7 + 3 + 32 = 42 octets.
  const decoder = new HpackDecoder({ maxHeaderListSize: 84 });
  assert.equal(decoder.decode(new Uint8Array([0x88, 0x88])).length, 2);
  rejects([0x88, 0x88, 0x88], { maxHeaderListSize: 84 });
  rejects([0x00, 0x01, 0x61, 0x7f, 0x00, ...new Array(127).fill(0x62)], {
    maxHeaderListSize: 100,
  });
});

Deno.test("decoder: latin1 octets come back one char each, 0x80-0xff included", () => {
  const octets = [...Array(256).keys()];
  const block = new Uint8Array([0x00, 0x01, 0x78, 0x7f, 0x81, 0x01, ...octets]);
  assert.deepEqual(new HpackDecoder().decode(block), [["x", String.fromCharCode(...octets)]]);
});
