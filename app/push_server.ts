/**
 * Wiring: builds the adapters a configuration names, connects them to the use cases, and
 * runs them as one server. `main.ts` (the CLI), the demo and the end-to-end tests all start
 * the server through here.
 *
 * @module
 */

import type { Clock, Logger, RegistrationStore, WnsSender } from "../domain/ports.ts";
import type { RandomBytes } from "../domain/minting.ts";
import { DeviceServer } from "../adapters/device/tls_device_server.ts";
import { ComponentLink } from "../adapters/xmpp/component_link.ts";
import { HttpWnsSender } from "../adapters/wns/http_wns_sender.ts";
import { WnsTokenSource } from "../adapters/wns/wns_token_source.ts";
import type { Config } from "./config.ts";
import { DeviceService } from "./device_service.ts";
import { openStore } from "./open_store.ts";
import { PushService } from "./push_service.ts";

/** Everything a running push server holds. */
export interface PushServer {
  readonly config: Config;
  readonly store: RegistrationStore;
  readonly devices: DeviceServer;
  readonly link: ComponentLink;
  readonly pushService: PushService;
  readonly deviceService: DeviceService;
  /** Stops accepting devices, closes the XMPP link and the store. */
  close(): Promise<void>;
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
  if (config.xmpp.mode !== "component") {
    throw new Error(
      'xmpp.mode "client" is not available in this version: set xmpp.mode to "component"',
    );
  }
  const [cert, key] = await Promise.all([
    Deno.readTextFile(config.tcp.tls.serverCertPath),
    Deno.readTextFile(config.tcp.tls.serverKeyPath),
  ]);
  const clock = overrides.clock ?? { now: () => Date.now() };
  const random = overrides.random ??
    ((length: number) => crypto.getRandomValues(new Uint8Array(length)));
  const store = overrides.store ?? await openStore(config.db.url, logger);
  const wns = overrides.wns ?? new HttpWnsSender({
    tokens: new WnsTokenSource({
      tokenUrl: config.wns.tokenUrl,
      packetId: config.wns.packetId,
      clientSecret: config.wns.clientSecret,
      store,
      clock,
      logger,
      requestTimeoutMs: config.wns.requestTimeoutSeconds * 1000,
    }),
    logger,
    requestTimeoutMs: config.wns.requestTimeoutSeconds * 1000,
  });

  const pushService = new PushService({ store, wns, clock, logger });
  const link = new ComponentLink({
    service: `xmpp://${config.xmpp.host ?? "127.0.0.1"}:${config.xmpp.port ?? 5347}`,
    domain: config.xmpp.bareJid,
    password: config.xmpp.password,
    logger,
    onPublish: (request) => pushService.handlePublish(request),
  });
  const deviceService = new DeviceService({
    store,
    wns,
    // Component nodes are virtual: every node is ready as soon as it is stored.
    provisioner: { provision: (added) => Promise.resolve(new Set(added)) },
    clock,
    random,
    logger,
    channelUriPattern: new RegExp(config.wns.channelUriPattern),
    pushBareJid: link.pushBareJid,
  });

  let devices: DeviceServer;
  try {
    devices = DeviceServer.listen({
      hostname: config.tcp.host,
      port: config.tcp.port,
      cert,
      key,
      useCases: deviceService,
      logger,
      maxConnections: config.tcp.maxConnections,
      maxAccounts: config.tcp.maxAccountsPerDevice,
      idleTimeoutMs: config.tcp.idleTimeoutSeconds * 1000,
    });
  } catch (error) {
    await store.close();
    throw error;
  }
  link.start();
  logger.info("push server started", {
    devicePort: devices.addr.port,
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
    close() {
      closing ??= (async () => {
        clearInterval(purge);
        await devices.close();
        await link.stop();
        await store.close();
        logger.info("push server stopped");
      })();
      return closing;
    },
  };
}
