/**
 * The publish use case: a user's XMPP server published to a node; check it and push the
 * device. Transport-free: the XMPP adapters parse stanzas into `PublishRequest`s and turn
 * the returned outcome into an IQ answer.
 *
 * @module
 */

import {
  decidePublish,
  type PublishOutcome,
  type PublishRequest,
  pushNotification,
} from "../../domain/publish.ts";
import type { Clock } from "../../domain/ports/clock.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import type { RegistrationStore } from "../../domain/ports/storage.ts";
import type {
  StatelessResolution,
  StatelessTargets,
} from "../../domain/ports/stateless_targets.ts";
import type {
  DeliveryOutcome,
  Notification,
  PushDelivery,
} from "../../domain/ports/push_delivery.ts";
import {
  DEFAULT_REGISTRATION_POLICY,
  expiryFrom,
  goneChannelExpiry,
  type NodeTarget,
  pushRenews,
  type RegistrationPolicy,
} from "../../domain/registration.ts";
import { GoneChannels } from "../gone_channels.ts";
import { shortId } from "../log_ids.ts";
import { PushCoalescer } from "../delivery/push_coalescer.ts";
import { type PushTarget, targetKey } from "../../domain/push_target.ts";
import { SampledLog } from "../sampled_log.ts";

/** What the publish use case needs. */
export interface PushServiceDeps {
  readonly store: RegistrationStore;
  /** Sends the pushes, whatever the target's push service. */
  readonly delivery: PushDelivery;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * Merges bursts for one account (a stateless publish: for one token); without it every
   * publish is sent on its own.
   */
  readonly coalescer?: PushCoalescer;
  /** The coalescing window of a target's app (default: the coalescer's own window). */
  readonly coalesceWindowMs?: (target: PushTarget) => number;
  /**
   * What a gone target means for its registration (default: `pause`, WNS's). `pause`: the
   * device sends a new address by itself (the UWPX client does), so its nodes wait for it
   * and publishes are answered `wait`. `end`: the address is dead for good (an FCM token
   * UNREGISTERED or invalid) and the app registers again by itself (Conversations does at
   * each connection): the registration ends now and the publish is answered
   * `cancel/item-not-found`, as every later one.
   */
  readonly whenGone?: (target: PushTarget) => "pause" | "end";
  /** Lifetime and grace period; the defaults (210 and 30 days) when absent. */
  readonly policy?: RegistrationPolicy;
  /** Addresses their service called gone, shared with the device use cases; private by default. */
  readonly goneChannels?: GoneChannels;
  /**
   * Publishes that need no registration (fpush's dialect: node = device token, the app named
   * by `pushModule`); without it every publish needs a stored node.
   */
  readonly stateless?: StatelessTargets;
  /**
   * Whether `target`'s app shows the published message's text (APNs `includeMessageBody`);
   * without it, or when it says no, the text goes to no push service.
   */
  readonly showsMessageBody?: (target: PushTarget) => boolean;
}

/**
 * Pushes are kept by the push service while the device is offline (WNS keeps the latest),
 * for a day: a device that was briefly away still learns it has messages.
 */
export const PUSH_CACHE_TTL_SECONDS = 24 * 60 * 60;

/** The publish use case. */
export class PushService {
  readonly #deps: PushServiceDeps;
  readonly #policy: RegistrationPolicy;
  readonly #gone: GoneChannels;
  /** Devices whose renewal is being written: a burst of pushes renews once. */
  readonly #renewing = new Set<string>();
  /** Refusals are a peer's to cause: a flood of them is logged as a few sampled lines. */
  readonly #refused: SampledLog;
  readonly #throttled: SampledLog;

  constructor(deps: PushServiceDeps) {
    this.#deps = deps;
    this.#policy = deps.policy ?? DEFAULT_REGISTRATION_POLICY;
    this.#gone = deps.goneChannels ?? new GoneChannels();
    this.#refused = new SampledLog("publish refused", deps);
    this.#throttled = new SampledLog("push throttled", deps);
  }

  /** Logs how many refusals the sampled lines left out (at shutdown). */
  flushLogs(): void {
    this.#refused.flush();
    this.#throttled.flush();
  }

  /** Renewals being written (for tests and shutdown). */
  get renewing(): number {
    return this.#renewing.size;
  }

  /** Handles one publish; never throws. */
  async handlePublish(request: PublishRequest): Promise<PublishOutcome> {
    const { store, delivery, clock, logger, stateless } = this.#deps;
    const node = shortId(request.node);
    // A publish that names its app needs no lookup: no registration exists for it.
    const named = stateless?.named(request) ?? null;
    if (named !== null) return await this.#pushStateless(request, named);
    let target: NodeTarget | null;
    try {
      target = await store.findNode(request.node, clock.now());
    } catch (error) {
      logger.warn("publish deferred: storage unavailable", { node, reason: String(error) });
      return { kind: "unavailable", reason: "storage unavailable" };
    }
    if (target === null && stateless !== undefined) {
      const unnamed = stateless.unnamed(request);
      if (unnamed !== null) return await this.#pushStateless(request, unnamed);
    }
    const decision = decidePublish(request, target);
    if (decision.kind === "refuse") {
      this.#refused.record(decision.outcome.kind, { node });
      return decision.outcome;
    }
    // A push decision always has a target: only a found node is pushed.
    const found = target as NodeTarget;
    // The stored target as it is: its service picks the adapter; gone-ness goes by address.
    const pushTarget = decision.target;
    const { address } = pushTarget;
    const notification = this.#deps.showsMessageBody?.(pushTarget)
      ? pushNotification(found.accountId, request, true)
      : decision.notification;
    const gone = this.#gone;
    // Checked again at sending: a merged trailing push must not follow a 404/410 either.
    const send = (notification: Notification): Promise<DeliveryOutcome> =>
      gone.has(address)
        ? Promise.resolve({ kind: "target-gone", status: 410 })
        : delivery.deliver(pushTarget, notification, { ttlSeconds: PUSH_CACHE_TTL_SECONDS });
    const { coalescer, coalesceWindowMs } = this.#deps;
    const outcome = coalescer
      ? await coalescer.submit(
        `${found.accountId}\n${targetKey(pushTarget)}`,
        notification,
        send,
        coalesceWindowMs?.(pushTarget) ?? coalescer.windowMs,
      )
      : await send(notification);
    const device = shortId(found.deviceId);
    const { service, app } = pushTarget;
    switch (outcome.kind) {
      case "delivered":
        // Debug: one line per push is the busiest line of the server (info logs what fails).
        logger.debug("pushed", { node, device, service, app, detail: outcome.detail });
        this.#renew(found, address);
        return { kind: "pushed" };
      case "target-gone":
        if (this.#deps.whenGone?.(pushTarget) === "end") {
          return await this.#end(request.node, found, pushTarget, outcome.status, node, device);
        }
        // A pause, not an end: the device sends a new channel by itself, and its nodes
        // deliver again. Until then (or the end of the grace period) the answer is `wait`.
        if (!gone.has(address)) {
          logger.info("channel gone", { node, device, service, app, status: outcome.status });
        }
        gone.add(address);
        await store.forgetChannel(
          found.deviceId,
          address,
          goneChannelExpiry(clock.now(), found.expiresAt, this.#policy),
        ).catch((error) =>
          logger.warn("could not forget channel", { device, reason: String(error) })
        );
        return { kind: "channel-gone" };
      case "throttled":
        this.#throttled.record("throttled", { node, device, service, app, reason: outcome.detail });
        return { kind: "throttled", reason: "push rate limited, try later" };
      case "failed":
        // Never a cancel here: the user's server would drop a registration that still works.
        logger.warn("push failed", {
          node,
          device,
          service,
          app,
          status: outcome.status,
          retryable: outcome.retryable,
          reason: outcome.detail,
        });
        return { kind: "unavailable", reason: "push service unavailable" };
    }
  }

  /**
   * A stateless publish: pushed to its token as its app, nothing stored or renewed. A dead
   * token is `unknown-node` (`cancel/item-not-found`: the user's server drops the dead
   * registration, and the client enables push again with its new token); every passing
   * failure is a `wait`.
   */
  async #pushStateless(
    request: PublishRequest,
    resolution: StatelessResolution,
  ): Promise<PublishOutcome> {
    const { delivery, logger } = this.#deps;
    // The node is a device token: only its start is ever logged.
    const node = shortId(request.node);
    if (resolution.kind === "refuse") {
      this.#refused.record(resolution.outcome.kind, { node });
      return resolution.outcome;
    }
    const { target } = resolution;
    const fields = { node, service: target.service, app: target.app };
    // No account behind a token: the app wakes and asks its own server what is new.
    const notification = pushNotification(
      "",
      request,
      this.#deps.showsMessageBody?.(target) ?? false,
    );
    // Merged before the resolution sends: a burst costs the token's rate what is sent.
    const send = (latest: Notification) =>
      resolution.send(() =>
        delivery.deliver(target, latest, { ttlSeconds: PUSH_CACHE_TTL_SECONDS })
      );
    const { coalescer, coalesceWindowMs } = this.#deps;
    const outcome = coalescer
      ? await coalescer.submit(
        // No account: one burst per token (a stored account's keys start with its id).
        `\n${targetKey(target)}`,
        notification,
        send,
        coalesceWindowMs?.(target) ?? coalescer.windowMs,
      )
      : await send(notification);
    switch (outcome.kind) {
      case "delivered":
        logger.debug("pushed", { ...fields, detail: outcome.detail });
        return { kind: "pushed" };
      case "target-gone":
        logger.info("device token gone", { ...fields, status: outcome.status });
        return { kind: "unknown-node" };
      case "throttled":
        this.#throttled.record("throttled", { ...fields, reason: outcome.detail });
        return { kind: "throttled", reason: "push rate limited, try later" };
      case "failed":
        logger.warn("push failed", {
          ...fields,
          status: outcome.status,
          retryable: outcome.retryable,
          reason: outcome.detail,
        });
        return { kind: "unavailable", reason: "push service unavailable" };
    }
  }

  /**
   * The target is dead for good and the app registers again by itself: the registration
   * ends at once (forgotten and expired, so its nodes answer unknown from now on) and the
   * user's server hears `cancel/item-not-found`. A registration that moved to another
   * address meanwhile (the app registered its new token while the push to the old one was
   * out: p2 keeps the node) is left as it is, and its node still delivers: then `wait`, a
   * cancel would make the user's server drop a working registration.
   */
  async #end(
    publishedNode: string,
    found: NodeTarget,
    target: PushTarget,
    status: number | null,
    node: string,
    device: string,
  ): Promise<PublishOutcome> {
    const { store, clock, logger } = this.#deps;
    const { address, service, app } = target;
    if (!this.#gone.has(address)) {
      logger.info("push target gone: registration ended", { node, device, service, app, status });
    }
    this.#gone.add(address);
    await store.forgetChannel(found.deviceId, address, clock.now()).catch((error) =>
      logger.warn("could not forget the push target", { device, reason: String(error) })
    );
    // Rare (a dead token), so one more read: does the node live on with another address?
    const now = await store.findNode(publishedNode, clock.now()).catch(() => null);
    if (now?.target && now.target.address !== address) {
      logger.info("push target gone, the registration has a new one", {
        node,
        device,
        service,
        app,
      });
      return { kind: "unavailable", reason: "the push target changed, try later" };
    }
    return { kind: "unknown-node" };
  }

  /**
   * A delivered push keeps the registration alive: renews it when that moves its expiry by
   * more than a day (so about once a day per device), in the background; a failed renewal
   * is only logged (the next push tries again).
   */
  #renew(target: NodeTarget, address: string): void {
    const { store, clock, logger } = this.#deps;
    const now = clock.now();
    if (!pushRenews(target.expiresAt, now, this.#policy)) return;
    if (this.#renewing.has(target.deviceId)) return;
    this.#renewing.add(target.deviceId);
    store.renew(target.deviceId, address, expiryFrom(now, this.#policy))
      .catch((error) =>
        logger.warn("could not renew registration", {
          device: shortId(target.deviceId),
          reason: String(error),
        })
      )
      .finally(() => this.#renewing.delete(target.deviceId));
  }
}
