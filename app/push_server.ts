/**
 * Wiring: builds the adapters a configuration names, connects them to the use cases, and
 * runs them as one server. `main.ts` (the CLI), the demo and the end-to-end tests all start
 * the server through here.
 *
 * @module
 */

import {
  WNS_SERVICE,
  WNS_TARGETS,
  WnsPushDelivery,
} from "../adapters/push/wns/wns_push_delivery.ts";
import { ServiceRouter } from "./delivery/service_router.ts";
import type { XmppLink } from "../domain/ports/xmpp_link.ts";
import type { Clock } from "../domain/ports/clock.ts";
import type { Logger } from "../domain/ports/logging.ts";
import type { WnsSender } from "../adapters/push/wns/wns_sender.ts";
import type { RegistrationStore } from "../domain/ports/storage.ts";
import type { NodeProvisioner } from "../domain/ports/xmpp_link.ts";
import type { RandomBytes } from "../domain/minting.ts";
import { registrationPolicy } from "../domain/registration.ts";
import { DeviceServer } from "../adapters/device/tls_device_server.ts";
import { OpsHttpServer } from "../adapters/http/ops_http_server.ts";
import { PrometheusMetrics } from "../adapters/metrics/prometheus_metrics.ts";
import { ComponentLink } from "../adapters/xmpp/component_link.ts";
import { ClientLink } from "../adapters/xmpp/client_link.ts";
import { PepProvisioner } from "../adapters/xmpp/pep_provisioner.ts";
import type { PublishHandler } from "../domain/ports/xmpp_link.ts";
import { CertificateReloader } from "./certificate_reloader.ts";
import type { Config } from "./config.ts";
import { DeviceService } from "./use_cases/device_service.ts";
import { DeviceRequestLimits } from "./device_limits.ts";
import { GoneChannels } from "./gone_channels.ts";
import { InFlight } from "./in_flight.ts";
import { LimitReporter } from "./limit_reporter.ts";
import { meteredStore, MeteredWnsSender } from "./metered.ts";
import type { LimitMetrics, PublishMetrics, XmppLinkMetrics } from "../domain/ports/metrics.ts";
import { openStore } from "./open_store.ts";
import { PublishLimits } from "./publish_limits.ts";
import { PushCoalescer } from "./delivery/push_coalescer.ts";
import { PushService } from "./use_cases/push_service.ts";
import { RegistrationCounter, RegistrationLimits } from "./registration_limits.ts";
import { SampledLog } from "./sampled_log.ts";
import {
  Readiness,
  type ReadinessCheck,
  storageCheck,
  wnsTokenCheck,
  xmppLinkCheck,
} from "./readiness.ts";
import { UnknownNodeCache, withUnknownNodeCache } from "./unknown_node_cache.ts";
import { createWnsDelivery } from "./wns_delivery.ts";

/** Everything a running push server holds. */
export interface PushServer {
  readonly config: Config;
  readonly store: RegistrationStore;
  readonly devices: DeviceServer;
  readonly link: XmppLink;
  readonly pushService: PushService;
  readonly deviceService: DeviceService;
  /** What the server counted; served on `/metrics` when `http` is configured. */
  readonly metrics: PrometheusMetrics;
  /** Storage, XMPP link, WNS token: served on `/readyz`. */
  readonly readiness: Readiness;
  /** The metrics and probes port, when `http` is configured. */
  readonly ops: OpsHttpServer | null;
  /** Loads the TLS certificate files again (SIGHUP); resolves whether they are in use. */
  reloadCertificate(): Promise<boolean>;
  /**
   * Shuts down gracefully: stops accepting devices and publishes (the latter are answered
   * `wait`), answers the device requests and publishes in progress, then closes the XMPP
   * link and the store. What is still in progress after `timeoutMs` (default:
   * `shutdownTimeoutSeconds`) is cut off.
   */
  close(timeoutMs?: number): Promise<void>;
}

/** Replaceable parts, for tests. */
export interface PushServerOverrides {
  readonly store?: RegistrationStore;
  readonly wns?: WnsSender;
  readonly clock?: Clock;
  readonly random?: RandomBytes;
}

/** Expired registrations are purged this often; reads hide them meanwhile. */
const PURGE_INTERVAL_MS = 60 * 60 * 1000;

/** Builds and starts a push server. The XMPP link connects in the background. */
export async function startPushServer(
  config: Config,
  logger: Logger,
  overrides: PushServerOverrides = {},
): Promise<PushServer> {
  if (config.xmpp.mode === "client" && !/^[^@/\s]+@[^@/\s]+$/.test(config.xmpp.bareJid)) {
    throw new Error("xmpp.bareJid: client mode needs the push account's bare JID (user@domain)");
  }
  const caFile = config.xmpp.mode === "client" ? config.xmpp.tls?.caFile : undefined;
  const xmppCa = caFile === undefined ? [] : [await Deno.readTextFile(caFile)];
  const [cert, key] = await Promise.all([
    Deno.readTextFile(config.tcp.tls.serverCertPath),
    Deno.readTextFile(config.tcp.tls.serverKeyPath),
  ]);
  const clock = overrides.clock ?? { now: () => Date.now() };
  const random = overrides.random ??
    ((length: number) => crypto.getRandomValues(new Uint8Array(length)));
  const metrics = new PrometheusMetrics({ processMetrics: config.http !== undefined });
  const limits = config.limits;
  const reportLimit = new LimitReporter({ metrics, logger, clock }).hit;
  const unknownNodes = new UnknownNodeCache({
    ttlMs: limits.xmpp.unknownNodeCacheSeconds * 1000,
    maxEntries: limits.xmpp.unknownNodeCacheSize,
    clock,
  });
  const store = withUnknownNodeCache(
    meteredStore(overrides.store ?? await openStore(config.db.url, logger, clock), metrics),
    unknownNodes,
    () => reportLimit("unknown_node_cache"),
  );
  const delivery = overrides.wns
    ? undefined
    : createWnsDelivery(config.wns, store, clock, logger, metrics);
  const wns = overrides.wns ? new MeteredWnsSender(overrides.wns, metrics) : delivery!.sender;
  const coalescer = new PushCoalescer(config.wns.coalesceMs);
  const policy = registrationPolicy(
    config.registration.lifetimeDays,
    config.registration.goneChannelGraceDays,
  );
  const goneChannels = new GoneChannels();
  const pushDelivery = new ServiceRouter({ [WNS_SERVICE]: new WnsPushDelivery(wns) });
  const pushService = new PushService({
    store,
    delivery: pushDelivery,
    targets: WNS_TARGETS,
    clock,
    logger,
    coalescer,
    policy,
    goneChannels,
  });
  // Publishes in progress, so that a shutdown can answer them; refused while shutting down.
  const publishes = new InFlight();
  const publishLimits = new PublishLimits({
    perNode: limits.xmpp.publishesPerNode,
    perServer: limits.xmpp.publishesPerServer,
    maxKeys: limits.trackedKeys,
    clock,
    report: reportLimit,
  });
  let draining = false;
  const onPublish: PublishHandler = async (request) => {
    const outcome = draining
      ? { kind: "unavailable" as const, reason: "push server shutting down" }
      : publishLimits.check(request) ??
        await publishes.track(pushService.handlePublish(request));
    metrics.publish(outcome.kind);
    return outcome;
  };
  metrics.observeQueueDepth(() =>
    delivery ? delivery.gate.inFlight + delivery.gate.queued : publishes.size
  );
  const { link, provisioner } = createXmppLink(
    config.xmpp,
    xmppCa,
    logger,
    onPublish,
    metrics,
    limits.xmpp.maxStanzaBytes,
    new SampledLog("malformed publish", { logger, clock }),
  );
  const registrationCounter = new RegistrationCounter({
    store,
    clock,
    logger,
    refreshMs: limits.registrations.countRefreshSeconds * 1000,
  });
  const registrationLimits = new RegistrationLimits({
    ...limits.registrations,
    maxPrefixes: limits.trackedKeys,
    counter: registrationCounter,
    clock,
    report: reportLimit,
  });
  metrics.observeRegistrations(() => registrationLimits.levels());
  const deviceService = new DeviceService({
    store,
    delivery: pushDelivery,
    targets: WNS_TARGETS,
    provisioner,
    clock,
    random,
    logger,
    channelUriPattern: new RegExp(config.wns.channelUriPattern),
    pushBareJid: link.pushBareJid,
    metrics,
    policy,
    goneChannels,
    admission: registrationLimits,
  });
  const readinessChecks: ReadinessCheck[] = [storageCheck(store), xmppLinkCheck(link)];
  if (delivery) readinessChecks.push(wnsTokenCheck(delivery.tokens, clock));
  const readiness = new Readiness(readinessChecks);

  let devices: DeviceServer | undefined;
  let ops: OpsHttpServer | null = null;
  let reloader: CertificateReloader | undefined;
  try {
    devices = await DeviceServer.listen({
      hostname: config.tcp.host,
      port: config.tcp.port,
      cert,
      key,
      useCases: deviceService,
      logger,
      maxConnections: config.tcp.maxConnections,
      maxConnectionsPerAddress: limits.device.connectionsPerAddress,
      maxConnectionsPerPrefix: limits.device.connectionsPerPrefix,
      frameTimeoutMs: limits.device.frameTimeoutSeconds * 1000,
      evictIdleAfterMs: limits.device.evictIdleAfterSeconds * 1000,
      maxAccounts: config.tcp.maxAccountsPerDevice,
      maxFrameBytes: limits.device.maxFrameBytes,
      idleTimeoutMs: config.tcp.idleTimeoutSeconds * 1000,
      handshakeTimeoutMs: limits.device.handshakeTimeoutSeconds * 1000,
      metrics,
      requestLimiter: new DeviceRequestLimits({
        perConnection: limits.device.requestsPerConnection,
        perDevice: limits.device.requestsPerDevice,
        maxDevices: limits.trackedKeys,
        closeAfterRefusals: limits.device.closeAfterRefusals,
        clock,
        report: reportLimit,
      }),
      reportLimit,
    });
    const port = devices;
    metrics.observeDeviceConnections(() => port.connectionCount);
    reloader = await CertificateReloader.start({
      certPath: config.tcp.tls.serverCertPath,
      keyPath: config.tcp.tls.serverKeyPath,
      intervalMs: config.tcp.tls.reloadCheckSeconds * 1000,
      apply: (newCert, newKey) => port.reloadCertificate(newCert, newKey),
      logger,
      metrics,
    }, cert);
    if (config.http) {
      ops = OpsHttpServer.start({
        hostname: config.http.host,
        port: config.http.port,
        logger,
        endpoints: {
          metrics: async () => ({ contentType: metrics.contentType, body: await metrics.text() }),
          readiness: () => readiness.run(),
        },
      });
    }
  } catch (error) {
    await reloader?.close();
    await devices?.close();
    delivery?.close();
    await store.close();
    throw error;
  }
  const devicePort = devices;
  const certificates = reloader;
  link.start();
  // In the background: counting a large Redis takes a while, and must not delay the start.
  const firstCount = registrationCounter.start();
  logger.info("push server started", {
    devicePort: devices.addr.port,
    httpPort: ops?.addr.port,
    jid: link.pushBareJid,
    storage: config.db.url.split(":")[0],
  });

  const purgeExpired = async () => {
    try {
      const purged = await store.purgeExpired(clock.now());
      if (purged > 0) logger.info("purged expired registrations", { devices: purged });
    } catch (error) {
      logger.warn("purge failed", { reason: String(error) });
    }
  };
  // Once now (a server that was down for days starts clean), then periodically.
  await purgeExpired();
  const purge = setInterval(purgeExpired, PURGE_INTERVAL_MS);

  let closing: Promise<void> | undefined;
  return {
    config,
    store,
    devices,
    link,
    pushService,
    deviceService,
    metrics,
    readiness,
    ops,
    reloadCertificate: () => certificates.reload(),
    close(timeoutMs = config.shutdownTimeoutSeconds * 1000) {
      closing ??= (async () => {
        const deadline = Date.now() + timeoutMs;
        const left = () => Math.max(0, deadline - Date.now());
        readiness.markShuttingDown();
        draining = true;
        clearInterval(purge);
        registrationCounter.stop();
        await firstCount;
        await certificates.close();
        const [, drained] = await Promise.all([
          devicePort.close(left()),
          // Bursts held back for merging go out now rather than at the end of their window.
          coalescer.flush().then(() => publishes.idle(left())),
        ]);
        if (!drained) {
          logger.warn("shutdown deadline passed; publishes left unanswered", {
            publishes: publishes.size,
          });
        }
        await link.stop(left());
        pushService.flushLogs();
        delivery?.close();
        await ops?.close();
        await store.close();
        logger.info("push server stopped");
      })();
      return closing;
    },
  };
}

/** The link `xmpp.mode` names, and the provisioner that goes with it. */
function createXmppLink(
  xmpp: Config["xmpp"],
  ca: string[],
  logger: Logger,
  onPublish: PublishHandler,
  metrics: XmppLinkMetrics & Pick<PublishMetrics, "publish"> & LimitMetrics,
  maxStanzaBytes: number,
  malformedLog: SampledLog,
): { link: XmppLink; provisioner: NodeProvisioner } {
  if (xmpp.mode === "component") {
    const link = new ComponentLink({
      service: `xmpp://${hostPart(xmpp.host ?? "127.0.0.1")}:${xmpp.port ?? 5347}`,
      domain: xmpp.bareJid,
      password: xmpp.password,
      logger,
      onPublish,
      metrics,
      maxStanzaBytes,
      malformedLog,
    });
    // Component nodes are virtual: every node is ready as soon as it is stored.
    return { link, provisioner: { provision: (added) => Promise.resolve(new Set(added)) } };
  }
  const tls = xmpp.tls ?? { required: true, direct: false };
  const host = xmpp.host ?? xmpp.bareJid.slice(xmpp.bareJid.indexOf("@") + 1);
  const port = xmpp.port ?? (tls.direct ? 5223 : 5222);
  const link = new ClientLink({
    service: `${tls.direct ? "xmpps" : "xmpp"}://${hostPart(host)}:${port}`,
    jid: xmpp.bareJid,
    password: xmpp.password,
    tls: { required: tls.required, ca },
    logger,
    onPublish,
    metrics,
    maxStanzaBytes,
  });
  return { link, provisioner: new PepProvisioner({ link, logger }) };
}

/** A host for a service URI: IPv6 literals in brackets. */
function hostPart(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
