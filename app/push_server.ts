/**
 * The composition root: builds the adapters a configuration names and connects them to the
 * use cases through the ports. Nothing else: validation and defaults live in the schema
 * (`config.ts`) and `wiring/`, publish admission in `publish_admission.ts`, the shutdown
 * sequence in `shutdown.ts`. `main.ts` (the CLI), the demo and the end-to-end tests all
 * start the server through here.
 *
 * @module
 */

import type { DeviceServer } from "../adapters/device/tls_device_server.ts";
import type { OpsHttpServer } from "../adapters/http/ops_http_server.ts";
import { PrometheusMetrics } from "../adapters/metrics/prometheus_metrics.ts";
import type { WnsSender } from "../adapters/push/wns/wns_sender.ts";
import { WNS_TARGETS } from "../adapters/push/wns/wns_push_delivery.ts";
import type { RandomBytes } from "../domain/minting.ts";
import type { Clock } from "../domain/ports/clock.ts";
import type { Logger } from "../domain/ports/logging.ts";
import type { RegistrationStore } from "../domain/ports/storage.ts";
import type { XmppLink } from "../domain/ports/xmpp_link.ts";
import { registrationPolicy } from "../domain/registration.ts";
import { type Config, hasUwpx, type UwpxConfig } from "./config.ts";
import { PushCoalescer } from "./delivery/push_coalescer.ts";
import { ServiceRouter } from "./delivery/service_router.ts";
import { startExpiryPurge } from "./expiry_purge.ts";
import { GoneChannels } from "./gone_channels.ts";
import { LimitReporter } from "./limit_reporter.ts";
import { PublishAdmission } from "./publish_admission.ts";
import { Readiness, storageCheck, xmppLinkCheck } from "./readiness.ts";
import { SampledLog } from "./sampled_log.ts";
import { shutDown } from "./shutdown.ts";
import { DeviceService } from "./use_cases/device_service.ts";
import type { CommandRegistration } from "./use_cases/command_registration.ts";
import { commandDoorFor, serveRegistrationCommands } from "./wiring/command_wiring.ts";
import { appDirectory } from "../domain/ports/registration_commands.ts";
import { PushService } from "./use_cases/push_service.ts";
import { openFrontDoors } from "./wiring/front_doors.ts";
import { publishLimitsFor, registrationLimitsFor } from "./wiring/limits_wiring.ts";
import { openServerStore } from "./wiring/store_wiring.ts";
import { closePushApps, createPushApps } from "./wiring/push_apps.ts";
import { fpushTargetsFor } from "./fpush_targets.ts";
import { createXmppLink, prepareXmpp } from "./wiring/xmpp_wiring.ts";
import { staleNodeSweepFor } from "./wiring/stale_node_wiring.ts";
import type { StaleNodeSweep } from "./use_cases/stale_node_sweep.ts";
import { push2MessageHandler } from "./wiring/push2_wiring.ts";
import { webPushEndpointCheck, type WebPushTestOverrides } from "./wiring/webpush_wiring.ts";

/** Everything a running push server holds. */
export interface PushServer {
  readonly config: Config;
  readonly store: RegistrationStore;
  /** The UWPX client's device port; null when it is not configured (no `wns`, `tcp`). */
  readonly devices: DeviceServer | null;
  readonly link: XmppLink;
  readonly pushService: PushService;
  /** The UWPX client's registrations; null when it is not configured. */
  readonly deviceService: DeviceService | null;
  /** Registrations by command (XEP-0050: p2's `register-push-fcm` and kin). */
  readonly commandRegistration: CommandRegistration;
  /** What the server counted; served on `/metrics` when `http` is configured. */
  readonly metrics: PrometheusMetrics;
  /**
   * Client mode's sweep of the PEP nodes expired registrations left (runs after each
   * expiry purge); null in component mode.
   */
  readonly staleNodeSweep: StaleNodeSweep | null;
  /** Storage, XMPP link, each app's access token: served on `/readyz`. */
  readonly readiness: Readiness;
  /** The metrics and probes port, when `http` is configured. */
  readonly ops: OpsHttpServer | null;
  /**
   * Loads the TLS certificate files again (SIGHUP); resolves whether they are in use (false
   * without a device port).
   */
  reloadCertificate(): Promise<boolean>;
  /**
   * Shuts down gracefully: stops accepting devices and publishes (the latter are answered
   * `wait`), answers the device requests and publishes in progress, then closes the XMPP
   * link and the store. What is still in progress after `timeoutMs` (default:
   * `shutdownTimeoutSeconds`) is cut off.
   */
  close(timeoutMs?: number): Promise<void>;
}

/** A push server serving the UWPX client: its device port is there. */
export type UwpxPushServer = PushServer & {
  readonly config: UwpxConfig;
  readonly devices: DeviceServer;
  readonly deviceService: DeviceService;
};

/** `server` as one with a device port; throws when its configuration has no UWPX client. */
export function requireDevicePort(server: PushServer): UwpxPushServer {
  const { devices, deviceService } = server;
  if (devices === null || deviceService === null) {
    throw new Error("this push server has no device port: its configuration has no wns and tcp");
  }
  return server as UwpxPushServer;
}

/** Replaceable parts, for tests. */
export interface PushServerOverrides {
  readonly store?: RegistrationStore;
  readonly wns?: WnsSender;
  /** Web Push apps' DNS and trusted certificates (a fake push service's). */
  readonly webpush?: WebPushTestOverrides;
  readonly clock?: Clock;
  readonly random?: RandomBytes;
}

/** Builds and starts a push server. The XMPP link connects in the background. */
export async function startPushServer(
  config: Config,
  logger: Logger,
  overrides: PushServerOverrides = {},
): Promise<PushServer> {
  const { ca } = await prepareXmpp(config.xmpp);
  // The UWPX client's device port, when configured: its certificate, read before anything opens.
  const uwpx = hasUwpx(config) ? { config, ...await readCertificate(config.tcp.tls) } : null;
  const clock = overrides.clock ?? { now: () => Date.now() };
  const random = overrides.random ??
    ((length: number) => crypto.getRandomValues(new Uint8Array(length)));
  const metrics = new PrometheusMetrics({ processMetrics: config.http !== undefined });
  const { limits } = config;
  const reportLimit = new LimitReporter({ metrics, logger, clock }).hit;
  const given = overrides.store;
  const store = await openServerStore(config, { logger, clock, metrics, reportLimit, given });
  // Every app (WNS's and the `apps` entries): routed, checked, counted and closed as one list.
  const apps = await createPushApps(config, { store, clock, logger, metrics }, overrides).catch(
    async (error) => {
      await store.close();
      throw error;
    },
  );
  const delivery = new ServiceRouter(apps);
  // Each app's own settings, looked up by a target's (service, app).
  const appOfTarget = new Map(apps.map((app) => [routeName(app), app]));
  const coalescer = new PushCoalescer(0);
  const { lifetimeDays, goneChannelGraceDays } = config.registration;
  const policy = registrationPolicy(lifetimeDays, goneChannelGraceDays);
  const goneChannels = new GoneChannels(undefined, { clock });
  const shared = { store, delivery, clock, logger, policy, goneChannels };
  const pushService = new PushService({
    ...shared,
    coalescer,
    coalesceWindowMs: (target) => appOfTarget.get(routeName(target))?.coalesceMs ?? 0,
    whenGone: (target) => appOfTarget.get(routeName(target))?.whenGone ?? "end",
    showsMessageBody: (target) => appOfTarget.get(routeName(target))?.showsMessageBody ?? false,
    // fpush's dialect (node = APNs token, pushModule names the app): no registration needed.
    stateless: fpushTargetsFor(config.apps, { clock, reportLimit, metrics }),
  });
  const limitDeps = { store, clock, logger, report: reportLimit };
  const admission = new PublishAdmission({
    handle: (request) => pushService.handlePublish(request),
    limits: publishLimitsFor(limits, limitDeps),
    metrics,
  });
  // A test's WNS sender has no queue of its own: the publishes in progress stand for it.
  metrics.observeQueueDepth(() =>
    apps.reduce((sum, app) => sum + app.queueDepth(), overrides.wns ? admission.inProgress : 0)
  );
  const commands = commandDoorFor(limits, { clock, logger, report: reportLimit });
  // Which app a command or Push 2.0 notification is for: named by `to`'s resource, or the default.
  const directory = appDirectory(
    Object.entries(config.apps).map(([name, app]) => ({ name, ...app })),
  );
  const xmppSide = createXmppLink(config.xmpp, ca, {
    logger,
    onPublish: admission.onPublish,
    metrics,
    maxStanzaBytes: limits.xmpp.maxStanzaBytes,
    malformedLog: new SampledLog("malformed publish", { logger, clock }),
    commands,
    onMessage: push2MessageHandler({
      apps,
      directory,
      limits,
      clock,
      report: reportLimit,
      metrics,
    }),
  });
  const { link, ownNodes } = xmppSide;
  const registrations = registrationLimitsFor(limits, limitDeps);
  // Client mode: the PEP nodes expired registrations leave are swept after each purge.
  const pepSweep = ownNodes &&
    staleNodeSweepFor({
      ownNodes,
      provisioner: xmppSide.provisioner,
      ...{ store, clock, logger, metrics },
      liveAccounts: () => registrations.limits.levels().accounts,
      maxStanzaBytes: limits.xmpp.maxStanzaBytes,
    });
  const provisioner = pepSweep?.provisioner ?? xmppSide.provisioner;
  // Registrations by command (p2's dialect): the client names its app, or gets the default.
  const commandRegistration = serveRegistrationCommands(commands, {
    ...{ store, clock, random, logger, policy, goneChannels, provisioner },
    admission: registrations.limits,
    apps: directory,
    jid: link.pushBareJid,
    webPushEndpoints: webPushEndpointCheck(apps),
  });
  metrics.observeRegistrations(() => registrations.limits.levels());
  metrics.observeAppRegistrations(
    apps.map(({ service, app }) => ({ service, app })),
    () => registrations.counter.byApp,
  );
  const devicePort = uwpx && {
    ...uwpx,
    useCases: new DeviceService({
      ...shared,
      // The UWPX device protocol registers WNS channels of the one app: its targets.
      targets: WNS_TARGETS,
      provisioner,
      random,
      channelUriPattern: new RegExp(uwpx.config.wns.channelUriPattern),
      pushBareJid: link.pushBareJid,
      metrics,
      admission: registrations.limits,
    }),
  };
  const deviceService = devicePort?.useCases ?? null;
  const readiness = new Readiness([
    storageCheck(store),
    xmppLinkCheck(link),
    ...apps.flatMap((app) => app.readiness),
  ]);
  const frontDoorDeps = { logger, metrics, clock, reportLimit, readiness };
  const doors = await openFrontDoors(config, { devicePort, ...frontDoorDeps }).catch(
    async (error) => {
      await closePushApps(apps);
      await store.close();
      throw error;
    },
  );
  const { devices, certificates, ops } = doors;
  link.start();
  // In the background: counting a large Redis takes a while, and must not delay the start.
  const firstCount = registrations.counter.start();
  logger.info("push server started", {
    apps: apps.map((app) => `${app.service}:${app.app}`).join(","),
    devicePort: devices?.addr.port,
    httpPort: ops?.addr.port,
    jid: link.pushBareJid,
    storage: config.db.url.split(":")[0],
  });
  const stopPurge = await startExpiryPurge(store, clock, logger, pepSweep?.afterPurge);
  const stopSweep = pepSweep?.start();

  let closing: Promise<void> | undefined;
  return {
    ...{ config, store, devices, link, pushService, deviceService, metrics, readiness, ops },
    commandRegistration,
    staleNodeSweep: pepSweep?.sweep ?? null,
    reloadCertificate: () => certificates?.reload() ?? Promise.resolve(false),
    close(timeoutMs = config.shutdownTimeoutSeconds * 1000) {
      closing ??= shutDown({
        logger,
        markShuttingDown: () => readiness.markShuttingDown(),
        publishes: admission,
        stopBackground: async () => {
          stopPurge();
          await stopSweep?.();
          registrations.counter.stop();
          await firstCount;
          await certificates?.close();
        },
        closeDevices: async (ms) => await devices?.close(ms),
        flushPushes: () => coalescer.flush(),
        link,
        flushLogs: () => pushService.flushLogs(),
        closeDelivery: () => closePushApps(apps),
        closeOps: async () => await ops?.close(),
        store,
      }, timeoutMs);
      return closing;
    },
  };
}

/** The device port's PEM certificate chain and key. */
async function readCertificate(
  tls: { readonly serverCertPath: string; readonly serverKeyPath: string },
): Promise<{ cert: string; key: string }> {
  const [cert, key] = await Promise.all([
    Deno.readTextFile(tls.serverCertPath),
    Deno.readTextFile(tls.serverKeyPath),
  ]);
  return { cert, key };
}

/** The (service, app) of a target or an app, as one key. */
function routeName(of: { readonly service: string; readonly app: string }): string {
  return `${of.service}\n${of.app}`;
}
