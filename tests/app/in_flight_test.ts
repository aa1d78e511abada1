import assert from "node:assert/strict";
import { InFlight } from "../../app/in_flight.ts";

Deno.test("InFlight: counts tracked work and resolves idle when it is all done", async () => {
  const inFlight = new InFlight();
  assert.equal(await inFlight.idle(0), true);
  const one = Promise.withResolvers<number>();
  const two = Promise.withResolvers<number>();
  const tracked = inFlight.track(one.promise);
  const failing = inFlight.track(two.promise).catch((error) => error);
  assert.equal(inFlight.size, 2);
  const idle = inFlight.idle(5000);
  one.resolve(1);
  assert.equal(await tracked, 1);
  assert.equal(inFlight.size, 1);
  two.reject(new Error("no"));
  assert.match(String(await failing), /no/);
  assert.equal(await idle, true);
  assert.equal(inFlight.size, 0);
});

Deno.test("InFlight: idle gives up at the timeout", async () => {
  const inFlight = new InFlight();
  const never = Promise.withResolvers<void>();
  const tracked = inFlight.track(never.promise);
  assert.equal(await inFlight.idle(20), false);
  never.resolve();
  await tracked;
  assert.equal(await inFlight.idle(20), true);
});
