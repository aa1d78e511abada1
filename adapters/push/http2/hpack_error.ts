/**
 * The error of a malformed HPACK header block (RFC 7541). Its own module so the Huffman
 * decoder and the header block codec can both throw it.
 *
 * @module
 */

/**
 * A malformed header block: the connection must end with COMPRESSION_ERROR (RFC 7540 §4.3),
 * since the peer's and our dynamic tables can no longer be trusted to agree.
 */
export class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HpackError";
  }
}
