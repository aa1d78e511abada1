import assert from "node:assert/strict";
import { PushCoalescer } from "../../../app/delivery/push_coalescer.ts";
import type { WnsOutcome } from "../../../adapters/push/wns/wns_sender.ts";

const DELIVERED: WnsOutcome = { kind: "delivered", status: 200, wnsStatus: "received" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recorder() {
  const sent: string[] = [];
  const send = (payload: string) => {
    sent.push(payload);
    return Promise.resolve(DELIVERED);
  };
  return { sent, send };
}

Deno.test("coalescer: a lone push goes out at once", async () => {
  const coalescer = new PushCoalescer(100);
  const { sent, send } = recorder();
  const answer = coalescer.submit("k", "p1", send);
  // Sent before submit returned: no timer, however busy the machine, stands in between.
  assert.deepEqual(sent, ["p1"]);
  assert.equal((await answer).kind, "delivered");
  await coalescer.flush();
});

Deno.test("coalescer: a burst becomes the first push and one with the latest payload", async () => {
  const coalescer = new PushCoalescer(80);
  const { sent, send } = recorder();
  const outcomes = await Promise.all(
    ["p1", "p2", "p3", "p4", "p5"].map((p) => coalescer.submit("k", p, send)),
  );
  assert.deepEqual(sent, ["p1", "p5"]);
  assert.ok(outcomes.every((o) => o.kind === "delivered"), "a publish was left unanswered");
  await sleep(200);
  assert.equal(coalescer.openBursts, 0, "a burst outlived its window");
});

Deno.test("coalescer: keys are independent and 0 turns it off", async () => {
  const coalescer = new PushCoalescer(50);
  const { sent, send } = recorder();
  await Promise.all([coalescer.submit("a", "a1", send), coalescer.submit("b", "b1", send)]);
  assert.deepEqual(sent.toSorted(), ["a1", "b1"]);
  await coalescer.flush();

  const off = new PushCoalescer(0);
  const second = recorder();
  await Promise.all(["x", "y", "z"].map((p) => off.submit("k", p, second.send)));
  assert.deepEqual(second.sent, ["x", "y", "z"]);
});

Deno.test("coalescer: the trailing push waits for the leading one, keeping order", async () => {
  const coalescer = new PushCoalescer(10);
  const order: string[] = [];
  const send = async (payload: string) => {
    order.push(`start ${payload}`);
    if (payload === "p1") await sleep(60);
    order.push(`end ${payload}`);
    return DELIVERED;
  };
  await Promise.all([coalescer.submit("k", "p1", send), coalescer.submit("k", "p2", send)]);
  assert.deepEqual(order, ["start p1", "end p1", "start p2", "end p2"]);
  await coalescer.flush();
});

Deno.test("coalescer: flush sends what waits at once (shutdown)", async () => {
  const coalescer = new PushCoalescer(10_000);
  const { sent, send } = recorder();
  const first = coalescer.submit("k", "p1", send);
  const second = coalescer.submit("k", "p2", send);
  await coalescer.flush();
  assert.deepEqual(sent, ["p1", "p2"]);
  assert.equal((await first).kind, "delivered");
  assert.equal((await second).kind, "delivered");
  assert.equal(coalescer.openBursts, 0);
});

Deno.test("coalescer: a send that throws is a failed outcome for every publish it carried; nothing hangs or crashes", async () => {
  // Windows end when the test says so.
  const windows: (() => void)[] = [];
  const coalescer = new PushCoalescer(250, {
    set: (callback) => windows.push(callback),
    clear: () => {},
  });
  const send = (payload: string): Promise<WnsOutcome> =>
    payload === "p1" ? Promise.resolve(DELIVERED) : Promise.reject(new Error("a bug"));
  const first = coalescer.submit("k", "p1", send);
  const merged = [coalescer.submit("k", "p2", send), coalescer.submit("k", "p3", send)];
  assert.equal((await first).kind, "delivered");
  windows.shift()!();
  // Before: the merged publishes were never answered, and the window's end rejected unhandled.
  for (const outcome of await Promise.all(merged)) {
    assert.equal(outcome.kind, "failed");
    assert.equal(outcome.kind === "failed" && outcome.retryable, true);
  }
  // A throwing leading send too.
  windows.shift()!();
  assert.equal(coalescer.openBursts, 0);
  assert.equal((await coalescer.submit("k", "p2", send)).kind, "failed");
  await coalescer.flush();
});

Deno.test("coalescer: a key's own window (one per app) overrides the default", async () => {
  const coalescer = new PushCoalescer(0);
  const { sent, send } = recorder();
  // Window 0 (the default): every push on its own.
  await Promise.all(["a1", "a2", "a3"].map((p) => coalescer.submit("a", p, send)));
  assert.deepEqual(sent, ["a1", "a2", "a3"]);
  // This key's app merges within 50 ms.
  await Promise.all(["b1", "b2", "b3"].map((p) => coalescer.submit("b", p, send, 50)));
  assert.deepEqual(sent.slice(3), ["b1", "b3"]);
  await coalescer.flush();
});
