import assert from "node:assert/strict";
import { KeyedRateLimiter, TokenBucket } from "../../app/rate_limiter.ts";
import { FakeClock } from "../support/fakes.ts";

const takeAll = (take: () => boolean, tries: number) =>
  Array.from({ length: tries }, take).filter(Boolean).length;

Deno.test("TokenBucket: a burst goes through at once, then the sustained rate", () => {
  const bucket = new TokenBucket({ burst: 5, perSecond: 2 }, 0);
  assert.equal(takeAll(() => bucket.take(0), 10), 5);
  assert.equal(bucket.take(499), false, "not a whole token yet");
  assert.equal(bucket.take(500), true);
  assert.equal(bucket.take(500), false);
  // Idle for a long time: back to a full burst, never more.
  assert.equal(takeAll(() => bucket.take(60_000), 10), 5);
  assert.equal(bucket.isFull(60_000), false);
  assert.equal(bucket.isFull(62_500), true);
});

Deno.test("TokenBucket: a clock going backwards neither adds nor takes tokens", () => {
  const bucket = new TokenBucket({ burst: 2, perSecond: 1 }, 10_000);
  assert.equal(takeAll(() => bucket.take(10_000), 3), 2);
  assert.equal(bucket.take(5_000), false);
  assert.equal(bucket.take(10_999), false);
  assert.equal(bucket.take(11_000), true);
});

Deno.test("TokenBucket: a rate without tokens or refill is refused at construction", () => {
  assert.throws(() => new TokenBucket({ burst: 0, perSecond: 1 }, 0), RangeError);
  assert.throws(() => new TokenBucket({ burst: 1, perSecond: 0 }, 0), RangeError);
  assert.throws(() => new TokenBucket({ burst: NaN, perSecond: 1 }, 0), RangeError);
});

Deno.test("KeyedRateLimiter: keys have buckets of their own", () => {
  const clock = new FakeClock();
  const limiter = new KeyedRateLimiter({ rate: { burst: 3, perSecond: 1 }, maxKeys: 10, clock });
  assert.equal(takeAll(() => limiter.take("a"), 5), 3);
  assert.equal(takeAll(() => limiter.take("b"), 5), 3);
  clock.advance(1000);
  assert.equal(takeAll(() => limiter.take("a"), 5), 1);
});

Deno.test("KeyedRateLimiter: a token given back can be taken again, never above the burst", () => {
  const clock = new FakeClock();
  const limiter = new KeyedRateLimiter({
    rate: { burst: 2, perSecond: 0.001 },
    maxKeys: 10,
    clock,
  });
  assert.equal(takeAll(() => limiter.take("a"), 3), 2);
  limiter.giveBack("a");
  assert.equal(takeAll(() => limiter.take("a"), 3), 1, "the one given back");
  limiter.giveBack("a", 5);
  assert.equal(takeAll(() => limiter.take("a"), 5), 2, "a full bucket holds the burst only");
  limiter.giveBack("unknown"); // No bucket: nothing to give back to, and no bucket made.
  assert.equal(limiter.size, 1);
});

Deno.test("KeyedRateLimiter: the map stays bounded; the key used longest ago goes first", () => {
  const clock = new FakeClock();
  const limiter = new KeyedRateLimiter({ rate: { burst: 1, perSecond: 0.001 }, maxKeys: 3, clock });
  for (const key of ["a", "b", "c"]) assert.equal(limiter.take(key), true);
  // "a" used again: now "b" is the oldest.
  assert.equal(limiter.take("a"), false);
  assert.equal(limiter.take("d"), true);
  assert.equal(limiter.size, 3);
  assert.equal(limiter.take("a"), false, "a kept its empty bucket");
  assert.equal(limiter.take("b"), true, "b was dropped and starts full");
  for (let i = 0; i < 10_000; i++) limiter.take(`flood-${i}`);
  assert.equal(limiter.size, 3);
});

Deno.test("KeyedRateLimiter: bad settings fail at construction", () => {
  const clock = new FakeClock();
  assert.throws(() =>
    new KeyedRateLimiter({ rate: { burst: 1, perSecond: 1 }, maxKeys: 0, clock })
  );
  assert.throws(() =>
    new KeyedRateLimiter({ rate: { burst: 0, perSecond: 1 }, maxKeys: 9, clock })
  );
});
