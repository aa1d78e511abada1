/**
 * The flood bound on ad-hoc commands (registrations by command): a token bucket per sending
 * server (the domain of the command's `from`), at the rate publishes per server have
 * (`limits.xmpp.publishesPerServer`): a server that floods commands hears
 * `wait/resource-constraint`, and no storage is touched for them.
 *
 * @module
 */

import type { Clock } from "../domain/ports/clock.ts";
import type { ReportLimit } from "./limit_reporter.ts";
import { KeyedRateLimiter, type Rate } from "./rate_limiter.ts";

/** Settings of {@link CommandLimits}. */
export interface CommandLimitsOptions {
  readonly perServer: Rate;
  /** Servers tracked at once (see `KeyedRateLimiter`). */
  readonly maxKeys: number;
  readonly clock: Clock;
  readonly report: ReportLimit;
}

/** Command rates per sending server. */
export class CommandLimits {
  readonly #servers: KeyedRateLimiter<string>;
  readonly #report: ReportLimit;

  constructor(options: CommandLimitsOptions) {
    const { perServer: rate, maxKeys, clock } = options;
    this.#servers = new KeyedRateLimiter({ rate, maxKeys, clock });
    this.#report = options.report;
  }

  /** Whether a command from `server` may go on now (the door's `admit`). */
  readonly admit = (server: string): boolean => {
    if (this.#servers.take(server)) return true;
    this.#report("commands_per_server", { server });
    return false;
  };
}
