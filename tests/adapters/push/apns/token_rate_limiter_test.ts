import assert from "node:assert/strict";
import { TokenRateLimiter } from "../../../../adapters/push/apns/token_rate_limiter.ts";

function setup(options: { burst?: number; perSecond?: number; maxTokens?: number } = {}) {
  const clock = {
    t: 1_000_000,
    now() {
      return this.t;
    },
  };
  return { clock, limiter: new TokenRateLimiter({ ...options, clock }) };
}

Deno.test("TokenRateLimiter: a burst, then one push per 20 s per token (fpush's pace)", () => {
  const { clock, limiter } = setup();
  for (let i = 0; i < 3; i++) assert.deepEqual(limiter.take("a"), { allowed: true });
  assert.deepEqual(limiter.take("a"), { allowed: false, reason: "rate", retryAfterMs: 20_000 });
  // Another token is not affected.
  assert.deepEqual(limiter.take("b"), { allowed: true });
  clock.t += 19_999;
  assert.equal(limiter.take("a").allowed, false);
  clock.t += 1;
  assert.deepEqual(limiter.take("a"), { allowed: true });
  assert.equal(limiter.take("a").allowed, false);
  assert.deepEqual(limiter.counters, {
    allowed: 5,
    droppedRate: 3,
    droppedHold: 0,
    holds: 0,
    evicted: 0,
    tracked: 2,
  });
});

Deno.test("TokenRateLimiter: a hold (APNs 429) stops the token until it ends", () => {
  const { clock, limiter } = setup();
  limiter.holdOff("a", 600_000);
  assert.deepEqual(limiter.take("a"), { allowed: false, reason: "hold", retryAfterMs: 600_000 });
  clock.t += 599_999;
  assert.deepEqual(limiter.take("a"), { allowed: false, reason: "hold", retryAfterMs: 1 });
  clock.t += 1;
  assert.deepEqual(limiter.take("a"), { allowed: true });
  assert.equal(limiter.counters.droppedHold, 2);
  assert.equal(limiter.counters.holds, 1);
});

Deno.test("TokenRateLimiter: the table is bounded; the token used longest ago goes", () => {
  const { limiter } = setup({ burst: 1, maxTokens: 3 });
  for (const token of ["a", "b", "c"]) assert.equal(limiter.take(token).allowed, true);
  assert.equal(limiter.take("a").allowed, false); // "a" is now the most recently used
  assert.equal(limiter.take("d").allowed, true); // evicts "b"
  assert.equal(limiter.counters.tracked, 3);
  assert.equal(limiter.counters.evicted, 1);
  assert.equal(limiter.take("a").allowed, false); // still remembered
  assert.equal(limiter.take("b").allowed, true); // forgotten: a fresh bucket
  for (let i = 0; i < 10_000; i++) limiter.take(`flood-${i}`);
  assert.equal(limiter.counters.tracked, 3);
});

Deno.test("TokenRateLimiter: bad settings are refused; a clock going back gives nothing", () => {
  const clock = { now: () => 0 };
  assert.throws(() => new TokenRateLimiter({ burst: 0, clock }), RangeError);
  assert.throws(() => new TokenRateLimiter({ perSecond: 0, clock }), RangeError);
  assert.throws(() => new TokenRateLimiter({ maxTokens: 0, clock }), RangeError);
  const { clock: c, limiter } = setup({ burst: 1 });
  assert.equal(limiter.take("a").allowed, true);
  c.t -= 60_000;
  assert.equal(limiter.take("a").allowed, false);
});
