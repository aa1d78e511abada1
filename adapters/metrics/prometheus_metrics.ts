/**
 * {@link ServerMetrics} as Prometheus metrics (npm `prom-client`, which runs on Deno's Node
 * compatibility), exposed in the text format by the operations HTTP server. Every labelled
 * series is created at zero up front, so a scrape shows it (and `rate()` works) before the
 * first event.
 *
 * @module
 */

import client from "prom-client";
import type {
  DeviceAction,
  DeviceRequestOutcome,
  PublishMetricOutcome,
  ServerMetrics,
} from "../../app/metrics.ts";

/** Options of {@link PrometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** Also export the process metrics (`process_*`, `nodejs_*`: CPU, memory, event loop). */
  readonly processMetrics?: boolean;
}

const DEVICE_ACTIONS: readonly DeviceAction[] = [
  "set_channel_uri",
  "set_push_accounts",
  "request_test_push",
  "invalid",
];
const DEVICE_OUTCOMES: readonly DeviceRequestOutcome[] = ["ok", "refused", "unavailable", "error"];
const PUBLISH_OUTCOMES: readonly PublishMetricOutcome[] = [
  "pushed",
  "unknown-node",
  "forbidden",
  "bad-request",
  "unavailable",
  "throttled",
];
/** WNS answers are fast when healthy; the request timeout is 10 s by default. */
const WNS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The metrics, in a registry of their own. */
export class PrometheusMetrics implements ServerMetrics {
  /** The registry to expose. */
  readonly registry: client.Registry = new client.Registry();
  readonly #deviceRequests: client.Counter<"action" | "outcome">;
  readonly #publishes: client.Counter<"outcome">;
  readonly #wnsResponses: client.Counter<"status">;
  readonly #wnsDuration: client.Histogram<string>;
  readonly #xmppUp: client.Gauge<string>;
  readonly #xmppReconnects: client.Counter<string>;
  readonly #xmppConnectFailures: client.Counter<string>;
  readonly #storageErrors: client.Counter<"operation">;
  readonly #tlsReloads: client.Counter<"outcome">;
  readonly #tlsExpiry: client.Gauge<string>;
  readonly #connectionSources: (() => number)[] = [];
  readonly #queueSources: (() => number)[] = [];

  constructor(options: PrometheusMetricsOptions = {}) {
    const registers = [this.registry];
    this.#deviceRequests = new client.Counter({
      name: "uwpx_push_device_requests_total",
      help: "Device requests answered, by action and outcome.",
      labelNames: ["action", "outcome"],
      registers,
    });
    for (const action of DEVICE_ACTIONS) {
      for (const outcome of DEVICE_OUTCOMES) this.#deviceRequests.inc({ action, outcome }, 0);
    }
    this.#publishes = new client.Counter({
      name: "uwpx_push_publishes_total",
      help: "Publishes from users' XMPP servers answered, by outcome.",
      labelNames: ["outcome"],
      registers,
    });
    for (const outcome of PUBLISH_OUTCOMES) this.#publishes.inc({ outcome }, 0);
    this.#wnsResponses = new client.Counter({
      name: "uwpx_push_wns_responses_total",
      help: 'Raw notifications sent to WNS, by HTTP status ("none": no answer).',
      labelNames: ["status"],
      registers,
    });
    this.#wnsDuration = new client.Histogram({
      name: "uwpx_push_wns_request_duration_seconds",
      help: "Time to send one raw notification to WNS, access token included.",
      buckets: WNS_BUCKETS,
      registers,
    });
    this.#xmppUp = new client.Gauge({
      name: "uwpx_push_xmpp_link_up",
      help: "1 while the link to the XMPP server is up, else 0.",
      registers,
    });
    this.#xmppUp.set(0);
    this.#xmppReconnects = new client.Counter({
      name: "uwpx_push_xmpp_reconnects_total",
      help: "Times the XMPP link came back up after it was lost.",
      registers,
    });
    this.#xmppConnectFailures = new client.Counter({
      name: "uwpx_push_xmpp_connect_failures_total",
      help: "Failed XMPP connection attempts.",
      registers,
    });
    this.#storageErrors = new client.Counter({
      name: "uwpx_push_storage_errors_total",
      help: "Storage calls that failed because the backend was unavailable, by operation.",
      labelNames: ["operation"],
      registers,
    });
    this.#tlsReloads = new client.Counter({
      name: "uwpx_push_tls_reloads_total",
      help: "Loads of the device port's TLS certificate, by outcome.",
      labelNames: ["outcome"],
      registers,
    });
    this.#tlsReloads.inc({ outcome: "ok" }, 0);
    this.#tlsReloads.inc({ outcome: "failed" }, 0);
    this.#tlsExpiry = new client.Gauge({
      name: "uwpx_push_tls_certificate_expiry_timestamp_seconds",
      help: "When the device port's TLS certificate expires (Unix time).",
      registers,
    });
    const connectionSources = this.#connectionSources;
    new client.Gauge({
      name: "uwpx_push_device_connections",
      help: "Open device connections.",
      registers,
      collect() {
        this.set(sum(connectionSources));
      },
    });
    const queueSources = this.#queueSources;
    new client.Gauge({
      name: "uwpx_push_queue_depth",
      help: "Pushes queued or in flight.",
      registers,
      collect() {
        this.set(sum(queueSources));
      },
    });
    if (options.processMetrics) client.collectDefaultMetrics({ register: this.registry });
  }

  /** The Content-Type of {@link text}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in the Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  deviceRequest(action: DeviceAction, outcome: DeviceRequestOutcome): void {
    this.#deviceRequests.inc({ action, outcome });
  }

  observeDeviceConnections(read: () => number): void {
    this.#connectionSources.push(read);
  }

  publish(outcome: PublishMetricOutcome): void {
    this.#publishes.inc({ outcome });
  }

  observeQueueDepth(read: () => number): void {
    this.#queueSources.push(read);
  }

  wnsResponse(status: number | null, seconds: number): void {
    this.#wnsResponses.inc({ status: status === null ? "none" : String(status) });
    this.#wnsDuration.observe(seconds);
  }

  xmppLinkState(up: boolean): void {
    this.#xmppUp.set(up ? 1 : 0);
  }

  xmppReconnected(): void {
    this.#xmppReconnects.inc();
  }

  xmppConnectFailed(): void {
    this.#xmppConnectFailures.inc();
  }

  storageError(operation: string): void {
    this.#storageErrors.inc({ operation });
  }

  tlsReload(outcome: "ok" | "failed"): void {
    this.#tlsReloads.inc({ outcome });
  }

  tlsCertificateExpiry(epochMs: number): void {
    this.#tlsExpiry.set(Math.floor(epochMs / 1000));
  }
}

/** Sums the sources; one that throws counts as 0 rather than failing the scrape. */
function sum(sources: readonly (() => number)[]): number {
  let total = 0;
  for (const read of sources) {
    try {
      const value = read();
      if (Number.isFinite(value)) total += value;
    } catch {
      // A source that cannot answer (closed) has nothing to report.
    }
  }
  return total;
}
