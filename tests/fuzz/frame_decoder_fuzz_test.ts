/**
 * Property tests of the NUL framing: whatever bytes arrive, split however TCP likes, the
 * decoder yields exactly the frames of the model (the stream split on NUL), holds at most
 * the limit, refuses an oversize frame as soon as its byte number limit+1 arrives, and
 * throws nothing but `FrameTooLargeError`.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { FrameDecoder, FrameTooLargeError } from "../../adapters/device/frame_decoder.ts";
import { check } from "./fuzz_params.ts";

/** What the model says a stream must give. */
interface Expected {
  /** The complete frames, in order. */
  readonly frames: Uint8Array[];
  /** Offset of the frame's byte that exceeds the limit (the first such frame), if any. */
  readonly overflowAt: number | null;
  /** The bytes after the last NUL. */
  readonly tail: number;
}

/** The model: split the stream on NUL, find the first piece longer than the limit. */
function model(stream: Uint8Array, limit: number): Expected {
  const frames: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= stream.length; i++) {
    const end = i === stream.length;
    if (!end && stream[i] !== 0) continue;
    if (i - start > limit) return { frames, overflowAt: start + limit, tail: 0 };
    if (!end) frames.push(stream.slice(start, i));
    else return { frames, overflowAt: null, tail: i - start };
    start = i + 1;
  }
  throw new Error("unreachable");
}

/** Cuts `stream` at `cuts` (any numbers: taken modulo the length, sorted). */
function split(stream: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let previous = 0;
  for (const point of [...points, stream.length]) {
    chunks.push(stream.slice(previous, point));
    previous = point;
  }
  return chunks;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return all;
}

/**
 * Feeds `chunks` to a decoder of `limit` and checks it against the model: the same frames,
 * the overflow refused in the chunk that carries the offending byte, never more than the
 * limit pending. Each chunk is overwritten after `push`, as a reused read buffer would be.
 */
function feedAndCompare(chunks: Uint8Array[], limit: number): void {
  const stream = concat(chunks);
  const expected = model(stream, limit);
  const decoder = new FrameDecoder(limit);
  const got: Uint8Array[] = [];
  let offset = 0;
  for (const chunk of chunks) {
    const chunkEnd = offset + chunk.length;
    const overflowsHere = expected.overflowAt !== null && expected.overflowAt < chunkEnd;
    let frames: Uint8Array[];
    try {
      frames = decoder.push(chunk);
    } catch (error) {
      assert.ok(error instanceof FrameTooLargeError, `unexpected ${error}`);
      assert.equal(error.limit, limit);
      assert.ok(
        overflowsHere,
        `refused at bytes ${offset}..${chunkEnd}, overflow at ${expected.overflowAt}`,
      );
      assert.ok(decoder.pendingBytes <= limit, `${decoder.pendingBytes} bytes pending`);
      // The frames completed before this chunk are exactly the model's first ones.
      const before = model(stream.subarray(0, offset), limit).frames;
      assert.deepEqual(got, before.slice(0, got.length));
      assert.equal(got.length, before.length);
      return;
    }
    assert.ok(!overflowsHere, `byte ${expected.overflowAt} overflows but was accepted`);
    assert.ok(decoder.pendingBytes <= limit, `${decoder.pendingBytes} bytes pending`);
    got.push(...frames);
    chunk.fill(0x55); // The decoder must have copied what it keeps.
    offset = chunkEnd;
  }
  assert.equal(expected.overflowAt, null);
  assert.deepEqual(got, expected.frames);
  assert.equal(decoder.pendingBytes, expected.tail);
}

/** A frame body: any bytes but NUL, sometimes longer than the limit. */
const frameBody = (limit: number) =>
  fc.uint8Array({ maxLength: limit + 4 }).map((body) => body.map((b) => b === 0 ? 1 : b));

Deno.test("fuzz FrameDecoder: frames split anywhere come out exactly as sent", () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 48 }).chain((limit) =>
        fc.tuple(
          fc.constant(limit),
          fc.array(frameBody(limit), { maxLength: 12 }),
          frameBody(limit),
          fc.array(fc.nat(), { maxLength: 20 }),
        )
      ),
      ([limit, frames, tail, cuts]) => {
        const stream = concat([...frames.flatMap((f) => [f, new Uint8Array([0])]), tail]);
        feedAndCompare(split(stream, cuts), limit);
      },
    ),
    400,
  );
});

Deno.test("fuzz FrameDecoder: arbitrary byte chunks match the model", () => {
  check(
    fc.property(
      fc.integer({ min: 1, max: 64 }),
      // Mostly small bytes, so NULs are frequent; sometimes long runs without any.
      fc.array(
        fc.oneof(
          fc.uint8Array({ maxLength: 40 }),
          fc.uint8Array({ minLength: 1, maxLength: 40, min: 0, max: 3 }),
          fc.uint8Array({ minLength: 1, maxLength: 120, min: 1 }),
        ),
        { maxLength: 16 },
      ),
      (limit, chunks) => feedAndCompare(chunks, limit),
    ),
    400,
  );
});

Deno.test("fuzz FrameDecoder: the server's limit and read size, with large random streams", () => {
  const limit = 64 * 1024;
  check(
    fc.property(
      fc.array(fc.integer({ min: 0, max: limit + 2048 }), { minLength: 1, maxLength: 4 }),
      fc.array(fc.integer({ min: 1, max: 16 * 1024 }), { minLength: 1, maxLength: 30 }),
      (frameSizes, readSizes) => {
        const frames = frameSizes.map((n) => new Uint8Array(n).fill(0x7b));
        const stream = concat(frames.flatMap((f) => [f, new Uint8Array([0])]));
        const chunks: Uint8Array[] = [];
        for (let offset = 0, i = 0; offset < stream.length; i++) {
          const size = readSizes[i % readSizes.length];
          chunks.push(stream.slice(offset, offset + size));
          offset += size;
        }
        feedAndCompare(chunks, limit);
      },
    ),
    40,
  );
});
