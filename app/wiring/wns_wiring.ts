/**
 * Builds the WNS side from the configuration: token source (classic or Entra flow), the
 * WNS adapter (single-attempt HTTP sender on a kept-alive HTTP/1.1 client, behind the
 * delivery port), and the shared delivery policy in front of it (in-flight bounds in all,
 * per host and per channel, a bounded queue with a longest wait, per-channel backoff,
 * bounded retries).
 *
 * @module
 */

import type { Clock } from "../../domain/ports/clock.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import type { PushDelivery } from "../../domain/ports/push_delivery.ts";
import type { WnsSender } from "../../adapters/push/wns/wns_sender.ts";
import type { RegistrationStore } from "../../domain/ports/storage.ts";
import type { ConcurrencyGate } from "../delivery/concurrency_gate.ts";
import { PolicyDelivery } from "../delivery/delivery_policy.ts";
import { boundedPolicy } from "../delivery/bounded_policy.ts";
import { Http1Client } from "../../adapters/push/wns/http1_client.ts";
import { HttpWnsSender } from "../../adapters/push/wns/http_wns_sender.ts";
import { WnsPushDelivery } from "../../adapters/push/wns/wns_push_delivery.ts";
import {
  CLASSIC_SCOPE,
  ENTRA_SCOPE,
  WnsTokenSource,
} from "../../adapters/push/wns/wns_token_source.ts";
import type { UwpxConfig } from "../config.ts";
import { MeteredWnsSender } from "../metered.ts";
import { NO_METRICS, type WnsMetrics } from "../../domain/ports/metrics.ts";

/** The WNS delivery the use cases get (the shared policy in front), and what it holds open. */
export interface WnsDelivery {
  readonly delivery: PushDelivery;
  /** Requests in flight and waiting, for metrics and shutdown. */
  readonly gate: ConcurrencyGate;
  /** The access token source: readiness asks it whether a token can be had. */
  readonly tokens: WnsTokenSource;
  close(): void;
}

/** The WNS side of a server: the configured one, or a test's sender as it is. */
export type ServerWns =
  & Omit<WnsDelivery, "gate" | "tokens">
  & { readonly gate: ConcurrencyGate | null; readonly tokens: WnsTokenSource | null };

/**
 * {@link createWnsDelivery} for `config`, or, when a test hands `sender` (a fake WNS in
 * memory), that sender metered behind the delivery port, without policy or token.
 */
export function serverWns(
  config: UwpxConfig["wns"],
  deps: { store: RegistrationStore; clock: Clock; logger: Logger; metrics: WnsMetrics },
  sender?: WnsSender,
): ServerWns {
  const { store, clock, logger, metrics } = deps;
  if (sender === undefined) return createWnsDelivery(config, store, clock, logger, metrics);
  const delivery = new WnsPushDelivery(new MeteredWnsSender(sender, metrics));
  return { delivery, gate: null, tokens: null, close() {} };
}

/** Wires the WNS delivery for `config`. */
export function createWnsDelivery(
  config: UwpxConfig["wns"],
  store: RegistrationStore,
  clock: Clock,
  logger: Logger,
  metrics: WnsMetrics = NO_METRICS,
): WnsDelivery {
  const requestTimeoutMs = config.requestTimeoutSeconds * 1000;
  const flow = config.token;
  const tokens = new WnsTokenSource({
    tokenUrl: flow.tokenUrl,
    packetId: flow.flow === "entra" ? flow.appId : flow.packetId,
    clientSecret: config.clientSecret,
    scope: flow.flow === "entra" ? ENTRA_SCOPE : CLASSIC_SCOPE,
    store,
    clock,
    logger,
    requestTimeoutMs,
  });
  // Our own HTTP/1.1 client rather than fetch: a push costs a fraction of the CPU.
  const client = new Http1Client({ maxIdlePerOrigin: config.maxInFlight });
  const post = client.post.bind(client);
  const { policy, gate } = boundedPolicy(
    { ...config, maxInFlightPerTarget: config.maxInFlightPerChannel },
    { clock, logger },
  );
  // Metered per HTTP request: each attempt's status and latency, retries included.
  const http = new MeteredWnsSender(
    new HttpWnsSender({ tokens, logger, requestTimeoutMs, post }),
    metrics,
  );
  const delivery = new PolicyDelivery(new WnsPushDelivery(http), policy);
  return { delivery, gate, tokens, close: () => client.close() };
}
