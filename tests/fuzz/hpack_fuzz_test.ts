/**
 * Property tests of the HPACK decoder on hostile input: random octets, and valid blocks
 * (the RFC 7541 examples, APNs-like answers) with octets flipped, cut or spliced in, fed to
 * one decoder after another the way a connection would. Whatever arrives, decoding returns
 * or throws HpackError, never anything else, never hangs, and what it returns stays within
 * the header list bound; the table never grows past its limit.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { HpackDecoder, HpackError } from "../../adapters/push/http2/hpack.ts";
import { encodeHuffman } from "../../adapters/push/http2/huffman.ts";
import { hex, SEQUENCES, SINGLE_FIELDS } from "../adapters/push/http2/rfc7541_vectors.ts";
import { CaseTally, check } from "./fuzz_params.ts";

const ascii = new TextEncoder();

/** An APNs answer as a server might encode it: new names indexed, values Huffman-coded. */
function apnsAnswer(id: string): Uint8Array {
  const literal = (name: string, value: string) => {
    const coded = encodeHuffman(ascii.encode(value));
    return [0x40, name.length, ...ascii.encode(name), 0x80 | coded.length, ...coded];
  };
  return new Uint8Array([0x88, ...literal("apns-id", id), ...literal("apns-unique-id", id)]);
}

const VALID_BLOCKS: readonly Uint8Array[] = [
  ...[...SINGLE_FIELDS, ...SEQUENCES].flatMap((s) => s.blocks.map((b) => hex(b.hex))),
  apnsAnswer("6a2f8e51-0c3b-4d7e-9a10-2b5c7d9e0f13"),
];

/** `arbitrary` in a third of the cases, else `otherwise`. */
function sometimes<T>(arbitrary: fc.Arbitrary<T>, otherwise: T): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: fc.constant(otherwise), weight: 2 }, { arbitrary, weight: 1 });
}

/** A block to feed: random octets, or a valid block mutated. */
const blockArb = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.record({
    base: fc.constantFrom(...VALID_BLOCKS),
    // Each kind of damage in some cases only, so that many blocks still decode.
    flips: sometimes(
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 2 }),
      [],
    ),
    cut: sometimes(fc.nat(), null),
    splice: sometimes(fc.uint8Array({ minLength: 1, maxLength: 6 }), new Uint8Array(0)),
    at: fc.nat(),
  }).map(({ base, flips, cut, splice, at }) => {
    const bytes = [...base];
    for (const [where, value] of flips) if (bytes.length > 0) bytes[where % bytes.length] = value;
    bytes.splice(at % (bytes.length + 1), 0, ...splice);
    return new Uint8Array(cut === null ? bytes : bytes.slice(0, cut % (bytes.length + 1)));
  }),
);

Deno.test("fuzz: any octets decode or throw HpackError, within the list and table bounds", () => {
  const tally = new CaseTally();
  check(
    fc.property(
      fc.constantFrom(0, 64, 256, 4096, 4096),
      fc.oneof(fc.constant(16384), fc.integer({ min: 64, max: 16384 })),
      fc.array(blockArb, { minLength: 1, maxLength: 6 }),
      (maxTableSize, maxHeaderListSize, blocks) => {
        const decoder = new HpackDecoder({ maxTableSize, maxHeaderListSize });
        for (const block of blocks) {
          let fields;
          try {
            fields = decoder.decode(block);
          } catch (error) {
            if (!(error instanceof HpackError)) throw error;
            tally.count("rejected");
            return; // the connection would end here
          }
          tally.count(fields.length > 0 ? "decoded" : "empty");
          const size = fields.reduce(
            (sum, [name, value]) => sum + name.length + value.length + 32,
            0,
          );
          assert.ok(size <= maxHeaderListSize);
          assert.ok(decoder.tableSize <= maxTableSize);
        }
      },
    ),
    3000,
  );
  // Both outcomes met often enough that the property was exercised, not skipped.
  tally.assertShare(["decoded"], 0.05, "decoded blocks");
  tally.assertShare(["rejected"], 0.1, "rejected blocks");
});
