/**
 * Tells metrics and logs that a limit was reached. Every hit is counted; the log gets at
 * most one line per limit per interval, with how many hits it did not write: a flood that
 * a limit holds off must not turn into a flood of log lines.
 *
 * @module
 */

import type { Clock } from "../domain/ports/clock.ts";
import type { LogFields, Logger } from "../domain/ports/logging.ts";
import type { LimitMetrics, LimitName } from "../domain/ports/metrics.ts";

/** Reports a limit being reached; `fields` go to the log line, if one is written. */
export type ReportLimit = (limit: LimitName, fields?: LogFields) => void;

/** Settings of a {@link LimitReporter}. */
export interface LimitReporterOptions {
  readonly metrics: LimitMetrics;
  readonly logger: Logger;
  readonly clock: Clock;
  /** At most one log line per limit this often (default 10 s). */
  readonly logIntervalMs?: number;
}

/** Counts limit hits and logs them, sparingly. */
export class LimitReporter {
  readonly #options: LimitReporterOptions;
  /** Per limit: when a line was last written, and the hits since that were not. */
  readonly #logged = new Map<LimitName, { at: number; suppressed: number }>();

  constructor(options: LimitReporterOptions) {
    this.#options = options;
  }

  /** `limit` was reached. */
  readonly hit: ReportLimit = (limit, fields = {}) => {
    const { metrics, logger, clock, logIntervalMs = 10_000 } = this.#options;
    metrics.limitHit(limit);
    const now = clock.now();
    const last = this.#logged.get(limit);
    if (last !== undefined && now - last.at < logIntervalMs) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#logged.set(limit, { at: now, suppressed: 0 });
    logger.info("limit reached", {
      limit,
      ...fields,
      ...(suppressed > 0 ? { notLogged: suppressed } : {}),
    });
  };
}
