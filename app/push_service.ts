/**
 * The publish use case: a user's XMPP server published to a node; check it and push the
 * device. Transport-free: the XMPP adapters parse stanzas into `PublishRequest`s and turn
 * the returned outcome into an IQ answer.
 *
 * @module
 */

import { decidePublish, type PublishOutcome, type PublishRequest } from "../domain/publish.ts";
import type { Clock, Logger, RegistrationStore, WnsSender } from "../domain/ports.ts";
import type { NodeTarget } from "../domain/registration.ts";
import { shortId } from "./log_ids.ts";
import { PushCoalescer } from "./push_coalescer.ts";
import { SampledLog } from "./sampled_log.ts";

/** What the publish use case needs. */
export interface PushServiceDeps {
  readonly store: RegistrationStore;
  readonly wns: WnsSender;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Merges bursts for one account; without it every publish is sent on its own. */
  readonly coalescer?: PushCoalescer;
}

/**
 * Pushes are cached by WNS while the device is offline (only the latest is kept), for a
 * day: a device that was briefly away still learns it has messages.
 */
export const PUSH_CACHE_TTL_SECONDS = 24 * 60 * 60;

/** The publish use case. */
export class PushService {
  readonly #deps: PushServiceDeps;
  /** Refusals are a peer's to cause: a flood of them is logged as a few sampled lines. */
  readonly #refused: SampledLog;
  readonly #throttled: SampledLog;

  constructor(deps: PushServiceDeps) {
    this.#deps = deps;
    this.#refused = new SampledLog("publish refused", deps);
    this.#throttled = new SampledLog("push throttled", deps);
  }

  /** Logs how many refusals the sampled lines left out (at shutdown). */
  flushLogs(): void {
    this.#refused.flush();
    this.#throttled.flush();
  }

  /** Handles one publish; never throws. */
  async handlePublish(request: PublishRequest): Promise<PublishOutcome> {
    const { store, wns, clock, logger } = this.#deps;
    const node = shortId(request.node);
    let target: NodeTarget | null;
    try {
      target = await store.findNode(request.node, clock.now());
    } catch (error) {
      logger.warn("publish deferred: storage unavailable", { node, reason: String(error) });
      return { kind: "unavailable", reason: "storage unavailable" };
    }
    const decision = decidePublish(request, target);
    if (decision.kind === "refuse") {
      this.#refused.record(decision.outcome.kind, { node });
      return decision.outcome;
    }
    const { channelUri } = decision;
    const send = (payload: string) =>
      wns.sendRaw(channelUri, payload, { cache: true, ttlSeconds: PUSH_CACHE_TTL_SECONDS });
    const outcome = this.#deps.coalescer
      ? await this.#deps.coalescer.submit(
        `${target?.accountId}\n${channelUri}`,
        decision.payload,
        send,
      )
      : await send(decision.payload);
    const device = target ? shortId(target.deviceId) : undefined;
    switch (outcome.kind) {
      case "delivered":
        // Debug: one line per push is the busiest line of the server (info logs what fails).
        logger.debug("pushed", { node, device, wnsStatus: outcome.wnsStatus });
        return { kind: "pushed" };
      case "channel-gone":
        // The device must register a new channel; until then its nodes are dead ends.
        logger.info("channel gone", { node, device, status: outcome.status });
        if (target) {
          await store.forgetChannel(target.deviceId, decision.channelUri).catch((error) =>
            logger.warn("could not forget channel", { device, reason: String(error) })
          );
        }
        return { kind: "unknown-node" };
      case "throttled":
        this.#throttled.record("throttled", { node, device, reason: outcome.detail });
        return { kind: "throttled", reason: "push rate limited, try later" };
      case "failed":
        // Never a cancel here: the user's server would drop a registration that still works.
        logger.warn("push failed", {
          node,
          device,
          status: outcome.status,
          retryable: outcome.retryable,
          reason: outcome.detail,
        });
        return { kind: "unavailable", reason: "push service unavailable" };
    }
  }
}
