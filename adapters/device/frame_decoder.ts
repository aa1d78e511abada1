/**
 * NUL-terminated framing of the device protocol: every message, both ways, is UTF-8 JSON
 * followed by one `\0`. TCP may split a frame across reads or put several in one, so bytes
 * are buffered until a NUL arrives.
 *
 * @module
 */

/** Thrown when a frame grows past the limit without its NUL. */
export class FrameTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`frame larger than ${limit} bytes`);
    this.name = "FrameTooLargeError";
  }
}

/** Splits a byte stream into frames (without their NUL). */
export class FrameDecoder {
  #chunks: Uint8Array[] = [];
  #buffered = 0;

  /** @param maxFrameBytes the largest frame accepted, NUL excluded. */
  constructor(readonly maxFrameBytes: number) {}

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.#buffered;
  }

  /**
   * Feeds received bytes; returns the frames they complete, in order. Throws
   * `FrameTooLargeError` as soon as a frame exceeds the limit, before buffering or copying
   * any of it: never more than the limit is held. Frames completed by the same bytes are
   * not returned then, and the decoder is not meant to be used again.
   */
  push(bytes: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let start = 0;
    for (let nul = bytes.indexOf(0, start); nul !== -1; nul = bytes.indexOf(0, start)) {
      this.#checkSize(nul - start);
      frames.push(this.#take(bytes.subarray(start, nul)));
      start = nul + 1;
    }
    if (start < bytes.length) {
      this.#checkSize(bytes.length - start);
      this.#chunks.push(bytes.slice(start));
      this.#buffered += bytes.length - start;
    }
    return frames;
  }

  /** Throws if `more` bytes would make the current frame exceed the limit. */
  #checkSize(more: number): void {
    if (this.#buffered + more > this.maxFrameBytes) {
      throw new FrameTooLargeError(this.maxFrameBytes);
    }
  }

  /** Joins what was buffered with the frame's last piece, and empties the buffer. */
  #take(tail: Uint8Array): Uint8Array {
    if (this.#chunks.length === 0) return tail.slice();
    const frame = new Uint8Array(this.#buffered + tail.length);
    let offset = 0;
    for (const chunk of this.#chunks) {
      frame.set(chunk, offset);
      offset += chunk.length;
    }
    frame.set(tail, offset);
    this.#chunks = [];
    this.#buffered = 0;
    return frame;
  }
}

/** Encodes one outgoing message as a frame. */
export function encodeFrame(json: string): Uint8Array {
  const body = new TextEncoder().encode(json);
  const frame = new Uint8Array(body.length + 1);
  frame.set(body);
  return frame;
}
