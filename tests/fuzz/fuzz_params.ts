/**
 * fast-check settings shared by the fuzz tests (`tests/fuzz/*_fuzz_test.ts`).
 *
 * Every run uses a new random seed; a failing property reports its seed, path and the
 * shrunk counterexample. To replay it exactly:
 *
 * ```sh
 * FUZZ_SEED=<seed> FUZZ_PATH=<path> deno test --allow-all tests/fuzz/<file>
 * ```
 *
 * `FUZZ_SCALE=10` runs ten times as many cases (a longer local session); the default keeps
 * the whole fuzz suite within a few seconds.
 *
 * @module
 */

import fc from "fast-check";

/**
 * Parameters for `fc.assert`: `numRuns` cases (scaled), or the replay of a failure; `extra`
 * adds to them (e.g. `endOnFailure` where shrinking would take too long).
 */
export function fuzzParams<T>(numRuns: number, extra: fc.Parameters<T> = {}): fc.Parameters<T> {
  const seed = envNumber("FUZZ_SEED");
  const path = envText("FUZZ_PATH");
  const scale = envNumber("FUZZ_SCALE") ?? 1;
  return {
    ...extra,
    numRuns: Math.max(1, Math.round(numRuns * scale)),
    ...(seed === undefined ? {} : { seed }),
    ...(path === undefined ? {} : { path, endOnFailure: true }),
  };
}

/** Runs `property` with {@link fuzzParams}. */
export function check<T>(property: fc.IProperty<T>, numRuns: number): void {
  fc.assert(property, fuzzParams<T>(numRuns));
}

/** Same, for asynchronous properties. */
export async function checkAsync<T>(
  property: fc.IAsyncProperty<T>,
  numRuns: number,
  extra: fc.Parameters<T> = {},
): Promise<void> {
  await fc.assert(property, fuzzParams<T>(numRuns, extra));
}

function envText(name: string): string | undefined {
  // Without --allow-env the variables are simply not used.
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
    return undefined;
  }
  return Deno.env.get(name) || undefined;
}

function envNumber(name: string): number | undefined {
  const text = envText(name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, not ${text}`);
  return value;
}
