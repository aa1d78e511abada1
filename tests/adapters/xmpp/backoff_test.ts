import assert from "node:assert/strict";
import { Backoff } from "../../../adapters/xmpp/backoff.ts";

Deno.test("Backoff: doubles from the initial delay (no jitter)", () => {
  const backoff = new Backoff({ initialMs: 100, maxMs: 100_000 }, () => 0);
  assert.deepEqual(Array.from({ length: 6 }, () => backoff.next()), [
    100,
    200,
    400,
    800,
    1600,
    3200,
  ]);
});

Deno.test("Backoff: capped at the maximum, even after very many attempts", () => {
  const backoff = new Backoff({ initialMs: 1000, maxMs: 60_000 }, () => 0);
  const delays = Array.from({ length: 200 }, () => backoff.next());
  assert.deepEqual(delays.slice(0, 7), [1000, 2000, 4000, 8000, 16000, 32000, 60000]);
  assert.ok(delays.slice(6).every((d) => d === 60_000), "stays at the cap");
  assert.ok(delays.every(Number.isFinite));
});

Deno.test("Backoff: jitter takes off at most 20%", () => {
  const top = new Backoff({ initialMs: 1000, maxMs: 8000 }, () => 0.999999);
  assert.deepEqual([top.next(), top.next(), top.next()], [800, 1600, 3200]);
  const half = new Backoff({ initialMs: 1000, maxMs: 8000 }, () => 0.5);
  assert.deepEqual([half.next(), half.next()], [900, 1800]);
  const random = new Backoff({ initialMs: 1000, maxMs: 4000 });
  for (let i = 0; i < 500; i++) {
    const base = Math.min(4000, 1000 * 2 ** i);
    const delay = random.next();
    assert.ok(delay >= base * 0.8 && delay <= base, `${delay} not within 20% below ${base}`);
  }
});

Deno.test("Backoff: reset starts over from the initial delay", () => {
  const backoff = new Backoff({ initialMs: 50, maxMs: 1000 }, () => 0);
  backoff.next();
  backoff.next();
  backoff.next();
  backoff.reset();
  assert.deepEqual([backoff.next(), backoff.next()], [50, 100]);
});
