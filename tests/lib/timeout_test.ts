import assert from "node:assert/strict";
import { settlesWithin, valueWithin, withTimeout } from "../../lib/timeout.ts";

const later = <T>(ms: number, value: T) =>
  new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

Deno.test("withTimeout: the work's value in time, the timeout's error after", async () => {
  assert.equal(await withTimeout(later(1, "done"), 1000, () => new Error("late")), "done");
  await assert.rejects(
    withTimeout(new Promise(() => {}), 10, () => new Error("late")),
    /late/,
  );
  await assert.rejects(
    withTimeout(Promise.reject(new Error("own")), 1000, () => new Error("late")),
    /own/,
  );
});

Deno.test("valueWithin: the value in time, the fallback after, a rejection passes", async () => {
  assert.equal(await valueWithin(later(1, 5), 1000, null), 5);
  assert.equal(await valueWithin(new Promise<number>(() => {}), 10, null), null);
  await assert.rejects(valueWithin(Promise.reject(new Error("own")), 1000, null), /own/);
});

Deno.test("settlesWithin: true when settled either way in time, false after, never rejects", async () => {
  assert.equal(await settlesWithin(later(1, 1), 1000), true);
  assert.equal(await settlesWithin(Promise.reject(new Error("x")), 1000), true);
  assert.equal(await settlesWithin(new Promise(() => {}), 10), false);
  assert.equal(await settlesWithin(new Promise(() => {}), -5), false);
});

Deno.test("no timer outlives the race (the test sanitizer would report a leak)", async () => {
  await withTimeout(Promise.resolve(1), 60_000, () => new Error("late"));
  await valueWithin(Promise.resolve(1), 60_000, null);
  await settlesWithin(Promise.resolve(1), 60_000);
});
