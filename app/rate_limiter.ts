/**
 * Token buckets: the one rate-limiting mechanism behind every request and publish limit. A
 * bucket holds up to `burst` tokens and gains `perSecond` of them per second; each admitted
 * event takes one. Pure: the time comes from an injected clock, nothing is scheduled.
 *
 * {@link KeyedRateLimiter} keeps one bucket per key (a device id, a node, a server's
 * domain) in a map of bounded size: when it is full, the bucket used longest ago goes. A
 * key that comes back after that starts with a full bucket, which is what it would have
 * had anyway once the bucket refilled (`burst / perSecond` seconds); so eviction only
 * forgives a key if `maxKeys` other keys were seen within that time.
 *
 * @module
 */

import type { Clock } from "../domain/ports/clock.ts";

/** A rate: bursts of up to `burst` events, `perSecond` events per second sustained. */
export interface Rate {
  readonly burst: number;
  readonly perSecond: number;
}

/** One token bucket. Times are epoch milliseconds. */
export class TokenBucket {
  readonly #rate: Rate;
  #tokens: number;
  #updatedAt: number;

  /** A full bucket at `now`. */
  constructor(rate: Rate, now: number) {
    if (!(rate.burst >= 1) || !(rate.perSecond > 0)) {
      throw new RangeError("a rate needs burst >= 1 and perSecond > 0");
    }
    this.#rate = rate;
    this.#tokens = rate.burst;
    this.#updatedAt = now;
  }

  /** Takes `count` tokens (default 1) if there are that many at `now`; false: over the rate. */
  take(now: number, count = 1): boolean {
    this.#refill(now);
    if (this.#tokens < count) return false;
    this.#tokens -= count;
    return true;
  }

  /** Puts back `count` tokens taken for something that did not happen (never above burst). */
  giveBack(now: number, count = 1): void {
    this.#refill(now);
    this.#tokens = Math.min(this.#rate.burst, this.#tokens + count);
  }

  /** Whether the bucket is full at `now` (it then holds nothing worth remembering). */
  isFull(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.#rate.burst;
  }

  #refill(now: number): void {
    // A clock that goes backwards adds nothing (and takes nothing back).
    const elapsed = now - this.#updatedAt;
    if (elapsed <= 0) return;
    this.#tokens = Math.min(
      this.#rate.burst,
      this.#tokens + (elapsed * this.#rate.perSecond) / 1000,
    );
    this.#updatedAt = now;
  }
}

/** Settings of a {@link KeyedRateLimiter}. */
export interface KeyedRateLimiterOptions {
  readonly rate: Rate;
  /** Buckets kept at most; the one used longest ago is dropped for a new key. */
  readonly maxKeys: number;
  readonly clock: Clock;
}

/** One token bucket per key, in a map of bounded size. */
export class KeyedRateLimiter<K = string> {
  readonly #options: KeyedRateLimiterOptions;
  /** In order of last use: the first entry is the one used longest ago. */
  readonly #buckets = new Map<K, TokenBucket>();

  constructor(options: KeyedRateLimiterOptions) {
    if (!(options.maxKeys >= 1)) throw new RangeError("maxKeys must be at least 1");
    // Fails here, at start-up, rather than at the first event.
    new TokenBucket(options.rate, 0);
    this.#options = options;
  }

  /** Buckets held. */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes `count` tokens (default 1) from `key`'s bucket; false: `key` is over the rate (and
   * nothing is taken).
   */
  take(key: K, count = 1): boolean {
    const now = this.#options.clock.now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.#options.rate, now);
      if (this.#buckets.size >= this.#options.maxKeys) this.#evict(now);
    } else {
      this.#buckets.delete(key);
    }
    this.#buckets.set(key, bucket);
    return bucket.take(now, count);
  }

  /** Puts back `count` tokens `take` took for `key` (nothing if its bucket was dropped). */
  giveBack(key: K, count = 1): void {
    this.#buckets.get(key)?.giveBack(this.#options.clock.now(), count);
  }

  /** Drops the bucket used longest ago. */
  #evict(now: number): void {
    const oldest = this.#buckets.keys().next();
    if (!oldest.done) this.#buckets.delete(oldest.value);
    // A few more, if they are full anyway: keeps the map below its bound between floods.
    for (let i = 0; i < 2; i++) {
      const next = this.#buckets.entries().next();
      if (next.done || !next.value[1].isFull(now)) return;
      this.#buckets.delete(next.value[0]);
    }
  }
}
