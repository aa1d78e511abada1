/**
 * Constant-time comparison of a publish's secret with the node's secret.
 *
 * Every character of the expected secret is compared, whatever the given one holds, and the
 * differences are OR-ed together without an early exit: the time depends on the expected
 * secret's length only (not secret: every node's secret has the same length), never on
 * where or whether the two differ. Plain arithmetic on UTF-16 code units, so no hashing
 * or allocation per publish. Pure computation: no I/O.
 *
 * @module
 */

/** True when `given` equals `expected`, in time independent of where they differ. */
export function secretMatches(given: string | null, expected: string): boolean {
  const offered = given ?? "";
  const length = offered.length;
  let difference = length ^ expected.length;
  for (let i = 0; i < expected.length; i++) {
    // Wraps around a shorter offer, so a short guess costs as long as a full one.
    const code = length === 0 ? 0 : offered.charCodeAt(i % length);
    difference |= expected.charCodeAt(i) ^ code;
  }
  // Evaluated after the loop, so a missing secret costs the same as a wrong one.
  return difference === 0 && given !== null;
}
