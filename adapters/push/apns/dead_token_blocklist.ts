/**
 * A blocklist of dead device tokens with expiry, for fpush's stateless dialect (fpush.md §5,
 * done right): a token APNs called dead (410 Unregistered, BadDeviceToken,
 * DeviceTokenNotForTopic) is refused without any network call for a day, five days if it
 * is reported dead again while blocked; a token that failed in an unexplained way for ten
 * minutes (twenty when again). A lookup during the second half of a block — someone still
 * pushes to it — extends the block. This keeps us from hammering Apple with dead tokens,
 * which Apple asks providers not to do.
 *
 * Bounded: when full, expired entries go first, then the oldest. Pure: the time comes from
 * the injected clock; {@link DeadTokenBlocklist.sweep} is for a periodic timer.
 *
 * @module
 */

import type { Clock } from "../../../domain/ports/clock.ts";

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

/** Why a token is blocked. */
export type BlockKind = "dead" | "failing";

/** How long blocks last. */
export interface BlockDurations {
  /** First block. */
  readonly initialMs: number;
  /** A block renewed while still blocked. */
  readonly extendedMs: number;
}

/** Settings of a {@link DeadTokenBlocklist}. */
export interface DeadTokenBlocklistOptions {
  /** Tokens APNs said are dead: default 1 day, then 5 days (fpush's). */
  readonly dead?: BlockDurations;
  /** Tokens with unexplained failures: default 10 then 20 minutes (fpush's). */
  readonly failing?: BlockDurations;
  /** What a lookup in the second half of a block adds (default 10 minutes). */
  readonly extendOnLookupMs?: number;
  /** Tokens held at most (default 100,000). */
  readonly maxEntries?: number;
  readonly clock: Clock;
}

/** A lookup's answer. */
export type BlockStatus =
  | { readonly blocked: false }
  | { readonly blocked: true; readonly kind: BlockKind; readonly until: number };

/** What the blocklist did, for metrics. */
export interface DeadTokenBlocklistCounters {
  /** Blocks started (a token not blocked before). */
  readonly blocked: number;
  /** Blocks renewed with the extended duration. */
  readonly extended: number;
  /** Lookups that found the token blocked (pushes refused). */
  readonly refused: number;
  /** Blocks that ran out. */
  readonly expired: number;
  /** Blocks dropped early because the list was full. */
  readonly evicted: number;
  /** Tokens blocked now (expired ones not yet swept included). */
  readonly size: number;
}

interface Entry {
  readonly kind: BlockKind;
  readonly since: number;
  until: number;
}

/** Dead and failing tokens, each until its block runs out. */
export class DeadTokenBlocklist {
  readonly #durations: Readonly<Record<BlockKind, BlockDurations>>;
  readonly #extendOnLookupMs: number;
  readonly #maxEntries: number;
  readonly #clock: Clock;
  /** In insertion order: the first entry was blocked longest ago. */
  readonly #entries = new Map<string, Entry>();
  #blocked = 0;
  #extended = 0;
  #refused = 0;
  #expired = 0;
  #evicted = 0;

  constructor(options: DeadTokenBlocklistOptions) {
    this.#durations = {
      dead: options.dead ?? { initialMs: DAY_MS, extendedMs: 5 * DAY_MS },
      failing: options.failing ?? { initialMs: 10 * MINUTE_MS, extendedMs: 20 * MINUTE_MS },
    };
    this.#extendOnLookupMs = options.extendOnLookupMs ?? 10 * MINUTE_MS;
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#clock = options.clock;
    if (!(this.#maxEntries >= 1)) throw new RangeError("maxEntries must be at least 1");
  }

  /** Counters for metrics. */
  get counters(): DeadTokenBlocklistCounters {
    return {
      blocked: this.#blocked,
      extended: this.#extended,
      refused: this.#refused,
      expired: this.#expired,
      evicted: this.#evicted,
      size: this.#entries.size,
    };
  }

  /**
   * Blocks `token`. Blocking a token that is blocked already renews its block with the
   * extended duration; a "dead" report replaces a "failing" block, never the reverse.
   */
  block(token: string, kind: BlockKind): void {
    const now = this.#clock.now();
    const current = this.#live(token, now);
    if (current?.kind === "dead" && kind === "failing") return;
    const durations = this.#durations[kind];
    if (current !== undefined && current.kind === kind) {
      current.until = Math.max(current.until, now + durations.extendedMs);
      this.#extended++;
      return;
    }
    if (current === undefined && this.#entries.size >= this.#maxEntries) this.#makeRoom(now);
    this.#entries.delete(token);
    this.#entries.set(token, { kind, since: now, until: now + durations.initialMs });
    this.#blocked++;
  }

  /** Whether pushes to `token` are refused now; a lookup late in a block extends it. */
  check(token: string): BlockStatus {
    const now = this.#clock.now();
    const entry = this.#live(token, now);
    if (entry === undefined) return { blocked: false };
    if (now - entry.since >= (entry.until - entry.since) / 2) {
      entry.until = Math.max(entry.until, now + this.#extendOnLookupMs);
    }
    this.#refused++;
    return { blocked: true, kind: entry.kind, until: entry.until };
  }

  /** Lifts a block (the token was registered again, or an operator said so). */
  unblock(token: string): boolean {
    return this.#entries.delete(token);
  }

  /** Drops every expired block; returns how many went. */
  sweep(): number {
    const now = this.#clock.now();
    let removed = 0;
    for (const [token, entry] of this.#entries) {
      if (entry.until <= now) {
        this.#entries.delete(token);
        removed++;
      }
    }
    this.#expired += removed;
    return removed;
  }

  /** The unexpired entry of `token`; an expired one is dropped. */
  #live(token: string, now: number): Entry | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined || entry.until > now) return entry;
    this.#entries.delete(token);
    this.#expired++;
    return undefined;
  }

  #makeRoom(now: number): void {
    // A few expired entries from the front first; else the block started longest ago.
    let checked = 0;
    for (const [token, entry] of this.#entries) {
      if (++checked > 8) break;
      if (entry.until <= now) {
        this.#entries.delete(token);
        this.#expired++;
        return;
      }
    }
    const oldest = this.#entries.keys().next();
    if (!oldest.done) {
      this.#entries.delete(oldest.value);
      this.#evicted++;
    }
  }
}
