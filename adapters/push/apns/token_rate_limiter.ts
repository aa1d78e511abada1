/**
 * A per-device-token rate limit for fpush's stateless dialect, where anyone who knows a
 * token can make us push to it (fpush.md §5, done right): one token bucket per token, a
 * "hold" that stops a token entirely for a while (after APNs 429 TooManyRequests), and a
 * bounded number of tracked tokens — when full, the token used longest ago is forgotten
 * (so a flood of fresh tokens costs memory up to the bound, never more). fpush's cleanup
 * kept the idle entries and dropped the recent ones; here idle ones go first.
 *
 * Pure: the time comes from the injected clock, nothing is scheduled. fpush's "delay the
 * first extra push to the end of the window" is coalescing, which belongs to the shared
 * delivery policy; this only says yes or no.
 *
 * @module
 */

import type { Clock } from "../../../domain/ports/clock.ts";

/** Settings of a {@link TokenRateLimiter}. */
export interface TokenRateLimiterOptions {
  /** Pushes at once to one token (default 3). */
  readonly burst?: number;
  /** Sustained pushes per second to one token (default 1/20: fpush's one per 20 s). */
  readonly perSecond?: number;
  /** Tokens tracked at most (default 100,000). */
  readonly maxTokens?: number;
  readonly clock: Clock;
}

/** The answer for one push. */
export type RateDecision =
  | { readonly allowed: true }
  | {
    readonly allowed: false;
    /** `rate`: over the bucket; `hold`: the token is held off (APNs said 429). */
    readonly reason: "rate" | "hold";
    /** When trying again may succeed. */
    readonly retryAfterMs: number;
  };

/** What the limiter did, for metrics. */
export interface TokenRateLimiterCounters {
  readonly allowed: number;
  readonly droppedRate: number;
  readonly droppedHold: number;
  readonly holds: number;
  /** Tokens forgotten because the table was full. */
  readonly evicted: number;
  /** Tokens tracked now. */
  readonly tracked: number;
}

interface Entry {
  tokens: number;
  updatedAt: number;
  heldUntil: number;
}

/** One token bucket per device token, in a bounded table. */
export class TokenRateLimiter {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #maxTokens: number;
  readonly #clock: Clock;
  /** In order of last use: the first entry is the one used longest ago. */
  readonly #entries = new Map<string, Entry>();
  #allowed = 0;
  #droppedRate = 0;
  #droppedHold = 0;
  #holds = 0;
  #evicted = 0;

  constructor(options: TokenRateLimiterOptions) {
    this.#burst = options.burst ?? 3;
    this.#perMs = (options.perSecond ?? 1 / 20) / 1000;
    this.#maxTokens = options.maxTokens ?? 100_000;
    this.#clock = options.clock;
    if (!(this.#burst >= 1) || !(this.#perMs > 0) || !(this.#maxTokens >= 1)) {
      throw new RangeError("a token rate needs burst >= 1, perSecond > 0, maxTokens >= 1");
    }
  }

  /** Counters for metrics. */
  get counters(): TokenRateLimiterCounters {
    return {
      allowed: this.#allowed,
      droppedRate: this.#droppedRate,
      droppedHold: this.#droppedHold,
      holds: this.#holds,
      evicted: this.#evicted,
      tracked: this.#entries.size,
    };
  }

  /** Takes one push for `token` now, or says when it may go. */
  take(token: string): RateDecision {
    const now = this.#clock.now();
    const entry = this.#touch(token, now);
    if (entry.heldUntil > now) {
      this.#droppedHold++;
      return { allowed: false, reason: "hold", retryAfterMs: entry.heldUntil - now };
    }
    this.#refill(entry, now);
    if (entry.tokens < 1) {
      this.#droppedRate++;
      return {
        allowed: false,
        reason: "rate",
        retryAfterMs: Math.ceil((1 - entry.tokens) / this.#perMs),
      };
    }
    entry.tokens -= 1;
    this.#allowed++;
    return { allowed: true };
  }

  /** Stops every push to `token` for `durationMs` (APNs 429 TooManyRequests). */
  holdOff(token: string, durationMs: number): void {
    const now = this.#clock.now();
    const entry = this.#touch(token, now);
    entry.heldUntil = Math.max(entry.heldUntil, now + durationMs);
    this.#holds++;
  }

  /** The entry of `token`, made most recently used; a new full one if unknown. */
  #touch(token: string, now: number): Entry {
    let entry = this.#entries.get(token);
    if (entry === undefined) {
      if (this.#entries.size >= this.#maxTokens) {
        const oldest = this.#entries.keys().next();
        if (!oldest.done) this.#entries.delete(oldest.value);
        this.#evicted++;
      }
      entry = { tokens: this.#burst, updatedAt: now, heldUntil: 0 };
    } else {
      this.#entries.delete(token);
    }
    this.#entries.set(token, entry);
    return entry;
  }

  #refill(entry: Entry, now: number): void {
    const elapsed = now - entry.updatedAt;
    if (elapsed <= 0) return; // a clock going back gives nothing
    entry.tokens = Math.min(this.#burst, entry.tokens + elapsed * this.#perMs);
    entry.updatedAt = now;
  }
}
