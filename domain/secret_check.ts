/**
 * Constant-time comparison of a publish's secret with the node's secret.
 *
 * Both sides are hashed first so the comparison takes the same time whatever their lengths,
 * then compared with Node's `timingSafeEqual`. Pure computation: no I/O.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";

/** True when `given` equals `expected`, in time independent of where they differ. */
export function secretMatches(given: string | null, expected: string): boolean {
  const a = createHash("sha256").update(given ?? "").digest();
  const b = createHash("sha256").update(expected).digest();
  // Evaluate both so a missing secret costs the same as a wrong one.
  const equal = timingSafeEqual(a, b);
  return equal && given !== null;
}
