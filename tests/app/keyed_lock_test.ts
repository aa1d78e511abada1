import assert from "node:assert/strict";
import { KeyedLock } from "../../app/keyed_lock.ts";

/** A promise with its resolve function, to control when work finishes. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("KeyedLock: work for the same key runs one at a time, in call order", async () => {
  const lock = new KeyedLock();
  const events: string[] = [];
  const first = gate();
  const a = lock.run("dev", async () => {
    events.push("a start");
    await first.opened;
    events.push("a end");
    return "a";
  });
  const b = lock.run("dev", () => {
    events.push("b start");
    events.push("b end");
    return Promise.resolve("b");
  });
  const c = lock.run("dev", () => {
    events.push("c start");
    return Promise.resolve("c");
  });
  await tick();
  assert.deepEqual(events, ["a start"], "b and c wait for a");
  first.open();
  assert.deepEqual(await Promise.all([a, b, c]), ["a", "b", "c"]);
  assert.deepEqual(events, ["a start", "a end", "b start", "b end", "c start"]);
});

Deno.test("KeyedLock: different keys run concurrently", async () => {
  const lock = new KeyedLock();
  const events: string[] = [];
  const hold = gate();
  const one = lock.run("one", async () => {
    events.push("one start");
    await hold.opened;
    events.push("one end");
  });
  const two = lock.run("two", () => {
    events.push("two ran");
    return Promise.resolve();
  });
  await two;
  assert.deepEqual(events, ["one start", "two ran"], "two did not wait for one");
  hold.open();
  await one;
});

Deno.test("KeyedLock: a failing piece of work does not block the queue", async () => {
  const lock = new KeyedLock();
  const failing = lock.run("dev", () => Promise.reject(new Error("boom")));
  const throwing = lock.run("dev", () => {
    throw new Error("sync boom");
  });
  const after = lock.run("dev", () => Promise.resolve("ran"));
  await assert.rejects(failing, /boom/);
  await assert.rejects(throwing, /sync boom/);
  assert.equal(await after, "ran");
});

Deno.test("KeyedLock: keys are forgotten once their work is done", async () => {
  const lock = new KeyedLock();
  assert.equal(lock.size, 0);
  const hold = gate();
  const runs = [
    lock.run("a", () => hold.opened),
    lock.run("a", () => Promise.resolve()),
    lock.run("b", () => Promise.reject(new Error("x"))).catch(() => {}),
  ];
  assert.equal(lock.size, 2);
  hold.open();
  await Promise.all(runs);
  assert.equal(lock.size, 0);
  for (let i = 0; i < 1000; i++) await lock.run(`device-${i}`, () => Promise.resolve(i));
  assert.equal(lock.size, 0);
});
