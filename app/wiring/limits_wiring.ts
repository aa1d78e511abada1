/**
 * The limits from `config.limits`: publish rates (per node, per sending server) and the
 * rates and caps on new registrations, with the counter of live registrations they use.
 *
 * @module
 */

import type { Clock } from "../../domain/ports/clock.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import type { RegistrationStore } from "../../domain/ports/storage.ts";
import type { Config } from "../config.ts";
import type { ReportLimit } from "../limit_reporter.ts";
import { PublishLimits } from "../publish_limits.ts";
import { RegistrationCounter, RegistrationLimits } from "../registration_limits.ts";

/** What the limits are wired with besides the configuration. */
export interface LimitsDeps {
  readonly store: Pick<RegistrationStore, "count">;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly report: ReportLimit;
}

/** The publish rates of `limits.xmpp`. */
export function publishLimitsFor(limits: Config["limits"], deps: LimitsDeps): PublishLimits {
  return new PublishLimits({
    perNode: limits.xmpp.publishesPerNode,
    perServer: limits.xmpp.publishesPerServer,
    maxKeys: limits.trackedKeys,
    clock: deps.clock,
    report: deps.report,
  });
}

/** The limits of `limits.registrations`, and the counter they read (started by the caller). */
export function registrationLimitsFor(
  limits: Config["limits"],
  deps: LimitsDeps,
): { counter: RegistrationCounter; limits: RegistrationLimits } {
  const { store, clock, logger, report } = deps;
  const refreshMs = limits.registrations.countRefreshSeconds * 1000;
  const counter = new RegistrationCounter({ store, clock, logger, refreshMs });
  return {
    counter,
    limits: new RegistrationLimits({
      ...limits.registrations,
      maxPrefixes: limits.trackedKeys,
      counter,
      clock,
      report,
    }),
  };
}
