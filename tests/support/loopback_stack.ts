/**
 * The push server on loopback with nothing but Deno: the fake XEP-0114 server as the users'
 * XMPP server, the fake WNS, a self-signed device-port certificate, SQLite in a temporary
 * directory, and the operations HTTP port. For tests of operations: metrics, probes,
 * shutdown, certificate reloads, the operator CLI.
 *
 * @module
 */

import { testConfigJson } from "./test_config.ts";
import type { Element } from "@xmpp/xml";
import { DeviceClient } from "../../adapters/device/device_client.ts";
import {
  type FakeWns,
  type FakeWnsOptions,
  startFakeWns,
} from "../../adapters/push/wns/fake_wns_server.ts";
import {
  type FakeComponentServer,
  startFakeComponentServer,
} from "../../adapters/xmpp/fake_component_server.ts";
import { publishIq } from "../../adapters/xmpp/publish_builder.ts";
import { parseConfig, type UwpxConfig } from "../../app/config.ts";
import {
  type PushServerOverrides,
  requireDevicePort,
  startPushServer,
  type UwpxPushServer,
} from "../../app/push_server.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import { RecordingLogger } from "./recording_logger.ts";
import { writeTestCertificate } from "./tls_cert.ts";

export { sample } from "./prometheus_text.ts";

export const PUSH_DOMAIN = "push.localhost";

/** Options of {@link startLoopbackStack}. */
export interface LoopbackStackOptions {
  /** Changes to the configuration before it is validated (JSON as in the file). */
  readonly configure?: (json: Record<string, Record<string, unknown>>) => void;
  readonly logger?: Logger;
  readonly overrides?: PushServerOverrides;
  /** Options of the fake WNS (e.g. `record: false` for long runs). */
  readonly fakeWns?: FakeWnsOptions;
  /**
   * Model a users' server that drops a push registration at the first error answer not of
   * type `wait`, as ejabberd's mod_push does: {@link LoopbackStack.publish} to such a node
   * then rejects, as the real server would never publish there again.
   */
  readonly dropOnNonWaitError?: boolean;
}

/** A registered device: its channel and its accounts' nodes and secrets. */
export interface RegisteredDevice {
  readonly deviceId: string;
  readonly channelUri: string;
  readonly accounts: readonly { account_id: string; node: string; secret: string }[];
}

/** The running parts and shortcuts. */
export interface LoopbackStack {
  readonly dir: string;
  readonly config: UwpxConfig;
  /** The configuration as written to `${dir}/configuration.json`. */
  readonly configPath: string;
  readonly cert: string;
  readonly wns: FakeWns;
  readonly xmpp: FakeComponentServer;
  readonly server: UwpxPushServer;
  /** Connects a device over TLS. */
  device(): Promise<DeviceClient>;
  /** Registers a device with a fresh channel and `accounts` accounts. */
  register(accounts?: number): Promise<RegisteredDevice>;
  /**
   * The users' server publishes to a node; resolves with the IQ answer. With
   * `dropOnNonWaitError`, rejects for a node whose registration the users' server dropped.
   */
  publish(node: string, secret: string, summary?: Record<string, string>): Promise<Element>;
  /** Nodes whose registration the users' server dropped (only with `dropOnNonWaitError`). */
  readonly droppedNodes: ReadonlySet<string>;
  /** GET on the operations port. */
  get(path: string): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

/** Starts the whole stack and waits for the XMPP link. */
export async function startLoopbackStack(
  options: LoopbackStackOptions = {},
): Promise<LoopbackStack> {
  const dir = await Deno.makeTempDir({ prefix: "push-ops-" });
  const cleanups: (() => Promise<unknown>)[] = [() => Deno.remove(dir, { recursive: true })];
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  };
  try {
    const droppedNodes = new Set<string>();
    const wns = await startFakeWns(options.fakeWns);
    cleanups.push(() => wns.close());
    const componentSecret = crypto.randomUUID();
    const xmpp = await startFakeComponentServer({ domain: PUSH_DOMAIN, secret: componentSecret });
    cleanups.push(() => xmpp.close());
    const { certPath, keyPath, cert } = await writeTestCertificate(dir);
    const json = testConfigJson({
      dir,
      certPath,
      keyPath,
      wns,
      wnsExtra: { coalesceMs: 0 },
      xmpp: {
        mode: "component",
        bareJid: PUSH_DOMAIN,
        password: componentSecret,
        host: "127.0.0.1",
        port: xmpp.port,
      },
    });
    json.http = { port: 0 };
    options.configure?.(json);
    const parsed = parseConfig(json);
    if (!parsed.ok) throw new Error(parsed.problems.join("; "));
    const configPath = `${dir}/configuration.json`;
    await Deno.writeTextFile(configPath, JSON.stringify(json, null, 2));
    const server = requireDevicePort(
      await startPushServer(
        parsed.config,
        options.logger ?? new RecordingLogger(),
        options.overrides,
      ),
    );
    cleanups.push(() => server.close(0));
    await xmpp.whenConnected(10_000);
    await server.link.whenOnline();

    const device = () =>
      DeviceClient.connect({
        hostname: "127.0.0.1",
        port: server.devices.addr.port,
        caCerts: [cert],
      });
    return {
      dir,
      config: server.config,
      configPath,
      cert,
      wns,
      xmpp,
      server,
      device,
      async register(accounts = 1) {
        const deviceId = randomHex();
        const channelUri = wns.channelUri();
        const client = await device();
        try {
          const set = await client.request({
            version: 2,
            action: "set_channel_uri",
            device_id: deviceId,
            channel_uri: channelUri,
          });
          if (set.status !== 1) throw new Error(`set_channel_uri: ${JSON.stringify(set)}`);
          const answer = await client.request({
            version: 2,
            action: "set_push_accounts",
            device_id: deviceId,
            accounts: Array.from({ length: accounts }, () => ({ account_id: randomHex() })),
          });
          if (answer.status !== 1) throw new Error(`set_push_accounts: ${JSON.stringify(answer)}`);
          return {
            deviceId,
            channelUri,
            accounts: answer.accounts as RegisteredDevice["accounts"],
          };
        } finally {
          client.close();
        }
      },
      async publish(node, secret, summary = { "message-count": "1" }) {
        if (droppedNodes.has(node)) {
          throw new Error(`the users' server dropped the registration of ${node}: no publish`);
        }
        const answer = await xmpp.sendIq(
          publishIq({ to: PUSH_DOMAIN, node, secret, summary }),
          10_000,
        );
        const errorType = answer.getChild("error")?.attrs.type;
        if (options.dropOnNonWaitError && answer.attrs.type === "error" && errorType !== "wait") {
          droppedNodes.add(node);
        }
        return answer;
      },
      droppedNodes,
      async get(path) {
        const port = server.ops?.addr.port;
        if (port === undefined) throw new Error("no operations port");
        const response = await fetch(`http://127.0.0.1:${port}${path}`);
        return { status: response.status, body: await response.text() };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Polls `condition` every `pollMs` until it holds; throws after `timeoutMs`. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
  pollMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export function randomHex(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toHex();
}
