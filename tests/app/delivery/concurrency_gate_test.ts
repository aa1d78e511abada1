import assert from "node:assert/strict";
import {
  ConcurrencyGate,
  QueueFullError,
  QueueWaitError,
} from "../../../app/delivery/concurrency_gate.ts";

Deno.test("gate: at most maxInFlight run at once, the rest queue in order", async () => {
  const gate = new ConcurrencyGate(2, 10);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  await Promise.all(Array.from({ length: 8 }, (_, i) =>
    gate.run(async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      order.push(i);
      running--;
    })));
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(gate.inFlight, 0);
  assert.equal(gate.queued, 0);
});

Deno.test("gate: a full queue refuses at once; failures free their slot", async () => {
  const gate = new ConcurrencyGate(1, 1);
  const release = Promise.withResolvers<void>();
  const first = gate.run(() => release.promise);
  const second = gate.run(() => Promise.reject(new Error("boom")));
  await assert.rejects(gate.run(() => Promise.resolve()), QueueFullError);
  release.resolve();
  await first;
  await assert.rejects(second, /boom/);
  assert.equal(await gate.run(() => Promise.resolve(7)), 7);
  assert.equal(gate.inFlight, 0);
});

const key = (channel: string, host = "h") => ({ host, channel });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("gate: one channel, or one host, cannot take every slot", async () => {
  const gate = new ConcurrencyGate(4, 100, { maxPerChannel: 1, maxPerHost: 2 });
  const hold = Promise.withResolvers<void>();
  const slow = Array.from({ length: 5 }, () => gate.run(() => hold.promise, key("slow")));
  // The slow channel has one slot; its host a second one for another channel.
  const other = gate.run(() => hold.promise, key("other"));
  assert.equal(gate.inFlight, 2);
  // A third channel of the same host waits; one of another host runs.
  let sameHostRan = false;
  const sameHost = gate.run(() => Promise.resolve(sameHostRan = true), key("third"));
  assert.equal(await gate.run(() => Promise.resolve("fast"), key("x", "elsewhere")), "fast");
  assert.equal(sameHostRan, false);
  assert.equal(gate.queued, 5);
  hold.resolve();
  await Promise.all([...slow, other, sameHost]);
  assert.ok(sameHostRan);
  assert.equal(gate.inFlight, 0);
  assert.equal(gate.queued, 0);
});

Deno.test("gate: a task that waits longer than maxWaitMs is refused; the others go on", async () => {
  const gate = new ConcurrencyGate(1, 100, { maxWaitMs: 50 });
  const hold = Promise.withResolvers<void>();
  const first = gate.run(() => hold.promise, key("a"));
  const started = performance.now();
  await assert.rejects(gate.run(() => Promise.resolve(), key("b")), QueueWaitError);
  assert.ok(performance.now() - started >= 40);
  assert.equal(gate.queued, 0);
  hold.resolve();
  await first;
  assert.equal(await gate.run(() => Promise.resolve(3), key("b")), 3);
});

Deno.test("gate: waiters parked behind a channel go in order once it frees, expired ones skipped", async () => {
  const gate = new ConcurrencyGate(8, 100, { maxPerChannel: 1, maxWaitMs: 100 });
  const order: number[] = [];
  const hold = Promise.withResolvers<void>();
  const first = gate.run(() => hold.promise, key("c"));
  const expired = gate.run(() => Promise.resolve(order.push(-1)), key("c"));
  await assert.rejects(expired, QueueWaitError);
  const later = [1, 2, 3].map((i) =>
    gate.run(async () => {
      order.push(i);
      await sleep(1);
    }, key("c"))
  );
  hold.resolve();
  await Promise.all([first, ...later]);
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(gate.inFlight, 0);
});

Deno.test("gate: waiters that gave up while every slot was held do not pile up", async () => {
  const gate = new ConcurrencyGate(1, 100, { maxWaitMs: 20 });
  const hold = Promise.withResolvers<void>();
  const first = gate.run(() => hold.promise);
  for (let round = 0; round < 5; round++) {
    const waiting = Array.from({ length: 100 }, () => gate.run(() => Promise.resolve()));
    for (const w of waiting) await assert.rejects(w, QueueWaitError);
  }
  // 500 gave up; at most a bounded number remain queued, none of them live.
  assert.equal(gate.queued, 0);
  hold.resolve();
  await first;
  assert.equal(await gate.run(() => Promise.resolve(1)), 1);
});
