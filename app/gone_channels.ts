/**
 * Push addresses (WNS channels, FCM tokens) this instance heard are gone (WNS 404/410, FCM
 * UNREGISTERED), so that nothing is posted to them again in the short while the store may
 * still hand them out: not the trailing push of a burst already merged, nor a publish whose
 * lookup started before the store forgot the address. After that the store alone decides:
 * an entry lasts a few minutes, so that an address registered again through another
 * instance sharing the store (which cannot clear this instance's memory) works here too.
 * Bounded: the oldest entries go first.
 *
 * @module
 */

import type { Clock } from "../domain/ports/clock.ts";

/** Default number of addresses remembered. */
export const DEFAULT_GONE_CHANNELS = 10_000;

/**
 * Default time an address is remembered: longer than any coalescing window (FCM's at most
 * 60 s) plus a queued push's longest wait, so a merged push never follows a gone answer.
 */
export const DEFAULT_GONE_CHANNEL_TTL_MS = 3 * 60_000;

/** Options of {@link GoneChannels}. */
export interface GoneChannelsOptions {
  /** How long an address is remembered (default {@link DEFAULT_GONE_CHANNEL_TTL_MS}). */
  readonly ttlMs?: number;
  /** The server's clock (default: the system's). */
  readonly clock?: Clock;
}

/** A bounded, time-limited set of gone push addresses. */
export class GoneChannels {
  /** Address -> when it was heard gone (epoch ms); insertion order is age order. */
  readonly #channels = new Map<string, number>();
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #clock: Clock;

  constructor(maxEntries = DEFAULT_GONE_CHANNELS, options: GoneChannelsOptions = {}) {
    this.#max = Math.max(1, maxEntries);
    this.#ttlMs = options.ttlMs ?? DEFAULT_GONE_CHANNEL_TTL_MS;
    this.#clock = options.clock ?? { now: () => Date.now() };
  }

  /** Whether `channelUri` was heard gone within the last few minutes. */
  has(channelUri: string): boolean {
    // Nearly always empty: skip hashing a long address (a fresh string each push) per push.
    if (this.#channels.size === 0) return false;
    const since = this.#channels.get(channelUri);
    if (since === undefined) return false;
    if (this.#clock.now() - since < this.#ttlMs) return true;
    this.#channels.delete(channelUri);
    return false;
  }

  /** Remembers that the push service said `channelUri` is gone. */
  add(channelUri: string): void {
    this.#channels.delete(channelUri);
    while (this.#channels.size >= this.#max) {
      const oldest = this.#channels.keys().next();
      if (oldest.done) break;
      this.#channels.delete(oldest.value);
    }
    this.#channels.set(channelUri, this.#clock.now());
  }

  /** A device registered `channelUri` (again): it may be posted to. */
  delete(channelUri: string): void {
    this.#channels.delete(channelUri);
  }
}
