import assert from "node:assert/strict";
import { ConcurrencyGate, QueueFullError } from "../../../adapters/wns/concurrency_gate.ts";

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
