import assert from "node:assert/strict";
import {
  base64Url,
  mintNode,
  mintSecret,
  NODE_BYTES,
  type RandomBytes,
  SECRET_BYTES,
} from "../../domain/minting.ts";
import { seededRandom } from "../support/fakes.ts";

const URL_SAFE = /^[A-Za-z0-9_-]+$/;
const csprng: RandomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));

/** Bits of randomness a base64url string of `chars` characters can carry. */
const bitsOf = (chars: number) => chars * 6;

Deno.test("mintNode: at least 96 random bits, URL-safe, no padding", () => {
  assert.ok(NODE_BYTES * 8 >= 96);
  const requested: number[] = [];
  const node = mintNode((n) => {
    requested.push(n);
    return csprng(n);
  });
  assert.deepEqual(requested, [NODE_BYTES]);
  assert.match(node, URL_SAFE);
  assert.ok(bitsOf(node.length) >= 96, `node ${node} too short`);
});

Deno.test("mintSecret: at least 128 random bits, URL-safe, no padding", () => {
  assert.ok(SECRET_BYTES * 8 >= 128);
  const requested: number[] = [];
  const secret = mintSecret((n) => {
    requested.push(n);
    return csprng(n);
  });
  assert.deepEqual(requested, [SECRET_BYTES]);
  assert.match(secret, URL_SAFE);
  assert.ok(bitsOf(secret.length) >= 128, `secret ${secret} too short`);
});

Deno.test("minting: bytes that need '+', '/' and '=' in standard base64 stay URL-safe", () => {
  // 0xfb 0xff 0xbf encodes to "+/+/" in standard base64; odd lengths need padding there.
  const awkward: RandomBytes = (n) => new Uint8Array(n).map((_, i) => [0xfb, 0xff, 0xbf][i % 3]);
  for (const value of [mintNode(awkward), mintSecret(awkward)]) {
    assert.match(value, URL_SAFE);
    assert.ok(value.includes("-") && value.includes("_"), value);
  }
  assert.equal(base64Url(new Uint8Array([0xfb, 0xff])), "-_8");
});

Deno.test("minting: encodes exactly the bytes it was given", () => {
  const bytes = new Uint8Array(SECRET_BYTES).map((_, i) => i * 7);
  const secret = mintSecret(() => bytes);
  const decoded = Uint8Array.fromBase64(secret, { alphabet: "base64url" });
  assert.deepEqual(decoded, bytes);
});

Deno.test("minting: deterministic with an injected random source", () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const fromA = [mintNode(a), mintSecret(a), mintNode(a)];
  const fromB = [mintNode(b), mintSecret(b), mintNode(b)];
  assert.deepEqual(fromA, fromB);
  // Successive draws differ, and another seed gives other values.
  assert.notEqual(fromA[0], fromA[2]);
  assert.notEqual(mintNode(seededRandom(43)), fromA[0]);
});

Deno.test("minting: a real random source gives distinct values", () => {
  const nodes = new Set(Array.from({ length: 200 }, () => mintNode(csprng)));
  const secrets = new Set(Array.from({ length: 200 }, () => mintSecret(csprng)));
  assert.equal(nodes.size, 200);
  assert.equal(secrets.size, 200);
});

Deno.test("minting: rejects a random source that returns too few (or too many) bytes", () => {
  const short: RandomBytes = (n) => new Uint8Array(n - 1);
  const long: RandomBytes = (n) => new Uint8Array(n + 1);
  assert.throws(() => mintNode(short), /returned 14 bytes, expected 15/);
  assert.throws(() => mintSecret(short), /returned 23 bytes, expected 24/);
  assert.throws(() => mintNode(long), /expected 15/);
  assert.throws(() => mintNode(() => new Uint8Array(0)), /returned 0 bytes/);
});
