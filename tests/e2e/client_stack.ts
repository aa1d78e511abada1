/**
 * A client-mode deployment on loopback for end-to-end tests: a real Prosody (c2s TLS with a
 * generated certificate and required, mod_smacks, the seed's mod_pep patch, mod_pep and
 * mod_cloud_notify), the push server logged in to it as the account `pushsvc@localhost`
 * (trusting Prosody's certificate through `xmpp.tls.caFile`), SQLite storage, the real TLS
 * device port, and the fake WNS.
 *
 * @module
 */

import { testConfigJson } from "../support/test_config.ts";
import { DeviceClient } from "../../adapters/device/device_client.ts";
import { type FakeWns, startFakeWns } from "../../adapters/push/wns/fake_wns_server.ts";
import { parseConfig } from "../../app/config.ts";
import {
  type PushServerOverrides,
  requireDevicePort,
  startPushServer,
  type UwpxPushServer,
} from "../../app/push_server.ts";
import { type RunningProsody, startProsody, withTimeout } from "../support/prosody.ts";
import { RecordingLogger } from "../support/recording_logger.ts";
import { writeTestCertificate } from "../support/tls_cert.ts";
import { connectUser, type XmppUser } from "../support/xmpp_user.ts";
import { type FcmProjects, startFcmProjects } from "../support/fcm_projects.ts";

export const PUSH_JID = "pushsvc@localhost";

/** Options of {@link startClientStack}. */
export interface ClientStackOptions {
  /** Connect with direct TLS (`xmpps://`) instead of STARTTLS. */
  readonly directTls?: boolean;
  /** More replaceable parts of the push server. */
  readonly overrides?: PushServerOverrides;
  /** FCM apps to configure, each served by a fake FCM of its own (name -> more settings). */
  readonly fcmApps?: Record<string, Record<string, unknown>>;
}

/** The running parts, and shortcuts for what devices and users do. */
export interface ClientStack {
  readonly prosody: RunningProsody;
  readonly wns: FakeWns;
  readonly server: UwpxPushServer;
  readonly logger: RecordingLogger;
  /** The device port's certificate (PEM), for clients that check it. */
  readonly cert: string;
  /** The fake Firebase projects of {@link ClientStackOptions.fcmApps} (none without). */
  readonly fcm: FcmProjects | null;
  /** Registers a device with a fresh WNS channel and the given accounts; returns the answer. */
  registerDevice(
    deviceId: string,
    accountIds: string[],
  ): Promise<{ channelUri: string; answer: Record<string, unknown> }>;
  /** Sends `set_push_accounts` for an already registered device. */
  setAccounts(deviceId: string, accountIds: string[]): Promise<Record<string, unknown>>;
  /** Sends `request_test_push` for a registered device; resolves with the answer. */
  testPush(deviceId: string): Promise<Record<string, unknown>>;
  /** Connects `alice` or `bob` (password `<name>-pw`) over STARTTLS. */
  user(name: "alice" | "bob"): Promise<XmppUser>;
  /** Waits until a log line with `message` (and `fields`, if given) was written. */
  waitForLog(message: string, fields?: Record<string, unknown>, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts Prosody, the fake WNS and the push server in client mode; waits for the link. */
export async function startClientStack(options: ClientStackOptions = {}): Promise<ClientStack> {
  const dir = await Deno.makeTempDir({ prefix: "push-client-e2e-" });
  const cleanups: (() => Promise<unknown>)[] = [() => Deno.remove(dir, { recursive: true })];
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  };
  try {
    const wns = await startFakeWns();
    cleanups.push(() => wns.close());
    const prosody = await startProsody({
      componentDomain: "push.localhost",
      componentSecret: crypto.randomUUID(),
      tls: true,
      smacks: true,
      patchPep: true,
    });
    cleanups.push(() => prosody.stop());
    const password = crypto.randomUUID();
    await prosody.registerUser("pushsvc", password);
    await prosody.registerUser("alice", "alice-pw");
    await prosody.registerUser("bob", "bob-pw");
    const caFile = `${dir}/xmpp-ca.pem`;
    await Deno.writeTextFile(caFile, prosody.caCert!);

    const { certPath, keyPath, cert } = await writeTestCertificate(dir);
    const json = testConfigJson({
      dir,
      certPath,
      keyPath,
      wns,
      xmpp: {
        mode: "client",
        bareJid: PUSH_JID,
        password,
        host: "127.0.0.1",
        port: options.directTls ? prosody.c2sDirectTlsPort : prosody.c2sPort,
        tls: { caFile, direct: options.directTls ?? false },
      },
    });
    json.log = { level: "debug" };
    let fcm: FcmProjects | null = null;
    if (options.fcmApps) {
      const projects = await startFcmProjects(options.fcmApps);
      cleanups.push(() => projects.close());
      json.apps = projects.apps;
      fcm = projects;
    }
    const parsed = parseConfig(json);
    if (!parsed.ok) throw new Error(parsed.problems.join("; "));
    const logger = new RecordingLogger();
    const server = requireDevicePort(
      await startPushServer(parsed.config, logger, options.overrides),
    );
    cleanups.push(() => server.close());
    await withTimeout(server.link.whenOnline(), 15_000, "the client link coming up");

    const device = () =>
      DeviceClient.connect({
        hostname: "127.0.0.1",
        port: server.devices.addr.port,
        caCerts: [cert],
      });
    const setAccounts = async (deviceId: string, accountIds: string[]) => {
      const client = await device();
      try {
        return await client.request({
          version: 2,
          action: "set_push_accounts",
          device_id: deviceId,
          accounts: accountIds.map((account_id) => ({ account_id })),
        });
      } finally {
        client.close();
      }
    };
    return {
      prosody,
      wns,
      server,
      logger,
      cert,
      fcm,
      async registerDevice(deviceId, accountIds) {
        const client = await device();
        const channelUri = wns.channelUri();
        try {
          const set = await client.request({
            version: 2,
            action: "set_channel_uri",
            device_id: deviceId,
            channel_uri: channelUri,
          });
          if (set.status !== 1) throw new Error(`set_channel_uri failed: ${JSON.stringify(set)}`);
        } finally {
          client.close();
        }
        return { channelUri, answer: await setAccounts(deviceId, accountIds) };
      },
      setAccounts,
      async testPush(deviceId) {
        const client = await device();
        try {
          return await client.request({
            version: 2,
            action: "request_test_push",
            device_id: deviceId,
          });
        } finally {
          client.close();
        }
      },
      user: (name) =>
        connectUser({
          port: prosody.c2sPort,
          username: name,
          password: `${name}-pw`,
          ca: prosody.caCert!,
          allowStreamManagement: true,
        }),
      waitForLog: (message, fields, timeoutMs) => logger.waitFor(message, fields, timeoutMs),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
