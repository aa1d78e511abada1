/**
 * `deno task demo`: the whole push flow on loopback with nothing but Deno. A real push
 * server (TLS device port, SQLite, XEP-0114 component link, the real WNS and FCM senders)
 * runs against a simulated user's XMPP server, the fake WNS and a fake FCM (its token
 * endpoint verifies the service account's JWT with jose), while a simulated UWPX device
 * registers and an Android app's registration is stored. Prints what each party sees.
 *
 * @module
 */

import selfsigned from "selfsigned";
import { DeviceClient } from "../adapters/device/device_client.ts";
import { ConsoleLogger } from "../adapters/logging/console_logger.ts";
import { startFakeComponentServer } from "../adapters/xmpp/fake_component_server.ts";
import { publishIq } from "../adapters/xmpp/publish_builder.ts";
import { startFakeWns } from "../adapters/push/wns/fake_wns_server.ts";
import { startFakeFcm } from "../adapters/push/fcm/fake_fcm_server.ts";
import { parseConfig } from "./config.ts";
import { requireDevicePort, startPushServer } from "./push_server.ts";

const PUSH_DOMAIN = "push.demo.localhost";

function show(title: string, value: unknown): void {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  console.log(`\n== ${title}\n${text}`);
}

/** Runs the demo; returns the exit code. */
export async function demo(): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "uwpx-push-demo-" });
  const wns = await startFakeWns();
  const fcm = await startFakeFcm({ projectId: "demo-conversations" });
  const secret = crypto.randomUUID();
  const userServer = await startFakeComponentServer({ domain: PUSH_DOMAIN, secret });
  let server: Awaited<ReturnType<typeof startPushServer>> | undefined;
  try {
    const pems = await selfsigned.generate([{ name: "commonName", value: "localhost" }], {
      keyType: "ec",
      curve: "P-256",
      algorithm: "sha256",
      extensions: [{
        name: "subjectAltName",
        altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }],
      }],
    });
    await Deno.writeTextFile(`${dir}/server.cert`, pems.cert);
    await Deno.writeTextFile(`${dir}/server.key`, pems.private);
    // The Firebase console's key file, its token_uri pointing at the fake.
    await Deno.writeTextFile(`${dir}/conversations.json`, JSON.stringify(fcm.serviceAccount));
    const parsed = parseConfig({
      db: { url: `sqlite:${dir}/push.db` },
      tcp: {
        host: "127.0.0.1",
        port: 0,
        tls: { serverCertPath: `${dir}/server.cert`, serverKeyPath: `${dir}/server.key` },
      },
      wns: {
        clientSecret: wns.clientSecret,
        packetId: wns.packetId,
        tokenUrl: wns.tokenUrl,
        channelUriPattern: `^${wns.url.replaceAll(".", "\\.")}/channel/.*`,
      },
      xmpp: {
        mode: "component",
        bareJid: PUSH_DOMAIN,
        password: secret,
        host: "127.0.0.1",
        port: userServer.port,
      },
      apps: {
        conversations: {
          service: "fcm",
          serviceAccountFile: `${dir}/conversations.json`,
          baseUrl: fcm.url,
        },
      },
      log: { level: "warn" },
    });
    if (!parsed.ok) throw new Error(parsed.problems.join("; "));
    server = await startPushServer(parsed.config, new ConsoleLogger("warn"));
    const devicePort = requireDevicePort(server).devices.addr.port;
    await userServer.whenConnected(10_000);
    await server.link.whenOnline();
    show("push server", {
      devicePort,
      jid: PUSH_DOMAIN,
      storage: "SQLite",
      xmppLink: server.link.online ? "up" : "down",
    });

    // The device: one TLS connection per request, as the UWPX client does.
    const deviceId = crypto.getRandomValues(new Uint8Array(32)).toHex();
    const accounts = await Promise.all(
      ["alice@example.org", "alice@work.example"].map((jid) => sha256Hex(`${deviceId}${jid}`)),
    );
    const ask = async (request: Record<string, unknown>) => {
      const client = await DeviceClient.connect({
        hostname: "127.0.0.1",
        port: devicePort,
        caCerts: [pems.cert],
      });
      try {
        show(`device -> push server: ${request.action}`, request);
        const answer = await client.request(request);
        show("push server -> device", answer);
        return answer;
      } finally {
        client.close();
      }
    };
    const channelUri = wns.channelUri("demo-device");
    await ask({
      version: 2,
      action: "set_channel_uri",
      device_id: deviceId,
      channel_uri: channelUri,
    });
    const registered = await ask({
      version: 2,
      action: "set_push_accounts",
      device_id: deviceId,
      accounts: accounts.map((account_id) => ({ account_id })),
    });
    const [first, second] = registered.accounts as { node: string; secret: string }[];

    // The user's XMPP servers publish (XEP-0357), as Prosody and ejabberd do.
    const publish = async (title: string, options: Parameters<typeof publishIq>[0]) => {
      const iq = publishIq(options);
      show(`user's server -> push server: ${title}`, iq.toString());
      const answer = await userServer.sendIq(iq);
      show("push server -> user's server", answer.toString());
    };
    await publish("Prosody publish for the first account", {
      to: PUSH_DOMAIN,
      node: first.node,
      secret: first.secret,
      summary: { "message-count": "1", "last-message-body": "New Message!" },
    });
    await publish("ejabberd publish for the second account", {
      to: PUSH_DOMAIN,
      node: second.node,
      secret: second.secret,
      flavour: "ejabberd",
      summary: { "last-message-body": "See you at noon" },
    });
    await publish("a publish with a wrong secret", {
      to: PUSH_DOMAIN,
      node: first.node,
      secret: "guessed",
      summary: { "message-count": "1" },
    });
    await ask({ version: 2, action: "request_test_push", device_id: deviceId });

    // An Android phone with the Conversations app (FCM app "conversations"), stored as its
    // register-push-fcm command stores it: p2's device hash is the account id.
    const hash = await sha1Hex(`alice@example.org\0demo-android-id`);
    const phone = {
      deviceId: `fcm:conversations:${hash}`,
      node: crypto.getRandomValues(new Uint8Array(15)).toBase64({ alphabet: "base64url" }),
      secret: crypto.getRandomValues(new Uint8Array(24)).toBase64({ alphabet: "base64url" }),
    };
    const expiresAt = Date.now() + 210 * 24 * 60 * 60 * 1000;
    const fcmTarget = { service: "fcm", app: "conversations", address: fcm.deviceToken() };
    await server.store.saveTarget(phone.deviceId, fcmTarget, 1, expiresAt);
    await server.store.replaceAccounts(phone.deviceId, [{
      accountId: hash,
      node: phone.node,
      secret: phone.secret,
    }], expiresAt);
    await publish("Prosody publish for the Android phone (FCM app conversations)", {
      to: PUSH_DOMAIN,
      node: phone.node,
      secret: phone.secret,
      summary: { "message-count": "1", "last-message-body": "New Message!" },
    });
    show(
      "FCM -> phone: the data messages FCM was asked to deliver",
      fcm.messages.map(({ data, android }) => ({ data, android })),
    );

    show(
      "WNS -> device: the raw notifications the device received",
      wns.received.map((push) => JSON.parse(push.body)),
    );
    console.log("\nNo message body, sender or secret left the push server.");
    return 0;
  } catch (error) {
    console.error(`demo failed: ${(error as Error).message}`);
    return 1;
  } finally {
    await server?.close();
    await userServer.close();
    await wns.close();
    await fcm.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** p2's device hash: lower-case SHA-1 hex of the bare JID, a NUL and the device id. */
async function sha1Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return new Uint8Array(digest).toHex();
}

/** The UWPX client's account id: lower-case SHA-256 hex of the device id and the bare JID. */
async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return new Uint8Array(digest).toHex();
}

if (import.meta.main) Deno.exit(await demo());
