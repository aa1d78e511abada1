/**
 * Wall-time bounds that hold on a loaded machine. The suite runs on 2 shared cores beside
 * other developers' tests and benchmarks, so a bound written for an idle machine fails at
 * random. {@link scaledMs} stretches a bound by how slow this machine is right now, from one
 * baseline measured once per test process: a fixed piece of CPU work timed against what it
 * takes on an idle machine. `TEST_TIME_SCALE` multiplies on top (e.g. under a profiler).
 *
 * Prefer asserting order (this happened before that) to wall time; use this where a time
 * bound is the point (a deadline must be met, work must not blow up).
 *
 * @module
 */

/** What {@link baselineWork} takes on an idle core of the development machine, in ms. */
const IDLE_BASELINE_MS = 6;

/** Fixed CPU work: hashing-like arithmetic and JSON, like the code under test does. */
function baselineWork(): number {
  let sink = 0;
  const record = { version: 2, action: "push", account_id: "a".repeat(64), message_count: 1 };
  for (let i = 0; i < 10_000; i++) {
    const text = JSON.stringify({ ...record, message_count: i });
    sink = (sink * 31 + JSON.parse(text).message_count + text.length) | 0;
  }
  return sink;
}

let measured: number | undefined;

/**
 * How many times slower than idle this machine runs now (at least 1): the median of a few
 * runs of {@link baselineWork}, measured once and kept.
 */
export function slowdown(): number {
  if (measured === undefined) {
    const runs: number[] = [];
    baselineWork(); // compiled and warm before it is timed
    baselineWork();
    for (let i = 0; i < 7; i++) {
      const started = performance.now();
      baselineWork();
      runs.push(performance.now() - started);
    }
    runs.sort((a, b) => a - b);
    measured = Math.max(1, runs[3] / IDLE_BASELINE_MS);
  }
  return measured * envScale();
}

/** `ms` stretched by {@link slowdown}, and never less than `ms`. */
export function scaledMs(ms: number): number {
  return Math.ceil(ms * slowdown());
}

function envScale(): number {
  const text = Deno.permissions.querySync({ name: "env", variable: "TEST_TIME_SCALE" }).state ===
      "granted"
    ? Deno.env.get("TEST_TIME_SCALE")
    : undefined;
  const value = Number(text ?? "1");
  return Number.isFinite(value) && value >= 1 ? value : 1;
}
