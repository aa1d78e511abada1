/**
 * The operator's `check` command: validates the configuration, then tries the TLS
 * certificate, the storage, a WNS access token, each app's credentials (its key file and
 * readiness checks: an FCM app's access token) and the XMPP server's port. Without the UWPX
 * client (no `wns`, `tcp`) there is no certificate or WNS token to try.
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import { MemoryStore } from "../../adapters/storage/memory/memory_store.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import { type Config, hasUwpx, type UwpxConfig } from "../config.ts";
import { openStore } from "../open_store.ts";
import { errorText } from "../readiness.ts";
import { createWnsDelivery } from "../wiring/wns_wiring.ts";
import { createApp } from "../wiring/push_apps.ts";
import { NO_METRICS } from "../../domain/ports/metrics.ts";
import {
  cliLogger,
  type CliOutput,
  Failure,
  type Flags,
  noArguments,
  readConfig,
  readFile,
  within,
} from "./cli_support.ts";

/** `check`: every step is tried; the command fails if any did. */
export async function check(flags: Flags, args: string[], output: CliOutput): Promise<void> {
  noArguments(args);
  const config = await readConfig(flags);
  output.out("configuration: ok");
  const logger = cliLogger(flags);
  const uwpx = hasUwpx(config) ? config : null;
  if (!uwpx) output.out("UWPX client: not configured (no wns, tcp): no certificate or WNS token");
  type Step = [string, () => Promise<string>];
  const steps: Step[] = [
    ...(uwpx ? [["TLS certificate", () => checkCertificate(uwpx)] satisfies Step] : []),
    ["storage", () => checkStorage(config, logger)],
    ...(uwpx ? [["WNS access token", () => checkWns(uwpx, logger)] satisfies Step] : []),
    ...Object.keys(config.apps).map((name): Step => [
      `apps.${name}`,
      () => checkApp(config, name, logger),
    ]),
    ["XMPP server", () => checkXmpp(config)],
  ];
  let failed = 0;
  for (const [index, [name, step]] of steps.entries()) {
    output.err(`[${index + 1}/${steps.length}] ${name}…`);
    try {
      output.out(`${name}: ok (${await step()})`);
    } catch (error) {
      failed++;
      output.out(`${name}: FAILED: ${errorText(error)}`);
    }
  }
  if (failed > 0) throw new Failure(`${failed} of ${steps.length} checks failed`);
}

/** The certificate and key load together (as the device port would load them). */
async function checkCertificate(config: UwpxConfig): Promise<string> {
  const cert = await readFile(config.tcp.tls.serverCertPath, "tcp.tls.serverCertPath");
  const key = await readFile(config.tcp.tls.serverKeyPath, "tcp.tls.serverKeyPath");
  Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key }).close();
  const x509 = new X509Certificate(cert);
  const expires = new Date(x509.validTo).getTime();
  const days = Math.floor((expires - Date.now()) / 86_400_000);
  if (days < 0) throw new Failure(`expired on ${new Date(expires).toISOString()}`);
  const soon = days < 14 ? ": renew it soon" : "";
  return `${x509.subject.replaceAll("\n", ", ")}, expires in ${days} days${soon}`;
}

async function checkStorage(config: Config, logger: Logger): Promise<string> {
  if (config.db.url === "memory:") return "memory: nothing to reach";
  const store = await openStore(config.db.url, logger);
  try {
    await store.ping();
    const { devices, accounts } = await store.count(Date.now());
    return `reachable, ${devices} devices, ${accounts} accounts`;
  } finally {
    await store.close();
  }
}

/** Fetches a new token (a private cache, so the credentials are really tried). */
async function checkWns(config: UwpxConfig, logger: Logger): Promise<string> {
  const delivery = createWnsDelivery(config.wns, new MemoryStore(), { now: Date.now }, logger);
  try {
    const token = await delivery.tokens.get();
    const hours = Math.round((token.expiresAt - Date.now()) / 360_000) / 10;
    return `obtained, valid for ${hours} h`;
  } finally {
    delivery.close();
  }
}

/**
 * The app is built as the server builds it (its credential files read) with a private token
 * cache, and its readiness checks run (an FCM app: an access token is fetched).
 */
async function checkApp(config: Config, name: string, logger: Logger): Promise<string> {
  const app = await createApp(name, config.apps[name], {
    store: new MemoryStore(),
    clock: { now: Date.now },
    logger,
    metrics: NO_METRICS,
  });
  try {
    for (const check of app.readiness) await check.run();
    const checks = app.readiness.map((check) => check.name).join(", ");
    return `${app.service}${checks ? `, ${checks}` : ""}`;
  } finally {
    await app.close();
  }
}

/**
 * The XMPP server's port answers. No login: a second component connection (or client
 * session with the same resource) would replace the running server's.
 */
async function checkXmpp(config: Config): Promise<string> {
  const { host, port } = config.xmpp;
  const conn = await within(Deno.connect({ hostname: host, port }), 10, `connecting`);
  conn.close();
  return `${host}:${port} accepts connections; not logged in`;
}
