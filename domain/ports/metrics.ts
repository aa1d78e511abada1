/**
 * The metrics port: what the server counts, as the use cases and adapters see it: one method per event, no
 * metric library in sight. `adapters/metrics/prometheus_metrics.ts` turns these calls into
 * Prometheus metrics; {@link NO_METRICS} ignores them (tests, and every constructor's
 * default, so that code built without metrics keeps working).
 *
 * Labels are small closed sets (or HTTP status codes): never an id, a node, a JID or a URI.
 *
 * @module
 */

import type { AppRegistrationCount } from "./storage.ts";

/** The device requests, as the device protocol names them; `invalid` for unparsable frames. */
export type DeviceAction =
  | "set_channel_uri"
  | "set_push_accounts"
  | "request_test_push"
  | "invalid";

/**
 * How a device request ended: `ok`; `refused` (bad input, unknown device, WNS refused the
 * test push...: the device must change something); `unavailable` (storage down: try later);
 * `error` (a bug).
 */
export type DeviceRequestOutcome = "ok" | "refused" | "unavailable" | "error";

/**
 * How a publish from a user's server ended: the publish use case's outcome kinds, plus
 * `throttled` for a delivery pipeline that sheds load.
 */
export type PublishMetricOutcome =
  | "pushed"
  | "unknown-node"
  | "channel-gone"
  | "forbidden"
  | "bad-request"
  | "unavailable"
  | "throttled";

/** Device-side events (`app/use_cases/device_service.ts`, `adapters/device/`). */
export interface DeviceMetrics {
  /** One device request answered. */
  deviceRequest(action: DeviceAction, outcome: DeviceRequestOutcome): void;
  /** Reads the number of open device connections when metrics are collected. */
  observeDeviceConnections(read: () => number): void;
}

/** Publish-side events (the publish use case and its queue). */
export interface PublishMetrics {
  /** One publish answered. */
  publish(outcome: PublishMetricOutcome): void;
  /** Reads how many pushes are queued or in flight when metrics are collected. */
  observeQueueDepth(read: () => number): void;
}

/** WNS events (around any `WnsSender`). */
export interface WnsMetrics {
  /**
   * One raw notification sent: `status` is WNS's HTTP status, or null when there was no
   * answer (timeout, network, no token); `seconds` is how long the send took, token
   * included.
   */
  wnsResponse(status: number | null, seconds: number): void;
}

/** Requests to push services, per service and app (FCM, APNs, Web Push; WNS has its own). */
export interface PushServiceMetrics {
  /**
   * One request to a push service answered: `status` is its HTTP status, or null when there
   * was no answer (timeout, network, no access token); `seconds` is how long it took.
   */
  pushServiceResponse(service: string, app: string, status: number | null, seconds: number): void;
}

/**
 * How a Push 2.0 notification (`urn:xmpp:push2:0`) ended: `relayed`; `gone` (the client's
 * subscription is gone); `wait` (throttled, 5xx, timeouts, our limits: the user's server
 * retries); `refused` (bad notification, refused JWT, endpoint not allowed, too large);
 * `no-app` (no Web Push app to relay it).
 */
export type Push2Outcome = "relayed" | "gone" | "wait" | "refused" | "no-app";

/** Push 2.0 notifications relayed (`app/wiring/push2_wiring.ts`). */
export interface Push2Metrics {
  /** One notification of app `app` ("" when none) ended as `outcome`. */
  push2Notification(app: string, outcome: Push2Outcome): void;
}

/** The XMPP link (component or client). */
export interface XmppLinkMetrics {
  /** The link went up (true) or down (false). */
  xmppLinkState(up: boolean): void;
  /** The link came back up after it had been lost. */
  xmppReconnected(): void;
  /** One connection attempt failed. */
  xmppConnectFailed(): void;
}

/** Storage events (around any `RegistrationStore`). */
export interface StorageMetrics {
  /** A store call failed because the backend was unavailable. `operation`: the method. */
  storageError(operation: string): void;
}

/** The device port's TLS certificate. */
export interface TlsMetrics {
  /** A certificate (re)load: `ok`, or `failed` (the old certificate stays in use). */
  tlsReload(outcome: "ok" | "failed"): void;
  /** The certificate in use expires at `epochMs`. */
  tlsCertificateExpiry(epochMs: number): void;
}

/**
 * The limits that protect the server (see the README's Limits section): device port
 * connections, timeouts and request rates, publish rates, stanza size, and publishes for
 * unknown nodes answered from the negative cache instead of storage.
 */
export type LimitName =
  | "connections"
  | "connections_per_address"
  | "connections_per_prefix"
  | "connection_evicted"
  | "handshake_timeout"
  | "frame_timeout"
  | "idle_timeout"
  | "frame_size"
  | "accounts_per_device"
  | "requests_per_connection"
  | "requests_per_device"
  | "publishes_per_node"
  | "publishes_per_server"
  | "commands_per_server"
  | "push2_per_server"
  | "new_devices_per_prefix"
  | "new_accounts_per_prefix"
  | "new_registrations_per_jid"
  | "registrations_full"
  | "stanza_size"
  | "unknown_node_cache"
  | "stateless_token_rate"
  | "stateless_dead_token";

/** Every {@link LimitName}, for metrics that show each one from the start. */
export const LIMIT_NAMES: readonly LimitName[] = [
  "connections",
  "connections_per_address",
  "connections_per_prefix",
  "connection_evicted",
  "handshake_timeout",
  "frame_timeout",
  "idle_timeout",
  "frame_size",
  "accounts_per_device",
  "requests_per_connection",
  "requests_per_device",
  "publishes_per_node",
  "publishes_per_server",
  "commands_per_server",
  "push2_per_server",
  "new_devices_per_prefix",
  "new_accounts_per_prefix",
  "new_registrations_per_jid",
  "registrations_full",
  "stanza_size",
  "unknown_node_cache",
  "stateless_token_rate",
  "stateless_dead_token",
];

/** Limits reached. */
export interface LimitMetrics {
  /** Something was refused, cut off or answered early because of `limit`. */
  limitHit(limit: LimitName): void;
}

/** The protections of stateless publishes (fpush's dialect: node = device token). */
export interface StatelessMetrics {
  /** Reads how many device tokens `service`'s `app` holds blocked as dead, at each collection. */
  observeBlockedTokens(service: string, app: string, read: () => number): void;
}

/** Live registrations as counted for the global caps, and the caps (0: none). */
export interface RegistrationLevels {
  readonly devices: number;
  readonly accounts: number;
  readonly maxDevices: number;
  readonly maxAccounts: number;
}

/** Registrations (`app/registration_limits.ts`). */
export interface RegistrationMetrics {
  /** Reads the registration levels when metrics are collected. */
  observeRegistrations(read: () => RegistrationLevels): void;
  /**
   * Reads live registrations per app (as of the store's last count) when metrics are
   * collected; each of `apps` (the configured ones) shows, at 0 while it has none.
   */
  observeAppRegistrations(
    apps: readonly AppName[],
    read: () => readonly AppRegistrationCount[],
  ): void;
}

/** A push service's app, as metrics label it. */
export interface AppName {
  readonly service: string;
  readonly app: string;
}

/** Client mode's sweep of stale PEP nodes (`app/use_cases/stale_node_sweep.ts`). */
export interface StaleNodeMetrics {
  /** `count` stale nodes were torn down (unsubscribed from and deleted). */
  staleNodesRemoved(count: number): void;
}

/** Everything the server counts. */
export interface ServerMetrics
  extends
    DeviceMetrics,
    PublishMetrics,
    WnsMetrics,
    PushServiceMetrics,
    Push2Metrics,
    XmppLinkMetrics,
    StorageMetrics,
    TlsMetrics,
    LimitMetrics,
    StatelessMetrics,
    RegistrationMetrics,
    StaleNodeMetrics {}

/** Metrics that go nowhere. */
export const NO_METRICS: ServerMetrics = Object.freeze({
  deviceRequest() {},
  observeDeviceConnections() {},
  publish() {},
  observeQueueDepth() {},
  wnsResponse() {},
  pushServiceResponse() {},
  push2Notification() {},
  xmppLinkState() {},
  xmppReconnected() {},
  xmppConnectFailed() {},
  storageError() {},
  tlsReload() {},
  tlsCertificateExpiry() {},
  limitHit() {},
  observeBlockedTokens() {},
  observeRegistrations() {},
  staleNodesRemoved() {},
  observeAppRegistrations() {},
});
