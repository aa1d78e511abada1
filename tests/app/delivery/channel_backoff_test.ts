import assert from "node:assert/strict";
import { ChannelBackoff } from "../../../app/delivery/channel_backoff.ts";

function setup(maxEntries = 100) {
  let now = 1_000_000;
  const clock = { now: () => now };
  const backoff = new ChannelBackoff(clock, { initialMs: 1000, maxMs: 8000, maxEntries });
  return { backoff, advance: (ms: number) => now += ms };
}

Deno.test("channel backoff: pauses double per repeat, capped, at least Retry-After", () => {
  const { backoff } = setup();
  assert.equal(backoff.blockedFor("c"), 0);
  assert.deepEqual([1, 2, 3, 4, 5].map(() => backoff.throttle("c")), [
    1000,
    2000,
    4000,
    8000,
    8000,
  ]);
  assert.equal(backoff.throttle("d", 5000), 5000);
  assert.equal(backoff.blockedFor("d"), 5000);
});

Deno.test("channel backoff: expires with time, and a delivery forgets the history", () => {
  const { backoff, advance } = setup();
  backoff.throttle("c");
  backoff.throttle("c");
  advance(1999);
  assert.equal(backoff.blockedFor("c"), 1);
  advance(1);
  assert.equal(backoff.blockedFor("c"), 0);
  backoff.clear("c");
  assert.equal(backoff.throttle("c"), 1000, "history survived a delivery");
});

Deno.test("channel backoff: memory is bounded, the oldest forgotten first", () => {
  const { backoff } = setup(3);
  for (const c of ["a", "b", "c", "d", "e"]) backoff.throttle(c);
  assert.equal(backoff.size, 3);
  assert.equal(backoff.blockedFor("a"), 0);
  assert.ok(backoff.blockedFor("e") > 0);
});
