/**
 * Log lines for events a peer can cause at will (refused publishes, throttled pushes): at
 * most one line per kind per interval, the next one saying how many were not written, so a
 * flood of refusals turns into a few summary lines instead of one line each. Every event is
 * still counted by the metrics.
 *
 * @module
 */

import type { Clock } from "../domain/ports/clock.ts";
import type { LogFields, Logger } from "../domain/ports/logging.ts";

/** Settings of a {@link SampledLog}. */
export interface SampledLogOptions {
  readonly logger: Logger;
  readonly clock: Clock;
  /** At most one line per kind this often (default 10 s). */
  readonly intervalMs?: number;
}

/** One message at info level, written at most once per kind and interval. */
export class SampledLog {
  readonly #message: string;
  readonly #options: SampledLogOptions;
  /** Per kind: when a line was last written, and the events since that were not. */
  readonly #windows = new Map<string, { at: number; notLogged: number }>();

  constructor(message: string, options: SampledLogOptions) {
    this.#message = message;
    this.#options = options;
  }

  /** One event of `kind`; `fields` go to the line if one is written. */
  record(kind: string, fields: LogFields = {}): void {
    const { logger, clock, intervalMs = 10_000 } = this.#options;
    const now = clock.now();
    const window = this.#windows.get(kind);
    if (window !== undefined && now - window.at < intervalMs) {
      window.notLogged++;
      return;
    }
    const notLogged = window?.notLogged ?? 0;
    // Kinds are a closed set (outcome names): the map stays small.
    this.#windows.set(kind, { at: now, notLogged: 0 });
    logger.info(this.#message, {
      outcome: kind,
      ...fields,
      ...(notLogged > 0 ? { notLogged } : {}),
    });
  }

  /** Writes how many events were not logged since each kind's last line (at shutdown). */
  flush(): void {
    for (const [kind, window] of this.#windows) {
      if (window.notLogged === 0) continue;
      this.#options.logger.info(this.#message, { outcome: kind, notLogged: window.notLogged });
      window.notLogged = 0;
    }
  }
}
