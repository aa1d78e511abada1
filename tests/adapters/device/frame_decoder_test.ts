import assert from "node:assert/strict";
import {
  encodeFrame,
  FrameDecoder,
  FrameTooLargeError,
} from "../../../adapters/device/frame_decoder.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (frame: Uint8Array) => new TextDecoder().decode(frame);

Deno.test("encodeFrame: UTF-8 JSON followed by one NUL", () => {
  assert.deepEqual(encodeFrame('{"a":"é"}'), new Uint8Array([...bytes('{"a":"é"}'), 0]));
  assert.deepEqual(encodeFrame(""), new Uint8Array([0]));
});

Deno.test("FrameDecoder: several frames in one chunk, in order", () => {
  const decoder = new FrameDecoder(1024);
  const frames = decoder.push(bytes('{"n":1}\0{"n":2}\0{"n":3}\0{"n":'));
  assert.deepEqual(frames.map(text), ['{"n":1}', '{"n":2}', '{"n":3}']);
  assert.equal(decoder.pendingBytes, 5);
  assert.deepEqual(decoder.push(bytes("4}\0")).map(text), ['{"n":4}']);
  assert.equal(decoder.pendingBytes, 0);
});

Deno.test("FrameDecoder: one frame split byte by byte", () => {
  const decoder = new FrameDecoder(1024);
  const message = '{"action":"set_channel_uri","x":"ünïcødé ✓"}';
  const all = encodeFrame(message);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < all.length; i++) {
    const got = decoder.push(all.subarray(i, i + 1));
    if (i < all.length - 1) assert.deepEqual(got, [], `no frame before the NUL (byte ${i})`);
    frames.push(...got);
  }
  assert.deepEqual(frames.map(text), [message]);
  assert.equal(decoder.pendingBytes, 0);
});

Deno.test("FrameDecoder: returned frames do not change when the input buffer is reused", () => {
  const decoder = new FrameDecoder(1024);
  const buffer = bytes("abc\0de");
  const [first] = decoder.push(buffer);
  buffer.fill(0x7a);
  assert.equal(text(first), "abc");
  buffer.set(bytes("f\0"));
  const [second] = decoder.push(buffer.subarray(0, 2));
  assert.equal(text(second), "def");
});

Deno.test("FrameDecoder: an empty frame is a frame", () => {
  const decoder = new FrameDecoder(16);
  assert.deepEqual(decoder.push(new Uint8Array([0, 0])).map(text), ["", ""]);
  assert.equal(decoder.pendingBytes, 0);
});

Deno.test("FrameDecoder: a frame exactly at the limit is accepted", () => {
  const decoder = new FrameDecoder(8);
  assert.deepEqual(decoder.push(bytes("12345678\0")).map(text), ["12345678"]);
  decoder.push(bytes("1234"));
  assert.deepEqual(decoder.push(bytes("5678\0")).map(text), ["12345678"]);
});

Deno.test("FrameDecoder: limit exceeded without a NUL throws once the buffer is too big", () => {
  const decoder = new FrameDecoder(8);
  assert.deepEqual(decoder.push(bytes("12345")), []);
  assert.deepEqual(decoder.push(bytes("678")), []);
  assert.throws(() => decoder.push(bytes("9")), (error) => {
    assert.ok(error instanceof FrameTooLargeError);
    assert.equal(error.limit, 8);
    assert.equal(error.message, "frame larger than 8 bytes");
    return true;
  });
  const single = new FrameDecoder(8);
  assert.throws(() => single.push(bytes("123456789")), FrameTooLargeError);
});

Deno.test("FrameDecoder: limit exceeded by a frame that has its NUL throws too", () => {
  assert.throws(() => new FrameDecoder(8).push(bytes("123456789\0")), FrameTooLargeError);
  const split = new FrameDecoder(8);
  split.push(bytes("123456"));
  assert.throws(() => split.push(bytes("789\0")), FrameTooLargeError);
  // Small frames around a large one do not hide it.
  assert.throws(
    () => new FrameDecoder(8).push(bytes("ok\x00123456789\x00ok\x00")),
    FrameTooLargeError,
  );
});

Deno.test("FrameDecoder: a stream of many frames keeps nothing buffered", () => {
  const decoder = new FrameDecoder(64);
  let count = 0;
  for (let i = 0; i < 10_000; i++) count += decoder.push(bytes(`{"i":${i}}\0`)).length;
  assert.equal(count, 10_000);
  assert.equal(decoder.pendingBytes, 0);
});

Deno.test("FrameDecoder: an oversize frame is refused before it is buffered", () => {
  // Regression (found by tests/fuzz/frame_decoder_fuzz_test.ts): the bytes used to be kept,
  // limit plus a whole read, before the check threw.
  const decoder = new FrameDecoder(8);
  decoder.push(bytes("12345"));
  assert.throws(() => decoder.push(new Uint8Array(16 * 1024).fill(0x61)), FrameTooLargeError);
  assert.equal(decoder.pendingBytes, 5);
  const withNul = new FrameDecoder(8);
  withNul.push(bytes("123"));
  assert.throws(() => withNul.push(bytes("456789\0")), FrameTooLargeError);
  assert.equal(withNul.pendingBytes, 3);
});
