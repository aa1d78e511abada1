/**
 * Per-channel backoff: a channel WNS throttled (406, 429, `channelthrottled`) is left alone
 * for a while, longer each time it happens again, at least as long as WNS's Retry-After.
 *
 * @module
 */

import { exponentialBackoff } from "../../lib/backoff.ts";
import type { Clock } from "../../domain/ports/clock.ts";

/** Backoff settings. */
export interface ChannelBackoffOptions {
  /** The first pause, when WNS gives no Retry-After. */
  readonly initialMs: number;
  /** The longest pause. */
  readonly maxMs: number;
  /** Channels remembered at most; the oldest are forgotten first. */
  readonly maxEntries: number;
}

interface Entry {
  until: number;
  strikes: number;
}

/** Remembers which channels to leave alone, and until when. */
export class ChannelBackoff {
  readonly #entries = new Map<string, Entry>();

  constructor(
    readonly clock: Clock,
    readonly options: ChannelBackoffOptions = {
      initialMs: 1000,
      maxMs: 10 * 60_000,
      maxEntries: 100_000,
    },
  ) {}

  /** Milliseconds the channel must still be left alone (0: send). */
  blockedFor(channel: string): number {
    // Nearly always empty: skip hashing a long channel URI for every push.
    if (this.#entries.size === 0) return 0;
    const entry = this.#entries.get(channel);
    return entry ? Math.max(0, entry.until - this.clock.now()) : 0;
  }

  /** WNS throttled the channel: pause it (doubling per repeat); returns the pause. */
  throttle(channel: string, retryAfterMs?: number): number {
    const { initialMs, maxMs, maxEntries } = this.options;
    const previous = this.#entries.get(channel);
    const strikes = (previous?.strikes ?? 0) + 1;
    // Retry-After when it asks for longer than the doubling; the cap either way.
    const pause = Math.max(
      Math.min(maxMs, retryAfterMs ?? 0),
      exponentialBackoff(strikes - 1, initialMs, maxMs),
    );
    // Re-insert so Map order is "least recently throttled first" for eviction.
    this.#entries.delete(channel);
    this.#entries.set(channel, { until: this.clock.now() + pause, strikes });
    if (this.#entries.size > maxEntries) this.#evict();
    return pause;
  }

  /** The channel took a notification: forget its history. */
  clear(channel: string): void {
    if (this.#entries.size > 0) this.#entries.delete(channel);
  }

  /** Channels currently remembered. */
  get size(): number {
    return this.#entries.size;
  }

  /** Forgets the least recently throttled channels until the map fits. */
  #evict(): void {
    for (const channel of this.#entries.keys()) {
      if (this.#entries.size <= this.options.maxEntries) return;
      this.#entries.delete(channel);
    }
  }
}
