/**
 * HPACK header compression (RFC 7541) for our HTTP/2 client: a stateless encoder of request
 * header blocks and a full decoder of response header blocks.
 *
 * The encoder never adds to the peer's dynamic table and never Huffman-codes: an APNs
 * request is small, and a literal costs only a copy to make, while indexing would make us
 * keep a table in step with the peer's. The decoder implements the whole format, because
 * the server chooses how it encodes (APNs indexes and Huffman-codes `apns-id` and such).
 *
 * Header values are octets (RFC 7540 §8.1.2 leaves their charset open). The decoder turns
 * each octet into one char (latin1): fast, lossless, and what APNs sends is ASCII. The
 * encoder writes strings as UTF-8, which is the same octets for ASCII.
 *
 * @module
 */

import { HpackError } from "./hpack_error.ts";
import { decodeHuffman, latin1 } from "./huffman.ts";

export { HpackError };

/** A header field: lower-case name, value. */
export type HeaderField = readonly [name: string, value: string];

/** The static table, RFC 7541 Appendix A: entry i (1-based) is `STATIC_TABLE[i - 1]`. */
export const STATIC_TABLE: readonly HeaderField[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

const STATIC_COUNT = STATIC_TABLE.length;
const STATIC_NAMES: readonly string[] = STATIC_TABLE.map(([name]) => name);
const STATIC_VALUES: readonly string[] = STATIC_TABLE.map(([, value]) => value);

/** A static name's first index and the indexes of its full entries by value. */
interface StaticName {
  readonly index: number;
  readonly byValue: Map<string, number>;
}

const STATIC_BY_NAME: ReadonlyMap<string, StaticName> = (() => {
  const map = new Map<string, StaticName>();
  STATIC_TABLE.forEach(([name, value], i) => {
    let entry = map.get(name);
    if (entry === undefined) map.set(name, entry = { index: i + 1, byValue: new Map() });
    if (!entry.byValue.has(value)) entry.byValue.set(value, i + 1);
  });
  return map;
})();

// Octets of each representation's first byte (RFC 7541 §6).
const INDEXED = 0x80; // §6.1, 7-bit index
const INCREMENTAL = 0x40; // §6.2.1, 6-bit index
const SIZE_UPDATE = 0x20; // §6.3, 5-bit size
const NEVER_INDEXED = 0x10; // §6.2.3, 4-bit index
const WITHOUT_INDEXING = 0x00; // §6.2.2, 4-bit index

const utf8 = new TextEncoder();
let encodeBuffer = new Uint8Array(2048);

/**
 * Encodes request header blocks. Stateless on purpose: never adds to the peer's dynamic
 * table (literals "without indexing", or "never indexed" for fields listed as `sensitive`,
 * so intermediaries must not index them either, RFC 7541 §7.1.3), names taken from the
 * static table when there, full static entries sent as indexes, no Huffman (cheaper to make;
 * APNs requests are small).
 *
 * `tableSizeUpdate`, when given, starts the block with a dynamic table size update (§6.3).
 * We never index, so our table size is irrelevant to what we send; but after the peer lowers
 * SETTINGS_HEADER_TABLE_SIZE, some decoders (nghttp2) require the next block to acknowledge
 * it with an update. The caller passes the new size once, with the first block after that
 * SETTINGS; 0 is always acceptable since we use no table.
 *
 * Returns a new array (the caller's to keep). {@link encodeHeaderBlockInto} writes into the
 * caller's buffer instead, which saves the allocation: most of the cost of a small block
 * (an APNs request: 1.5 µs into a buffer, 3.5-4.5 µs with the new array; bench/hpack_codec.ts).
 */
export function encodeHeaderBlock(
  fields: readonly HeaderField[],
  sensitive?: ReadonlySet<string>,
  tableSizeUpdate?: number,
): Uint8Array {
  const bound = headerBlockBound(fields);
  if (encodeBuffer.length < bound) {
    encodeBuffer = new Uint8Array(Math.max(bound, 2 * encodeBuffer.length));
  }
  const end = encodeHeaderBlockInto(encodeBuffer, 0, fields, sensitive, tableSizeUpdate);
  return encodeBuffer.slice(0, end);
}

/**
 * The most octets {@link encodeHeaderBlockInto} can write for `fields`: per field 6 octets
 * of representation and index, two 5-octet length prefixes, and UTF-8 at most 3 octets per
 * UTF-16 unit; 6 for a size update.
 */
export function headerBlockBound(fields: readonly HeaderField[]): number {
  let bound = 6;
  for (let i = 0; i < fields.length; i++) {
    bound += 16 + 3 * (fields[i][0].length + fields[i][1].length);
  }
  return bound;
}

/**
 * {@link encodeHeaderBlock}, written into `out` from offset `at` (e.g. after the frame
 * header in a frame buffer). Returns the offset after the block. Throws RangeError, having
 * written nothing, unless `out` has {@link headerBlockBound} octets from `at` and
 * `tableSizeUpdate` is absent or an integer in [0, 2^31 - 1].
 */
export function encodeHeaderBlockInto(
  out: Uint8Array,
  at: number,
  fields: readonly HeaderField[],
  sensitive?: ReadonlySet<string>,
  tableSizeUpdate?: number,
): number {
  if (out.length - at < headerBlockBound(fields)) {
    throw new RangeError(`header block may need ${headerBlockBound(fields)} octets`);
  }
  if (
    tableSizeUpdate !== undefined &&
    !(Number.isInteger(tableSizeUpdate) && tableSizeUpdate >= 0 && tableSizeUpdate <= MAX_INTEGER)
  ) {
    throw new RangeError(`table size update ${tableSizeUpdate} is not a size`);
  }
  if (tableSizeUpdate !== undefined) at = writeInteger(out, at, SIZE_UPDATE, 5, tableSizeUpdate);
  for (let i = 0; i < fields.length; i++) {
    const name = fields[i][0];
    const value = fields[i][1];
    const known = STATIC_BY_NAME.get(name);
    const secret = sensitive !== undefined && sensitive.has(name);
    if (known !== undefined && !secret) {
      const index = known.byValue.get(value);
      if (index !== undefined) {
        at = writeInteger(out, at, INDEXED, 7, index);
        continue;
      }
    }
    const kind = secret ? NEVER_INDEXED : WITHOUT_INDEXING;
    if (known !== undefined) {
      at = writeInteger(out, at, kind, 4, known.index);
    } else {
      out[at++] = kind;
      at = writeString(out, at, name);
    }
    at = writeString(out, at, value);
  }
  return at;
}

/** Writes `value` with an N-bit prefix after `flags` (§5.1); returns the new offset. */
function writeInteger(
  out: Uint8Array,
  at: number,
  flags: number,
  bits: number,
  value: number,
): number {
  const max = (1 << bits) - 1;
  if (value < max) {
    out[at++] = flags | value;
    return at;
  }
  out[at++] = flags | max;
  value -= max;
  while (value >= 128) {
    out[at++] = (value % 128) | 128;
    value = Math.floor(value / 128);
  }
  out[at++] = value;
  return at;
}

/** Octets an integer of `value` takes after an N-bit prefix's first byte. */
function integerLength(value: number, bits: number): number {
  const max = (1 << bits) - 1;
  if (value < max) return 1;
  let length = 2;
  for (value -= max; value >= 128; value = Math.floor(value / 128)) length++;
  return length;
}

/** Strings shorter than this are copied char by char; longer ones by TextEncoder. */
const SHORT_STRING = 32;

/** Writes a string literal without Huffman (§5.2); returns the new offset. */
function writeString(out: Uint8Array, at: number, text: string): number {
  const length = text.length;
  if (length < SHORT_STRING) {
    // Most fields of a request: a call into TextEncoder costs more than copying them. While
    // ASCII, octets = chars and the 1-octet length prefix is known.
    let i = 0;
    for (; i < length; i++) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) break;
      out[at + 1 + i] = code;
    }
    if (i === length) {
      out[at] = length;
      return at + 1 + length;
    }
  }
  // UTF-8 of a length known only after encoding: reserve room for the largest length prefix,
  // encode, then close the gap if the prefix came out shorter.
  const reserved = integerLength(3 * length, 7);
  const written = utf8.encodeInto(text, out.subarray(at + reserved)).written;
  const needed = integerLength(written, 7);
  if (needed < reserved) out.copyWithin(at + needed, at + reserved, at + reserved + written);
  writeInteger(out, at, 0, 7, written);
  return at + needed + written;
}

/** Options of {@link HpackDecoder}. */
export interface HpackDecoderOptions {
  /** What we announced as SETTINGS_HEADER_TABLE_SIZE: the largest table the peer may use (default 4096). */
  readonly maxTableSize?: number;
  /** Bound on a decoded header list, RFC 7540 §6.5.2 size (sum of name + value + 32), default 16384. */
  readonly maxHeaderListSize?: number;
}

/** Largest integer accepted (2^31 - 1): more is an attack or garbage, never a real size. */
const MAX_INTEGER = 0x7fff_ffff;

/**
 * Decodes response header blocks: full RFC 7541 (static and dynamic table, eviction, size
 * updates, Huffman, integers). One decoder per connection, fed every header block in the
 * order received, since blocks change the dynamic table the next ones refer to.
 */
export class HpackDecoder {
  readonly #maxTableSize: number;
  readonly #maxHeaderListSize: number;
  /** The size limit the peer last set with a size update (starts at the announced one). */
  #tableLimit: number;
  /** Dynamic table as a ring: slot `#newest` holds index 62, the slot before it 63, ... */
  readonly #names: string[];
  readonly #values: string[];
  #newest = 0;
  #count = 0;
  #tableSize = 0;
  // The block being decoded and the read position in it.
  #block: Uint8Array = new Uint8Array(0);
  #at = 0;

  /**
   * `maxTableSize`: what we announced as SETTINGS_HEADER_TABLE_SIZE (default 4096);
   * `maxHeaderListSize`: bound on the decoded list (RFC 7540 §6.5.2 size = sum of
   * name + value + 32), default 16384.
   */
  constructor(options: HpackDecoderOptions = {}) {
    this.#maxTableSize = options.maxTableSize ?? 4096;
    this.#maxHeaderListSize = options.maxHeaderListSize ?? 16384;
    this.#tableLimit = this.#maxTableSize;
    // An entry takes at least 32 octets: this many slots always suffice.
    const slots = Math.floor(this.#maxTableSize / 32) + 1;
    this.#names = new Array<string>(slots).fill("");
    this.#values = new Array<string>(slots).fill("");
  }

  /** Size of the dynamic table now (§4.1), for tests and diagnostics. */
  get tableSize(): number {
    return this.#tableSize;
  }

  /**
   * Decodes one complete header block (HEADERS + CONTINUATION payloads concatenated).
   * Throws HpackError on anything malformed, including a header list over the bound; the
   * decoder must not be used after that (the connection ends).
   */
  decode(block: Uint8Array): HeaderField[] {
    this.#block = block;
    this.#at = 0;
    const fields: HeaderField[] = [];
    let listSize = 0;
    const end = block.length;
    while (this.#at < end) {
      const first = block[this.#at];
      let name: string;
      let value: string;
      if (first & INDEXED) {
        const index = this.#integer(7);
        if (index === 0) throw new HpackError("indexed field with index 0");
        name = this.#nameAt(index);
        value = index <= STATIC_COUNT ? STATIC_VALUES[index - 1] : this.#dynamicValue(index);
      } else if ((first & 0xe0) === SIZE_UPDATE) {
        if (fields.length > 0) throw new HpackError("table size update after a header field");
        const size = this.#integer(5);
        if (size > this.#maxTableSize) {
          throw new HpackError(`table size update to ${size} above ${this.#maxTableSize}`);
        }
        this.#tableLimit = size;
        this.#evictTo(size);
        continue;
      } else {
        const incremental = (first & INCREMENTAL) !== 0;
        const index = this.#integer(incremental ? 6 : 4);
        name = index === 0 ? this.#string() : this.#nameAt(index);
        value = this.#string();
        if (incremental) this.#add(name, value);
      }
      listSize += name.length + value.length + 32;
      if (listSize > this.#maxHeaderListSize) {
        throw new HpackError(`header list over ${this.#maxHeaderListSize} octets`);
      }
      fields.push([name, value]);
    }
    this.#block = EMPTY;
    return fields;
  }

  /** Reads an integer with an N-bit prefix (§5.1). */
  #integer(bits: number): number {
    const block = this.#block;
    const max = (1 << bits) - 1;
    let value = block[this.#at++] & max;
    if (value < max) return value;
    for (let shift = 0; shift <= 28; shift += 7) {
      if (this.#at >= block.length) throw new HpackError("integer runs past the block");
      const byte = block[this.#at++];
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        if (value > MAX_INTEGER) throw new HpackError("integer above 2^31 - 1");
        return value;
      }
    }
    throw new HpackError("integer longer than 5 continuation octets");
  }

  /** Reads a string literal (§5.2) as latin1. */
  #string(): string {
    const block = this.#block;
    if (this.#at >= block.length) throw new HpackError("string missing at the end of the block");
    const huffman = (block[this.#at] & 0x80) !== 0;
    const length = this.#integer(7);
    const start = this.#at;
    if (length > block.length - start) throw new HpackError("string runs past the block");
    this.#at = start + length;
    if (length === 0) return "";
    return huffman
      ? decodeHuffman(block, start, start + length)
      : latin1(block, start, start + length);
  }

  #nameAt(index: number): string {
    if (index <= STATIC_COUNT) return STATIC_NAMES[index - 1];
    return this.#names[this.#slot(index)];
  }

  #dynamicValue(index: number): string {
    return this.#values[this.#slot(index)];
  }

  /** The ring slot of dynamic index `index` (> 61), or HpackError if past the table. */
  #slot(index: number): number {
    const age = index - STATIC_COUNT - 1;
    if (age >= this.#count) throw new HpackError(`index ${index} past the tables`);
    const slots = this.#names.length;
    return (this.#newest - age + slots) % slots;
  }

  /** Adds an entry (§4.4): evicts the oldest to make room; one too big empties the table. */
  #add(name: string, value: string): void {
    const size = name.length + value.length + 32;
    if (size > this.#tableLimit) {
      this.#evictTo(0);
      return;
    }
    this.#evictTo(this.#tableLimit - size);
    const slots = this.#names.length;
    this.#newest = (this.#newest + 1) % slots;
    this.#names[this.#newest] = name;
    this.#values[this.#newest] = value;
    this.#count++;
    this.#tableSize += size;
  }

  /** Evicts the oldest entries until the table takes at most `limit` octets. */
  #evictTo(limit: number): void {
    const slots = this.#names.length;
    while (this.#tableSize > limit) {
      const oldest = (this.#newest - this.#count + 1 + slots) % slots;
      this.#tableSize -= this.#names[oldest].length + this.#values[oldest].length + 32;
      this.#names[oldest] = "";
      this.#values[oldest] = "";
      this.#count--;
    }
  }
}

const EMPTY = new Uint8Array(0);
