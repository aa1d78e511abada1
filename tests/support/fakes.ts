/**
 * Deterministic stand-ins for the clock and the random source, for tests of the use cases.
 *
 * @module
 */

import type { RandomBytes } from "../../domain/minting.ts";
import type { Clock } from "../../domain/ports.ts";

/** A clock that only moves when told to. */
export class FakeClock implements Clock {
  constructor(public current = 1_700_000_000_000) {}

  now(): number {
    return this.current;
  }

  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    this.current += ms;
  }
}

/**
 * A seeded pseudo-random byte source (xorshift32): the same seed gives the same bytes, and
 * successive calls give different bytes, like a real source would.
 */
export function seededRandom(seed = 0x9e3779b9): RandomBytes {
  let state = seed >>> 0 || 1;
  return (length) => {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      bytes[i] = state & 0xff;
    }
    return bytes;
  };
}
