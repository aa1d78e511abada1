/**
 * A bound on work in flight, with a bounded queue behind it: when both are full, new work is
 * refused at once instead of piling up in memory. Besides the global bound, work may name a
 * host and a channel, each with a bound of its own, so that one slow host or channel cannot
 * take every slot; and work that waited `maxWaitMs` for a slot gives up.
 *
 * @module
 */

/** Thrown by {@link ConcurrencyGate.run} when the queue is full. */
export class QueueFullError extends Error {
  constructor(limit: number) {
    super(`queue full (${limit} waiting)`);
    this.name = "QueueFullError";
  }
}

/** Thrown by {@link ConcurrencyGate.run} when the task waited too long for a slot. */
export class QueueWaitError extends Error {
  constructor(waitMs: number) {
    super(`no slot within ${waitMs} ms`);
    this.name = "QueueWaitError";
  }
}

/** What a task counts against besides the global bound. */
export interface GateKey {
  readonly host: string;
  readonly channel: string;
}

/** Bounds besides the global ones; absent: none. */
export interface GateOptions {
  /** Tasks of one host at once. */
  readonly maxPerHost?: number;
  /** Tasks of one channel at once. */
  readonly maxPerChannel?: number;
  /** How long a task may wait for a slot before it is refused with QueueWaitError. */
  readonly maxWaitMs?: number;
}

/** A task waiting for a slot. */
interface Waiter {
  readonly key: GateKey | undefined;
  readonly start: () => void;
  /** Started or refused: skipped wherever it is still queued. */
  done: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * Runs at most `maxInFlight` tasks at once (and per host and channel, when given); queues up
 * to `maxQueued` more.
 */
export class ConcurrencyGate {
  #inFlight = 0;
  #waiting = 0;
  /** Waiting for a global slot, in order. */
  #queue: Waiter[] = [];
  /** Waiting because their host or channel is at its bound. */
  readonly #parkedByHost = new Map<string, Waiter[]>();
  readonly #parkedByChannel = new Map<string, Waiter[]>();
  readonly #perHost = new Map<string, number>();
  readonly #perChannel = new Map<string, number>();
  readonly #options: GateOptions;
  /**
   * Thrown for every refusal: an overloaded server refuses thousands a second, and a new
   * Error (with its stack trace) each time made overload costlier still.
   */
  readonly #full: QueueFullError;
  readonly #tooLong: QueueWaitError | undefined;

  constructor(readonly maxInFlight: number, readonly maxQueued: number, options: GateOptions = {}) {
    this.#options = options;
    this.#full = new QueueFullError(maxQueued);
    if (options.maxWaitMs !== undefined) this.#tooLong = new QueueWaitError(options.maxWaitMs);
  }

  /** Tasks running now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.#waiting;
  }

  /**
   * Runs `task` when a slot is free (one of `key`'s host and channel too); rejects with
   * QueueFullError if none will be soon, or QueueWaitError once it waited `maxWaitMs`.
   */
  async run<T>(task: () => Promise<T>, key?: GateKey): Promise<T> {
    if (!this.#tryTake(key)) {
      if (this.#waiting >= this.maxQueued) throw this.#full;
      await this.#wait(key);
    }
    try {
      return await task();
    } finally {
      this.#release(key);
    }
  }

  /** Takes a slot if the global, host and channel bounds allow. */
  #tryTake(key: GateKey | undefined): boolean {
    if (this.#inFlight >= this.maxInFlight || this.#blocked(key) !== null) return false;
    this.#take(key);
    return true;
  }

  #take(key: GateKey | undefined): void {
    this.#inFlight++;
    if (key === undefined) return;
    this.#perHost.set(key.host, (this.#perHost.get(key.host) ?? 0) + 1);
    this.#perChannel.set(key.channel, (this.#perChannel.get(key.channel) ?? 0) + 1);
  }

  /** The queue `key` must park in because its host or channel is full, or null. */
  #blocked(key: GateKey | undefined): Waiter[] | null {
    if (key === undefined) return null;
    const { maxPerHost, maxPerChannel } = this.#options;
    if (maxPerChannel !== undefined && (this.#perChannel.get(key.channel) ?? 0) >= maxPerChannel) {
      return parkingFor(this.#parkedByChannel, key.channel);
    }
    if (maxPerHost !== undefined && (this.#perHost.get(key.host) ?? 0) >= maxPerHost) {
      return parkingFor(this.#parkedByHost, key.host);
    }
    return null;
  }

  #wait(key: GateKey | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        key,
        done: false,
        start: () => {
          clearTimeout(waiter.timer);
          resolve();
        },
      };
      this.#waiting++;
      const { maxWaitMs } = this.#options;
      if (maxWaitMs !== undefined) {
        waiter.timer = setTimeout(() => {
          if (waiter.done) return;
          waiter.done = true;
          this.#waiting--;
          this.#compact();
          reject(this.#tooLong);
        }, maxWaitMs);
      }
      this.#enqueue(waiter);
    });
  }

  /** Queues `waiter` where it waits: globally, or parked behind its host or channel. */
  #enqueue(waiter: Waiter): void {
    if (this.#inFlight >= this.maxInFlight) {
      this.#queue.push(waiter);
      return;
    }
    const parking = this.#blocked(waiter.key);
    if (parking !== null) {
      parking.push(waiter);
      return;
    }
    this.#start(waiter);
  }

  /**
   * Drops given-up waiters from the global queue once they outnumber the live ones: while
   * every slot is held, they would pile up there until the first release.
   */
  #compact(): void {
    if (this.#queue.length <= 2 * this.#waiting + 64) return;
    this.#queue = this.#queue.filter((waiter) => !waiter.done);
  }

  #start(waiter: Waiter): void {
    waiter.done = true;
    this.#waiting--;
    this.#take(waiter.key);
    waiter.start();
  }

  #release(key: GateKey | undefined): void {
    this.#inFlight--;
    if (key !== undefined) {
      decrement(this.#perHost, key.host);
      decrement(this.#perChannel, key.channel);
      // Those parked behind this channel or host may go now (or wait for a global slot).
      this.#unpark(this.#parkedByChannel, key.channel);
      this.#unpark(this.#parkedByHost, key.host);
    }
    while (this.#inFlight < this.maxInFlight) {
      const next = this.#queue.shift();
      if (next === undefined) return;
      if (!next.done) this.#enqueue(next);
    }
  }

  /** Moves the first live waiter parked under `name` back into line. */
  #unpark(parked: Map<string, Waiter[]>, name: string): void {
    const line = parked.get(name);
    if (line === undefined) return;
    let next = line.shift();
    while (next !== undefined && next.done) next = line.shift();
    if (line.length === 0) parked.delete(name);
    if (next === undefined) return;
    // Ahead of those waiting for a global slot: it has waited at least as long.
    if (this.#inFlight >= this.maxInFlight) this.#queue.unshift(next);
    else this.#enqueue(next);
  }
}

function parkingFor(parked: Map<string, Waiter[]>, name: string): Waiter[] {
  let line = parked.get(name);
  if (line === undefined) parked.set(name, line = []);
  return line;
}

function decrement(counts: Map<string, number>, name: string): void {
  const left = (counts.get(name) ?? 1) - 1;
  if (left > 0) counts.set(name, left);
  else counts.delete(name);
}
