/**
 * Coalescing of push bursts. Users' servers publish several times a second for one account
 * (offline messages, a hibernated session's queue); the device only needs the latest counts.
 * The first push of a burst goes out at once (no added latency for a lone message); pushes
 * arriving within the window after it are merged into one trailing push with the latest
 * payload. Every publish is answered with the outcome of the send that carried its counts.
 *
 * @module
 */

/** Sends one payload; a burst keeps the `send` of its first push. */
type Send<P, O> = (payload: P) => Promise<O>;

/** What a publish is answered when the send carrying it threw: trying later may work. */
export interface SendFailure {
  readonly kind: "failed";
  readonly retryable: true;
  readonly status: null;
  readonly detail: string;
}

/** Ends windows; tests pass a manual one to step time instead of sleeping. */
export interface WindowTimer {
  /** Calls `callback` once after `ms`; returns a handle for {@link WindowTimer.clear}. */
  set(callback: () => void, ms: number): unknown;
  /** Cancels a callback that has not run yet. */
  clear(handle: unknown): void;
}

/** The event loop's timers. */
export const EVENT_LOOP_TIMER: WindowTimer = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface Burst {
  readonly send: Send<unknown, unknown>;
  /** The send in flight (leading or trailing); trailing sends wait for it, keeping order. */
  inFlight: Promise<unknown>;
  /** The latest payload waiting for the trailing send, with whoever waits on it. */
  pending: { payload: unknown; waiters: ((outcome: unknown) => void)[] } | null;
  timer: unknown;
  /** The window of this key (its app's). */
  readonly windowMs: number;
}

/**
 * Merges pushes per key (channel and account) within a window: the coalescer's, or the one
 * a push names (each app has its own).
 */
export class PushCoalescer {
  readonly #bursts = new Map<string, Burst>();

  readonly #timer: WindowTimer;

  /** @param windowMs the default window; 0 turns coalescing off. */
  constructor(readonly windowMs: number, timer: WindowTimer = EVENT_LOOP_TIMER) {
    this.#timer = timer;
  }

  /** Bursts currently open. */
  get openBursts(): number {
    return this.#bursts.size;
  }

  /**
   * Sends `payload` with `unsafeSend`, or merges it into the key's open burst. Every push of
   * one key has the same payload and outcome types (a key is one target and account). Never
   * rejects: an `unsafeSend` that throws is a retryable failure for every publish it carried
   * (a rejection would leave merged publishes unanswered, and end a window with an unhandled
   * rejection). `windowMs`: this key's window (default: the coalescer's; 0: not merged).
   */
  submit<P, O>(
    key: string,
    payload: P,
    unsafeSend: Send<P, O>,
    windowMs: number = this.windowMs,
  ): Promise<O | SendFailure> {
    const send = (body: P): Promise<O | SendFailure> => {
      try {
        return unsafeSend(body).catch(sendFailure);
      } catch (error) {
        return Promise.resolve(sendFailure(error));
      }
    };
    const burst = this.#bursts.get(key);
    if (burst === undefined && windowMs <= 0) return send(payload);
    if (burst === undefined) {
      const inFlight = send(payload);
      const opened: Burst = {
        send: send as Send<unknown, unknown>,
        inFlight,
        pending: null,
        timer: undefined,
        windowMs,
      };
      this.#bursts.set(key, opened);
      opened.timer = this.#timer.set(() => this.#close(key, opened, true), windowMs);
      return inFlight;
    }
    return new Promise<O | SendFailure>((resolve) => {
      burst.pending ??= { payload, waiters: [] };
      burst.pending.payload = payload;
      burst.pending.waiters.push(resolve as (outcome: unknown) => void);
    });
  }

  /** Sends every waiting trailing push now and waits for all sends (for shutdown). */
  async flush(): Promise<void> {
    const closing = [...this.#bursts].map(([key, burst]) => this.#close(key, burst, false));
    await Promise.allSettled(closing);
  }

  /** Ends a burst's window: sends its trailing push, if any, and maybe opens a new window. */
  async #close(key: string, burst: Burst, reopen: boolean): Promise<void> {
    this.#timer.clear(burst.timer);
    const pending = burst.pending;
    if (pending === null) {
      if (this.#bursts.get(key) === burst) this.#bursts.delete(key);
      await burst.inFlight.catch(() => {});
      return;
    }
    burst.pending = null;
    burst.inFlight = burst.inFlight.catch(() => {}).then(() => burst.send(pending.payload));
    if (reopen) {
      // This send starts a new window: later pushes merge into the next trailing one.
      burst.timer = this.#timer.set(() => this.#close(key, burst, true), burst.windowMs);
    } else if (this.#bursts.get(key) === burst) {
      this.#bursts.delete(key);
    }
    const outcome = await burst.inFlight;
    for (const resolve of pending.waiters) resolve(outcome);
  }
}

function sendFailure(error: unknown): SendFailure {
  return { kind: "failed", retryable: true, status: null, detail: `send failed: ${error}` };
}
