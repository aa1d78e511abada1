/**
 * {@link ServerMetrics} as Prometheus metrics, exposed in the text format by the operations
 * HTTP server (see `exposition.ts` for why not npm `prom-client`). Every labelled series is
 * created at zero up front, so a scrape shows it (and `rate()` works) before the first
 * event.
 *
 * @module
 */

import process from "node:process";
import type { AppRegistrationCount } from "../../domain/ports/storage.ts";
import {
  type AppName,
  type DeviceAction,
  type DeviceRequestOutcome,
  LIMIT_NAMES,
  type LimitName,
  type PublishMetricOutcome,
  type Push2Outcome,
  type RegistrationLevels,
  type ServerMetrics,
} from "../../domain/ports/metrics.ts";
import { CONTENT_TYPE, Counter, Gauge, Histogram, Registry } from "./exposition.ts";

/** Options of {@link PrometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** Also export the process metrics (`process_*`: CPU, memory, start time, open files). */
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
  "channel-gone",
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
  readonly registry: Registry = new Registry();
  readonly #deviceRequests: Counter;
  readonly #publishes: Counter;
  readonly #wnsResponses: Counter;
  readonly #wnsDuration: Histogram;
  readonly #serviceResponses: Counter;
  readonly #push2: Counter;
  readonly #serviceDuration: Histogram;
  readonly #xmppUp: Gauge;
  readonly #xmppReconnects: Counter;
  readonly #xmppConnectFailures: Counter;
  readonly #storageErrors: Counter;
  readonly #tlsReloads: Counter;
  readonly #tlsExpiry: Gauge;
  readonly #limitHits: Counter;
  readonly #blockedTokens: Gauge;
  readonly #staleNodesRemoved: Counter;
  readonly #blockedTokenSources: {
    labels: { service: string; app: string };
    read: () => number;
  }[] = [];
  readonly #connectionSources: (() => number)[] = [];
  readonly #queueSources: (() => number)[] = [];
  #registrations: (() => RegistrationLevels) | undefined;
  readonly #appDevices: Gauge;
  readonly #appAccounts: Gauge;
  /** Every app the per-app gauges have shown, by service and app: 0 once a count leaves it out. */
  readonly #appsShown = new Map<string, AppName>();
  #appRegistrations: (() => readonly AppRegistrationCount[]) | undefined;

  constructor(options: PrometheusMetricsOptions = {}) {
    const r = this.registry;
    this.#deviceRequests = r.register(
      new Counter({
        name: "uwpx_push_device_requests_total",
        help: "Device requests answered, by action and outcome.",
        labelNames: ["action", "outcome"],
      }),
    );
    for (const action of DEVICE_ACTIONS) {
      for (const outcome of DEVICE_OUTCOMES) this.#deviceRequests.inc({ action, outcome }, 0);
    }
    this.#publishes = r.register(
      new Counter({
        name: "uwpx_push_publishes_total",
        help: "Publishes from users' XMPP servers answered, by outcome.",
        labelNames: ["outcome"],
      }),
    );
    for (const outcome of PUBLISH_OUTCOMES) this.#publishes.inc({ outcome }, 0);
    this.#wnsResponses = r.register(
      new Counter({
        name: "uwpx_push_wns_responses_total",
        help: 'Raw notifications sent to WNS, by HTTP status ("none": no answer).',
        labelNames: ["status"],
      }),
    );
    this.#wnsDuration = r.register(
      new Histogram({
        name: "uwpx_push_wns_request_duration_seconds",
        help: "Time to send one raw notification to WNS, access token included.",
        buckets: WNS_BUCKETS,
      }),
    );
    this.#serviceResponses = r.register(
      new Counter({
        name: "uwpx_push_service_responses_total",
        help:
          'Requests to FCM, APNs and Web Push services, by service, app and HTTP status ("none": no answer).',
        labelNames: ["service", "app", "status"],
      }),
    );
    this.#serviceDuration = r.register(
      new Histogram({
        name: "uwpx_push_service_request_duration_seconds",
        help: "Time of one request to FCM, APNs or a Web Push service, by service and app.",
        buckets: WNS_BUCKETS,
        labelNames: ["service", "app"],
      }),
    );
    this.#push2 = r.register(
      new Counter({
        name: "uwpx_push2_notifications_total",
        help: "Push 2.0 notifications received, by Web Push app and outcome.",
        labelNames: ["app", "outcome"],
      }),
    );
    this.#xmppUp = r.register(
      new Gauge({
        name: "uwpx_push_xmpp_link_up",
        help: "1 while the link to the XMPP server is up, else 0.",
      }),
    );
    this.#xmppUp.set(0);
    this.#xmppReconnects = r.register(
      new Counter({
        name: "uwpx_push_xmpp_reconnects_total",
        help: "Times the XMPP link came back up after it was lost.",
      }),
    );
    this.#xmppReconnects.inc({}, 0);
    this.#xmppConnectFailures = r.register(
      new Counter({
        name: "uwpx_push_xmpp_connect_failures_total",
        help: "Failed XMPP connection attempts.",
      }),
    );
    this.#xmppConnectFailures.inc({}, 0);
    this.#storageErrors = r.register(
      new Counter({
        name: "uwpx_push_storage_errors_total",
        help: "Storage calls that failed because the backend was unavailable, by operation.",
        labelNames: ["operation"],
      }),
    );
    this.#tlsReloads = r.register(
      new Counter({
        name: "uwpx_push_tls_reloads_total",
        help: "Loads of the device port's TLS certificate, by outcome.",
        labelNames: ["outcome"],
      }),
    );
    this.#tlsReloads.inc({ outcome: "ok" }, 0);
    this.#tlsReloads.inc({ outcome: "failed" }, 0);
    this.#tlsExpiry = r.register(
      new Gauge({
        name: "uwpx_push_tls_certificate_expiry_timestamp_seconds",
        help: "When the device port's TLS certificate expires (Unix time).",
      }),
    );
    this.#limitHits = r.register(
      new Counter({
        name: "uwpx_push_limit_hits_total",
        help: "Requests, publishes and connections refused or cut off by a limit, by limit.",
        labelNames: ["limit"],
      }),
    );
    for (const limit of LIMIT_NAMES) this.#limitHits.inc({ limit }, 0);
    this.#blockedTokens = r.register(
      new Gauge({
        name: "uwpx_push_blocked_tokens",
        help: "Device tokens refused as dead in the stateless dialect, by service and app.",
        labelNames: ["service", "app"],
      }),
    );
    this.#staleNodesRemoved = r.register(
      new Counter({
        name: "uwpx_push_stale_pep_nodes_removed_total",
        help: "Client mode: PEP nodes of expired registrations unsubscribed from and deleted.",
      }),
    );
    this.#staleNodesRemoved.inc({}, 0);
    const connectionSources = this.#connectionSources;
    r.register(
      new Gauge({
        name: "uwpx_push_device_connections",
        help: "Open device connections.",
        collect: () => sum(connectionSources),
      }),
    );
    const queueSources = this.#queueSources;
    r.register(
      new Gauge({
        name: "uwpx_push_queue_depth",
        help: "Pushes queued or in flight.",
        collect: () => sum(queueSources),
      }),
    );
    const level = (pick: (levels: RegistrationLevels) => number) => () => {
      try {
        return this.#registrations ? pick(this.#registrations()) : 0;
      } catch {
        return 0;
      }
    };
    for (
      const [name, help, pick] of [
        ["uwpx_push_registered_devices", "Live devices, as counted for the cap.", (l) => l.devices],
        [
          "uwpx_push_registered_accounts",
          "Live accounts, as counted for the cap.",
          (l) => l.accounts,
        ],
        [
          "uwpx_push_registered_devices_max",
          "The cap on live devices (0: none).",
          (l) => l.maxDevices,
        ],
        [
          "uwpx_push_registered_accounts_max",
          "The cap on live accounts (0: none).",
          (l) => l.maxAccounts,
        ],
      ] as const satisfies readonly (readonly [string, string, (l: RegistrationLevels) => number])[]
    ) {
      r.register(new Gauge({ name, help, collect: level(pick) }));
    }
    this.#appDevices = r.register(
      new Gauge({
        name: "uwpx_push_registered_devices_by_app",
        help: "Live devices by service and app, as of the last count of the store.",
        labelNames: ["service", "app"],
      }),
    );
    this.#appAccounts = r.register(
      new Gauge({
        name: "uwpx_push_registered_accounts_by_app",
        help: "Live accounts by service and app, as of the last count of the store.",
        labelNames: ["service", "app"],
      }),
    );
    if (options.processMetrics) registerProcessMetrics(r);
  }

  /** The Content-Type of {@link text}. */
  get contentType(): string {
    return CONTENT_TYPE;
  }

  /** Every metric in the Prometheus text format. */
  text(): Promise<string> {
    for (const { labels, read } of this.#blockedTokenSources) {
      this.#blockedTokens.set(sum([read]), labels);
    }
    this.#collectAppRegistrations();
    return Promise.resolve(this.registry.text());
  }

  staleNodesRemoved(count: number): void {
    this.#staleNodesRemoved.inc({}, count);
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

  pushServiceResponse(service: string, app: string, status: number | null, seconds: number): void {
    this.#serviceResponses.inc({ service, app, status: status === null ? "none" : String(status) });
    this.#serviceDuration.observe(seconds, { service, app });
  }

  push2Notification(app: string, outcome: Push2Outcome): void {
    this.#push2.inc({ app, outcome });
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

  limitHit(limit: LimitName): void {
    this.#limitHits.inc({ limit });
  }

  observeBlockedTokens(service: string, app: string, read: () => number): void {
    const labels = { service, app };
    this.#blockedTokenSources.push({ labels, read });
    this.#blockedTokens.set(0, labels);
  }

  observeRegistrations(read: () => RegistrationLevels): void {
    this.#registrations = read;
  }

  observeAppRegistrations(
    apps: readonly AppName[],
    read: () => readonly AppRegistrationCount[],
  ): void {
    this.#appRegistrations = read;
    for (const { service, app } of apps) this.#showApp({ service, app }, 0, 0);
  }

  /** Sets the per-app gauges from the last count; apps it leaves out go to 0. */
  #collectAppRegistrations(): void {
    if (!this.#appRegistrations) return;
    let counted: readonly AppRegistrationCount[];
    try {
      counted = this.#appRegistrations();
    } catch {
      // As the other gauges read: a failing source is 0.
      counted = [];
    }
    const left = new Set(this.#appsShown.keys());
    for (const { service, app, devices, accounts } of counted) {
      left.delete(this.#showApp({ service, app }, devices, accounts));
    }
    for (const key of left) this.#showApp(this.#appsShown.get(key)!, 0, 0);
  }

  /** Sets one app's per-app gauges; returns its key in {@link #appsShown}. */
  #showApp(labels: AppName, devices: number, accounts: number): string {
    const key = JSON.stringify([labels.service, labels.app]);
    this.#appsShown.set(key, labels);
    this.#appDevices.set(devices, { service: labels.service, app: labels.app });
    this.#appAccounts.set(accounts, { service: labels.service, app: labels.app });
    return key;
  }
}

/** The usual `process_*` metrics, as far as Deno tells them. */
function registerProcessMetrics(registry: Registry): void {
  const startedAt = Math.floor(performance.timeOrigin / 1000);
  registry.register(
    new Gauge({
      name: "process_start_time_seconds",
      help: "Start time of the process since the Unix epoch, in seconds.",
      collect: () => startedAt,
    }),
  );
  registry.register(
    new Counter({
      name: "process_cpu_seconds_total",
      help: "User and system CPU time spent, in seconds.",
      collect: () => {
        const { user, system } = process.cpuUsage();
        return (user + system) / 1e6;
      },
    }),
  );
  registry.register(
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory size, in bytes.",
      collect: () => Deno.memoryUsage().rss,
    }),
  );
  registry.register(
    new Gauge({
      name: "process_heap_bytes",
      help: "JavaScript heap in use, in bytes.",
      collect: () => Deno.memoryUsage().heapUsed,
    }),
  );
  registry.register(
    new Gauge({
      name: "process_open_fds",
      help: "Open file descriptors (Linux; NaN elsewhere).",
      collect: openFds,
    }),
  );
}

function openFds(): number {
  try {
    let count = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) count++;
    return count - 1; // The directory handle being read.
  } catch {
    return NaN;
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
