/**
 * The HPACK Huffman code (RFC 7541 §5.2, Appendix B): its table, an encoder (for tests and
 * anyone who wants smaller blocks) and a fast decoder.
 *
 * The code is canonical: within each length, codes rise with the symbol, and each length's
 * first code follows the previous length's last. So the table is transcribed as the RFC's
 * "len" column only and the codes are derived from it; the tests compare every derived code
 * with the RFC's "code as hex" column.
 *
 * The decoder walks a state machine four bits at a time. Its states are the 256 internal
 * nodes of the code tree; for each (state, nibble) a precomputed entry gives the next state,
 * the symbol completed on the way (at most one: the shortest code has 5 bits), whether EOS
 * was met, and whether stopping there leaves valid padding (at most 7 bits, all ones).
 *
 * @module
 */

import { HpackError } from "./hpack_error.ts";

/** The EOS symbol: never valid inside a string; its prefix pads the last byte. */
export const EOS = 256;

/** Code length in bits of symbols 0-255 and EOS (256), RFC 7541 Appendix B's "len" column. */
// deno-fmt-ignore
export const HUFFMAN_CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0-15
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16-31
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // ' ' - '/'
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // '0' - '?'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // '@' - 'O'
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 'P' - '_'
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // '`' - 'o'
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 'p' - 127
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
  30, // EOS
];

/** The code of each symbol (right-aligned in `HUFFMAN_CODE_LENGTHS[symbol]` bits). */
export const HUFFMAN_CODES: Uint32Array = canonicalCodes(HUFFMAN_CODE_LENGTHS);

function canonicalCodes(lengths: readonly number[]): Uint32Array {
  const codes = new Uint32Array(lengths.length);
  const symbols = lengths.map((_, symbol) => symbol)
    .sort((a, b) => lengths[a] - lengths[b] || a - b);
  let code = 0;
  let length = lengths[symbols[0]];
  for (const symbol of symbols) {
    code *= 2 ** (lengths[symbol] - length);
    length = lengths[symbol];
    codes[symbol] = code;
    code++;
  }
  return codes;
}

// Transition entries: bits 0-7 next state, 8-15 symbol, 16 symbol emitted, 17 EOS met
// (error), 18 the next state is valid padding to stop at.
const EMITS = 1 << 16;
const FAILS = 1 << 17;
const ACCEPTS = 1 << 18;

const TRANSITIONS: Uint32Array = buildTransitions();

function buildTransitions(): Uint32Array {
  // The code tree: node 0 the root; children[2n + bit] is an internal node (>= 0) or a leaf
  // (-1 - symbol).
  const children: number[] = [0, 0];
  const allOnes: boolean[] = [true]; // the node's path from the root is all 1 bits
  const depth: number[] = [0];
  let nodes = 1;
  for (let symbol = 0; symbol <= EOS; symbol++) {
    const length = HUFFMAN_CODE_LENGTHS[symbol];
    let node = 0;
    for (let i = length - 1; i > 0; i--) {
      const bit = (HUFFMAN_CODES[symbol] >>> i) & 1;
      if (children[2 * node + bit] === 0) {
        children[2 * node + bit] = nodes;
        children.push(0, 0);
        allOnes.push(allOnes[node] && bit === 1);
        depth.push(depth[node] + 1);
        nodes++;
      }
      node = children[2 * node + bit];
    }
    children[2 * node + (HUFFMAN_CODES[symbol] & 1)] = -1 - symbol;
  }
  const table = new Uint32Array(nodes * 16);
  for (let state = 0; state < nodes; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let i = 3; i >= 0; i--) {
        const child = children[2 * node + ((nibble >>> i) & 1)];
        if (child >= 0) {
          node = child;
          continue;
        }
        const symbol = -1 - child;
        if (symbol === EOS) entry |= FAILS;
        else entry |= EMITS | (symbol << 8);
        node = 0;
      }
      if (allOnes[node] && depth[node] <= 7) entry |= ACCEPTS;
      table[state * 16 + nibble] = entry | node;
    }
  }
  return table;
}

let scratch = new Uint8Array(256);

/**
 * Decodes the Huffman-coded octets `src[start..end)` as a latin1 string (one char per octet).
 * Throws HpackError on EOS inside the string or padding that is longer than 7 bits or not
 * all ones (RFC 7541 §5.2).
 */
export function decodeHuffman(src: Uint8Array, start: number, end: number): string {
  const most = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < most) scratch = new Uint8Array(Math.max(most, scratch.length * 2));
  const out = scratch;
  let length = 0;
  let state = 0;
  let entry = ACCEPTS;
  for (let i = start; i < end; i++) {
    const byte = src[i];
    entry = TRANSITIONS[(state << 4) | (byte >>> 4)];
    if (entry & EMITS) out[length++] = (entry >>> 8) & 0xff;
    const low = TRANSITIONS[((entry & 0xff) << 4) | (byte & 0xf)];
    if (((entry | low) & FAILS) !== 0) throw new HpackError("Huffman string holds EOS");
    entry = low;
    if (entry & EMITS) out[length++] = (entry >>> 8) & 0xff;
    state = entry & 0xff;
  }
  if ((entry & ACCEPTS) === 0) throw new HpackError("Huffman string ends with bad padding");
  return latin1(out, 0, length);
}

/** The Huffman coding of `bytes`, padded with the most significant bits of EOS. */
export function encodeHuffman(bytes: Uint8Array): Uint8Array {
  let bits = 0;
  for (const byte of bytes) bits += HUFFMAN_CODE_LENGTHS[byte];
  const out = new Uint8Array(Math.ceil(bits / 8));
  let pending = 0; // bits not yet written, right-aligned in `pendingBits` bits
  let pendingBits = 0;
  let at = 0;
  for (const byte of bytes) {
    const length = HUFFMAN_CODE_LENGTHS[byte];
    const code = HUFFMAN_CODES[byte];
    // Codes have up to 30 bits: feed them in two halves so `pending` stays within 32 bits.
    for (
      const [part, partBits] of length > 16
        ? [[code >>> 16, length - 16], [code & 0xffff, 16]]
        : [[code, length]]
    ) {
      pending = ((pending << partBits) | part) >>> 0;
      pendingBits += partBits;
      while (pendingBits >= 8) {
        pendingBits -= 8;
        out[at++] = (pending >>> pendingBits) & 0xff;
      }
      pending &= (1 << pendingBits) - 1;
    }
  }
  if (pendingBits > 0) out[at] = ((pending << (8 - pendingBits)) | (0xff >>> pendingBits)) & 0xff;
  return out;
}

/** The octets `bytes[start..end)` as a string of one char per octet (latin1). */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= 4096) {
    // deno-lint-ignore no-explicit-any
    return String.fromCharCode.apply(null, bytes.subarray(start, end) as any);
  }
  let text = "";
  for (let at = start; at < end; at += 4096) text += latin1(bytes, at, Math.min(end, at + 4096));
  return text;
}
