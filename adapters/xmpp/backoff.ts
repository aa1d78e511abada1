/**
 * Capped exponential backoff with jitter, for reconnecting to servers that went away.
 *
 * @module
 */

import { exponentialBackoff } from "../../lib/backoff.ts";

/** Backoff settings in milliseconds. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** Successive delays: initial, doubling up to max, each with up to 20% jitter subtracted. */
export class Backoff {
  #attempt = 0;

  constructor(readonly options: BackoffOptions, readonly random: () => number = Math.random) {}

  /** The delay before the next attempt. */
  next(): number {
    const { initialMs, maxMs } = this.options;
    const base = exponentialBackoff(this.#attempt, initialMs, maxMs);
    this.#attempt++;
    return Math.round(base * (1 - 0.2 * this.random()));
  }

  /** Starts over after a success. */
  reset(): void {
    this.#attempt = 0;
  }
}
