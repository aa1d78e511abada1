import assert from "node:assert/strict";
import { DeadTokenBlocklist } from "../../../../adapters/push/apns/dead_token_blocklist.ts";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

function setup(maxEntries?: number) {
  const clock = {
    t: 1_000_000,
    now() {
      return this.t;
    },
  };
  return { clock, list: new DeadTokenBlocklist({ clock, maxEntries }) };
}

Deno.test("DeadTokenBlocklist: a dead token is refused for a day, then forgotten", () => {
  const { clock, list } = setup();
  assert.deepEqual(list.check("a"), { blocked: false });
  list.block("a", "dead");
  assert.deepEqual(list.check("a"), { blocked: true, kind: "dead", until: clock.t + DAY });
  clock.t += DAY - 1;
  // Late in the block, a lookup extends it by 10 minutes.
  assert.deepEqual(list.check("a"), { blocked: true, kind: "dead", until: clock.t + 10 * MINUTE });
  clock.t += 10 * MINUTE;
  assert.deepEqual(list.check("a"), { blocked: false });
  assert.deepEqual(list.counters, {
    blocked: 1,
    extended: 0,
    refused: 2,
    expired: 1,
    evicted: 0,
    size: 0,
  });
});

Deno.test("DeadTokenBlocklist: dead again while blocked: five days; failing: 10 then 20 min", () => {
  const { clock, list } = setup();
  list.block("a", "dead");
  clock.t += MINUTE;
  list.block("a", "dead");
  assert.deepEqual(list.check("a"), { blocked: true, kind: "dead", until: clock.t + 5 * DAY });
  list.block("b", "failing");
  assert.equal((list.check("b") as { until: number }).until, clock.t + 10 * MINUTE);
  list.block("b", "failing");
  assert.equal((list.check("b") as { until: number }).until, clock.t + 20 * MINUTE);
  // A failure never shortens or downgrades a dead block; a dead report replaces a failing one.
  list.block("a", "failing");
  assert.deepEqual(list.check("a"), { blocked: true, kind: "dead", until: clock.t + 5 * DAY });
  list.block("b", "dead");
  assert.deepEqual(list.check("b"), { blocked: true, kind: "dead", until: clock.t + DAY });
  assert.equal(list.counters.extended, 2);
});

Deno.test("DeadTokenBlocklist: bounded; expired entries go before live ones; sweep", () => {
  const { clock, list } = setup(3);
  list.block("a", "failing");
  list.block("b", "dead");
  list.block("c", "dead");
  clock.t += 10 * MINUTE; // "a" has expired
  list.block("d", "dead");
  assert.equal(list.counters.size, 3);
  assert.equal(list.counters.evicted, 0);
  assert.equal(list.check("b").blocked, true);
  list.block("e", "dead"); // full of live blocks: the oldest ("b") goes
  assert.equal(list.counters.evicted, 1);
  assert.equal(list.check("b").blocked, false);
  for (let i = 0; i < 1000; i++) list.block(`flood-${i}`, "dead");
  assert.equal(list.counters.size, 3);
  clock.t += 2 * DAY;
  assert.equal(list.sweep(), 3);
  assert.equal(list.counters.size, 0);
  list.block("x", "dead");
  assert.equal(list.unblock("x"), true);
  assert.equal(list.check("x").blocked, false);
});
