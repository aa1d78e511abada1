/**
 * A whole deployment on loopback for end-to-end tests: a real XMPP server (Prosody with
 * mod_cloud_notify, or ejabberd with mod_push), the push server as its XEP-0114 component
 * (SQLite storage unless told otherwise, real TLS device port), the fake WNS, and the apps
 * the test configures (FCM apps: fake FCMs, see `tests/support/fcm_projects.ts`).
 *
 * @module
 */

import { testConfigJson } from "../support/test_config.ts";
import assert from "node:assert/strict";
import { DeviceClient } from "../../adapters/device/device_client.ts";
import { type FakeWns, startFakeWns } from "../../adapters/push/wns/fake_wns_server.ts";
import { parseConfig } from "../../app/config.ts";
import {
  type PushServerOverrides,
  requireDevicePort,
  startPushServer,
  type UwpxPushServer,
} from "../../app/push_server.ts";
import type { Clock } from "../../domain/ports/clock.ts";
import { startEjabberd } from "../support/ejabberd.ts";
import { startProsody, withTimeout } from "../support/prosody.ts";
import { RecordingLogger } from "../support/recording_logger.ts";
import { connectUser } from "../support/xmpp_user.ts";
import { writeTestCertificate } from "../support/tls_cert.ts";

export const PUSH_DOMAIN = "push.localhost";

/** What the tests use of the users' XMPP server: RunningProsody and RunningEjabberd both fit. */
export interface XmppServer {
  /** The user host: "localhost". */
  readonly domain: string;
  /** Client-to-server port on 127.0.0.1. */
  readonly c2sPort: number;
  /** XEP-0114 component port on 127.0.0.1. */
  readonly componentPort: number;
  registerUser(user: string, password: string): Promise<void>;
  /** Stops the server and starts it again on the same ports with the same data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** Last lines of the server's logs, for error messages. */
  logTail(): Promise<string>;
  /** The server's whole log file. */
  readonly logPath: string;
}

/** Which XMPP server software a stack runs. */
export type XmppServerKind = "prosody" | "ejabberd";

/** Options for {@link startPushStack}. */
export interface PushStackOptions {
  /** The users' XMPP server to start; defaults to "prosody". Not used with `shared`. */
  server?: XmppServerKind;
  /**
   * A running server from {@link startXmppServer} to use instead of starting one (e.g. one
   * slow-starting ejabberd for several tests); the stack's stop() leaves it running.
   */
  shared?: { xmppServer: XmppServer; componentSecret: string };
  /** The clock the push server runs on; the system's by default. */
  clock?: Clock;
  /** The storage URL; a SQLite file in the stack's temporary directory by default. */
  dbUrl?: string;
  /** More replaceable parts of the push server. */
  overrides?: Omit<PushServerOverrides, "clock">;
  /** The configuration's `apps` section (e.g. FCM apps served by fake FCMs). */
  apps?: Record<string, unknown>;
}

/** Starts a users' XMPP server with the push server's component (PUSH_DOMAIN) configured. */
export function startXmppServer(
  kind: XmppServerKind,
  componentSecret: string,
): Promise<XmppServer> {
  const start = kind === "ejabberd" ? startEjabberd : startProsody;
  return start({ componentDomain: PUSH_DOMAIN, componentSecret });
}

/** The running parts, and shortcuts for what a device does. */
export interface PushStack {
  readonly xmppServer: XmppServer;
  readonly wns: FakeWns;
  readonly server: UwpxPushServer;
  readonly logger: RecordingLogger;
  /** The device port's certificate (self-signed: also its CA). */
  readonly cert: string;
  /** Connects a device over TLS. */
  device(): Promise<DeviceClient>;
  /** Registers a device with a fresh WNS channel and the given accounts; returns the answer. */
  registerDevice(
    deviceId: string,
    accountIds: string[],
  ): Promise<{ channelUri: string; answer: Record<string, unknown> }>;
  /** Waits until a log line with `message` (and `fields`, if given) was written. */
  waitForLog(message: string, fields?: Record<string, unknown>, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the XMPP server (unless a shared one is given), the fake WNS and the push server;
 * waits for the component link.
 */
export async function startPushStack(options: PushStackOptions = {}): Promise<PushStack> {
  const componentSecret = options.shared?.componentSecret ?? crypto.randomUUID();
  const dir = await Deno.makeTempDir({ prefix: "push-e2e-" });
  const cleanups: (() => Promise<unknown>)[] = [() => Deno.remove(dir, { recursive: true })];
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  };
  try {
    const wns = await startFakeWns();
    cleanups.push(() => wns.close());
    let xmppServer = options.shared?.xmppServer;
    if (!xmppServer) {
      const started = await startXmppServer(options.server ?? "prosody", componentSecret);
      cleanups.push(() => started.stop());
      xmppServer = started;
    }
    const { certPath, keyPath, cert } = await writeTestCertificate(dir);
    const json = testConfigJson({
      dir,
      dbUrl: options.dbUrl,
      apps: options.apps,
      certPath,
      keyPath,
      wns,
      xmpp: {
        mode: "component",
        bareJid: PUSH_DOMAIN,
        password: componentSecret,
        host: "127.0.0.1",
        port: xmppServer.componentPort,
      },
    });
    const parsed = parseConfig(json);
    if (!parsed.ok) throw new Error(parsed.problems.join("; "));
    const logger = new RecordingLogger();
    const server = requireDevicePort(
      await startPushServer(parsed.config, logger, {
        ...options.overrides,
        ...(options.clock ? { clock: options.clock } : {}),
      }),
    );
    cleanups.push(() => server.close());
    await withTimeout(server.link.whenOnline(), 10_000, "the component link coming up");

    const device = () =>
      DeviceClient.connect({
        hostname: "127.0.0.1",
        port: server.devices.addr.port,
        caCerts: [cert],
      });
    return {
      xmppServer,
      wns,
      server,
      logger,
      cert,
      device,
      async registerDevice(deviceId, accountIds) {
        const client = await device();
        try {
          const channelUri = wns.channelUri();
          const set = await client.request({
            version: 2,
            action: "set_channel_uri",
            device_id: deviceId,
            channel_uri: channelUri,
          });
          if (set.status !== 1) throw new Error(`set_channel_uri failed: ${JSON.stringify(set)}`);
          const answer = await client.request({
            version: 2,
            action: "set_push_accounts",
            device_id: deviceId,
            accounts: accountIds.map((account_id) => ({ account_id })),
          });
          return { channelUri, answer };
        } finally {
          client.close();
        }
      },
      waitForLog: (message, fields, timeoutMs) => logger.waitFor(message, fields, timeoutMs),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Asserts a raw push as the device receives it: WNS headers and the sanitized payload. */
export function assertRawPush(
  push: { body: string; headers: ReadonlyArray<readonly [string, string]> },
  accountId: string,
  messageCount: number,
): void {
  assert.deepEqual(JSON.parse(push.body), {
    version: 2,
    action: "push",
    account_id: accountId,
    message_count: messageCount,
    pending_subscription_count: 0,
  });
  const header = (name: string) => push.headers.find(([k]) => k === name)?.[1];
  assert.equal(header("x-wns-type"), "wns/raw");
  assert.equal(header("content-type"), "application/octet-stream");
}

/** A random 64-hex device id, as the UWPX client makes. */
export function randomHexId(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toHex();
}

/** How many publishes a burst test sends: enough that some must fall in one window. */
export const BURST = 10;

/**
 * `from` (password `${from}-pw`) sends `to` {@link BURST} messages at once, as a chatty
 * contact does while the user is offline: one publish each, within milliseconds.
 */
export async function sendBurst(stack: PushStack, from: string, to: string): Promise<void> {
  const port = stack.xmppServer.c2sPort;
  const sender = await connectUser({ port, username: from, password: `${from}-pw` });
  try {
    await Promise.all(
      Array.from({ length: BURST }, (_, i) => sender.sendMessage(to, `burst ${i}`)),
    );
  } finally {
    await sender.disconnect();
  }
}

/** Waits until the push server logged `message` at least `count` times; returns the count. */
export async function waitForLogCount(
  stack: PushStack,
  message: string,
  count: number,
  timeoutMs = 15_000,
): Promise<number> {
  const counted = () => stack.logger.lines.filter((l) => l.message === message).length;
  const deadline = Date.now() + timeoutMs;
  while (counted() < count) {
    if (Date.now() > deadline) {
      throw new Error(
        `logged "${message}" ${counted()} times, not ${count}, within ${timeoutMs} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return counted();
}

/**
 * Asserts a burst of {@link BURST} publishes for `accountId` was coalesced as a user should
 * see it: every publish answered as pushed, fewer pushes than publishes but at least the
 * leading and a trailing one, each for the account.
 */
export async function assertBurstCoalesced(stack: PushStack, accountId: string): Promise<void> {
  const publishes = await waitForLogCount(stack, "pushed", BURST);
  assert.equal(publishes, BURST, "every publish is answered once");
  const pushes = stack.wns.received;
  assert.ok(
    pushes.length >= 2 && pushes.length < BURST,
    `${BURST} publishes became ${pushes.length} pushes`,
  );
  for (const push of pushes) assert.equal(JSON.parse(push.body).account_id, accountId);
}
