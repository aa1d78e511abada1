/**
 * WNS channels this instance heard are gone (404/410), so that nothing is posted to them
 * again: not the trailing push of a burst already merged, nor a publish whose lookup
 * started before the store forgot the channel. Bounded: the oldest entries go first (the
 * store has forgotten them long since, so lookups no longer return them).
 *
 * @module
 */

/** Default number of channels remembered. */
export const DEFAULT_GONE_CHANNELS = 10_000;

/** A bounded set of gone channel URIs. */
export class GoneChannels {
  readonly #channels = new Set<string>();
  readonly #max: number;

  constructor(maxEntries = DEFAULT_GONE_CHANNELS) {
    this.#max = Math.max(1, maxEntries);
  }

  /** Whether WNS said `channelUri` is gone. */
  has(channelUri: string): boolean {
    // Nearly always empty: skip hashing a long address (a fresh string each push) per push.
    return this.#channels.size > 0 && this.#channels.has(channelUri);
  }

  /** Remembers that WNS said `channelUri` is gone. */
  add(channelUri: string): void {
    this.#channels.delete(channelUri);
    while (this.#channels.size >= this.#max) {
      const oldest = this.#channels.values().next();
      if (oldest.done) break;
      this.#channels.delete(oldest.value);
    }
    this.#channels.add(channelUri);
  }

  /** A device registered `channelUri` (again): it may be posted to. */
  delete(channelUri: string): void {
    this.#channels.delete(channelUri);
  }
}
