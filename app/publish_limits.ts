/**
 * Publish rates: a token bucket per node and one per sending server (the domain of the
 * publish IQ's `from`). A publish over either is answered `throttled`
 * (`wait/resource-constraint`): the user's server keeps the registration and only this
 * push is skipped. Checked before the node is looked up, so a flood costs no storage.
 *
 * @module
 */

import type { PublishOutcome, PublishRequest } from "../domain/publish.ts";
import type { Clock } from "../domain/ports/clock.ts";
import type { ReportLimit } from "./limit_reporter.ts";
import { shortId } from "./log_ids.ts";
import { KeyedRateLimiter, type Rate } from "./rate_limiter.ts";

/** Settings of {@link PublishLimits}. */
export interface PublishLimitsOptions {
  readonly perNode: Rate;
  readonly perServer: Rate;
  /** Nodes, and servers, tracked at once (see `KeyedRateLimiter`). */
  readonly maxKeys: number;
  readonly clock: Clock;
  readonly report: ReportLimit;
}

/** Publish rates per node and per sending server. */
export class PublishLimits {
  readonly #report: ReportLimit;
  readonly #nodes: KeyedRateLimiter<string>;
  readonly #servers: KeyedRateLimiter<string>;

  constructor(options: PublishLimitsOptions) {
    const { maxKeys, clock } = options;
    this.#report = options.report;
    this.#nodes = new KeyedRateLimiter({ rate: options.perNode, maxKeys, clock });
    this.#servers = new KeyedRateLimiter({ rate: options.perServer, maxKeys, clock });
  }

  /** The `throttled` outcome when `request` is over a rate, else null (go ahead). */
  check(request: PublishRequest): PublishOutcome | null {
    // A publish without a sender (client mode's PEP events) has no server to count against.
    if (request.from !== undefined && !this.#servers.take(request.from)) {
      this.#report("publishes_per_server", { server: request.from });
      return { kind: "throttled", reason: "too many publishes from your server: slow down" };
    }
    if (!this.#nodes.take(request.node)) {
      this.#report("publishes_per_node", { node: shortId(request.node) });
      return { kind: "throttled", reason: "too many publishes for this node: slow down" };
    }
    return null;
  }
}
