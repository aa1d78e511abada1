/**
 * fast-check settings shared by the fuzz tests (`tests/fuzz/*_fuzz_test.ts`).
 *
 * Every run uses a new random seed, printed before the cases run (`fuzz seed ...`); a failing
 * property also reports its seed, path and the shrunk counterexample. To replay it exactly:
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
  // Chosen here rather than by fast-check so it can be printed before any case runs: a run
  // that hangs or crashes the process can still be replayed.
  const seed = envNumber("FUZZ_SEED") ?? (Math.random() * 0x1_0000_0000) | 0;
  const path = envText("FUZZ_PATH");
  const scale = envNumber("FUZZ_SCALE") ?? 1;
  const runs = Math.max(1, Math.round(numRuns * scale));
  console.log(`fuzz seed ${seed}, ${runs} cases (replay: FUZZ_SEED=${seed})`);
  return {
    ...extra,
    numRuns: runs,
    seed,
    ...(path === undefined ? {} : { path, endOnFailure: true }),
  };
}

/**
 * Counts the kinds of cases a property met, so a fuzz test can show it exercised what it
 * claims to (e.g. that enough generated stanzas were well formed to reach the server at
 * all) instead of passing by skipping.
 */
export class CaseTally {
  readonly #counts = new Map<string, number>();
  #total = 0;

  /** Records one case of `kind`. */
  count(kind: string): void {
    this.#total++;
    this.#counts.set(kind, (this.#counts.get(kind) ?? 0) + 1);
  }

  /** How many cases of `kind` were counted. */
  of(kind: string): number {
    return this.#counts.get(kind) ?? 0;
  }

  /**
   * Asserts at least `fraction` of the counted cases were of one of `kinds`, and prints the
   * tally. A replay of one case (FUZZ_PATH) counts too few to judge and is left alone.
   */
  assertShare(kinds: readonly string[], fraction: number, what: string): void {
    const line = `fuzz cases: ${[...this.#counts].map(([k, n]) => `${k} ${n}`).join(", ")}`;
    console.log(line);
    if (envText("FUZZ_PATH") !== undefined) return;
    const minimum = Math.ceil(this.#total * fraction);
    const got = kinds.reduce((sum, kind) => sum + this.of(kind), 0);
    if (got < minimum) {
      throw new Error(
        `${what}: ${got} of ${this.#total} cases were ${kinds.join(" or ")}, fewer than the ` +
          `${minimum} needed (${line})`,
      );
    }
  }
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
