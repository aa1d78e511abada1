/**
 * Deterministic stand-ins for the clock and the random source, for tests of the use cases.
 *
 * @module
 */

import type { RandomBytes } from "../../domain/minting.ts";
import type { Clock } from "../../domain/ports/clock.ts";

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

/**
 * A clock whose timers fire only when it is advanced: a {@link FakeClock} that is also a
 * `WindowTimer` for the push coalescer. {@link advance} runs every timer that falls due, in
 * order, and lets the promise jobs each one starts settle before the next.
 */
export class ManualTimer extends FakeClock {
  #next = 1;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();

  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  set(callback: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.current + Math.max(0, ms), callback });
    return id;
  }

  clear(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Moves time forward by `ms`, firing what falls due; resolves once their work settled. */
  override advance(ms: number): Promise<void> {
    return this.#advanceTo(this.current + ms);
  }

  async #advanceTo(target: number): Promise<void> {
    await settle();
    for (;;) {
      const due = [...this.#timers].filter(([, t]) => t.at <= target)
        .sort(([, a], [, b]) => a.at - b.at)[0];
      if (due === undefined) break;
      const [id, timer] = due;
      this.#timers.delete(id);
      this.current = timer.at;
      timer.callback();
      await settle();
    }
    this.current = target;
  }
}

/** Lets pending promise jobs (and the macrotasks they need) run: one event-loop turn. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
