/**
 * Web Push apps in whole servers, each behind a fake XEP-0114 server (the user's server's
 * side), on the fake push service (jose verifies VAPID, http_ece decrypts):
 *
 * - two instances on one real Redis, started at once, share one generated VAPID key
 *   (keepFirstSecret), and one pushes for a registration made through the other;
 * - the Push 2.0 relay is bounded per sending server (`push2_per_server`), counted by app
 *   and outcome; a notification for an unknown app is item-not-found; disco lists the
 *   commands.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Element } from "@xmpp/xml";
import * as jose from "jose";
import webpush from "web-push";
import {
  type FakePushService,
  startFakePushService,
} from "../../adapters/push/webpush/fake_push_service.ts";
import {
  type FakeComponentServer,
  startFakeComponentServer,
} from "../../adapters/xmpp/fake_component_server.ts";
import { publishIq } from "../../adapters/xmpp/publish_builder.ts";
import { parseConfig } from "../../app/config.ts";
import { type PushServer, startPushServer } from "../../app/push_server.ts";
import { serverTestGate } from "../support/prosody.ts";
import { parseXml } from "../support/parse_xml.ts";
import { sample } from "../support/prometheus_text.ts";
import { RecordingLogger } from "../support/recording_logger.ts";
import { type RunningRedis, startRedis } from "../support/redis.ts";
import { testCertificate, writeTestCertificate } from "../support/tls_cert.ts";

const DOMAIN = "push.localhost";
const NS_COMMANDS = "http://jabber.org/protocol/commands";
const LOOPBACK_DNS = (host: string) =>
  host === "localhost"
    ? Promise.resolve([{ address: "127.0.0.1", family: 4 as const }])
    : Promise.reject(new Error("ENOTFOUND"));

interface Instance {
  readonly server: PushServer;
  readonly xmpp: FakeComponentServer;
  readonly logger: RecordingLogger;
  readonly vapidKey: string;
  close(): Promise<void>;
}

async function instance(
  dir: string,
  dbUrl: string,
  tlsCert: string,
  limits: Record<string, unknown> = {},
): Promise<Instance> {
  const xmpp = await startFakeComponentServer({ domain: DOMAIN, secret: "s" });
  const { certPath, keyPath } = await writeTestCertificate(dir);
  const parsed = parseConfig({
    db: { url: dbUrl },
    tcp: { host: "127.0.0.1", port: 0, tls: { serverCertPath: certPath, serverKeyPath: keyPath } },
    wns: { clientSecret: "x", packetId: "ms-app://s-1-15-2-1", tokenUrl: "http://127.0.0.1:9/t" },
    xmpp: { mode: "component", bareJid: DOMAIN, password: "s", host: "127.0.0.1", port: xmpp.port },
    apps: {
      up: {
        service: "webpush",
        vapid: { subject: "mailto:ops@push.localhost" },
        allowPrivateAddresses: true,
        coalesceMs: 0,
      },
    },
    limits,
  });
  if (!parsed.ok) throw new Error(parsed.problems.join("\n"));
  const logger = new RecordingLogger();
  const server = await startPushServer(parsed.config, logger, {
    webpush: { resolve: LOOPBACK_DNS, caCerts: [tlsCert] },
  });
  await server.link.whenOnline();
  const ready = logger.lines.find((l) => l.message === "Web Push app ready");
  return {
    server,
    xmpp,
    logger,
    vapidKey: String(ready?.fields?.vapidPublicKey),
    async close() {
      await server.close();
      await xmpp.close();
    },
  };
}

function registerIq(fields: Record<string, string>, to = DOMAIN): Element {
  const form = Object.entries(fields).map(([name, value]) =>
    `<field var="${name}"><value>${value}</value></field>`
  ).join("");
  return parseXml(
    `<iq type="set" from="juliet@capulet.example/phone" to="${to}" id="r1">` +
      `<command xmlns="${NS_COMMANDS}" node="register-push-webpush" action="execute">` +
      `<x xmlns="jabber:x:data" type="submit">${form}</x></command></iq>`,
  );
}

function field(answer: Element, name: string): string | undefined {
  return answer.getChild("command", NS_COMMANDS)?.getChild("x", "jabber:x:data")
    ?.getChildren("field").find((f: Element) => f.attrs.var === name)?.getChildText("value") ??
    undefined;
}

Deno.test({
  name: "Web Push on one Redis: instances started at once share one VAPID key; one pushes " +
    "for a registration made through the other",
  ...serverTestGate("redis-server"),
  async fn() {
    const redis: RunningRedis = await startRedis();
    const dir = await Deno.makeTempDir();
    const tls = await testCertificate();
    const fake: FakePushService = await startFakePushService({ tls, hostname: "localhost" });
    const [a, b] = await Promise.all([
      instance(`${dir}`, redis.url, tls.cert),
      instance(`${dir}`, redis.url, tls.cert),
    ]);
    try {
      assert.match(a.vapidKey, /^B[A-Za-z0-9_-]{86}$/);
      assert.equal(b.vapidKey, a.vapidKey, "both instances sign with one key");

      // A subscription bound to that key (the push service refuses any other: 403).
      const sub = fake.subscribe({
        vapidKey: a.vapidKey,
        receiverKeys: webpush.generateVAPIDKeys(),
      });
      const answer = await a.xmpp.sendIq(registerIq({ endpoint: sub.endpoint, ...sub.json.keys }));
      assert.equal(answer.attrs.type, "result", answer.toString());
      const node = field(answer, "node")!;
      const secret = field(answer, "secret")!;
      const published = await b.xmpp.sendIq(
        publishIq({ to: DOMAIN, node, secret, summary: { "message-count": "2" } }),
      );
      assert.equal(published.attrs.type, "result", published.toString());
      const [message] = await fake.waitForMessages(1, 10_000);
      const payload = JSON.parse(message.text);
      assert.equal(payload.kind, "push");
      assert.equal(payload.message_count, 2);
      const key = new Uint8Array(
        await crypto.subtle.digest(
          "SHA-256",
          new TextEncoder().encode(`juliet@capulet.example\u0000${sub.endpoint}`),
        ),
      ).toHex();
      assert.equal(payload.account, key);
      // Kept beside the original layout, under its own name.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: redis.port });
      await conn.write(new TextEncoder().encode("EXISTS uwpx:secret:VAPID:up\r\n"));
      const reply = new Uint8Array(64);
      const n = await conn.read(reply);
      conn.close();
      assert.equal(new TextDecoder().decode(reply.subarray(0, n!)), ":1\r\n");
    } finally {
      await Promise.all([a.close(), b.close()]);
      await fake.close();
      await redis.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("Push 2.0 relay: bounded per sending server, counted; unknown app; disco lists the commands", async () => {
  const dir = await Deno.makeTempDir();
  const tls = await testCertificate();
  const fake = await startFakePushService({ tls, hostname: "localhost" });
  const s = await instance(dir, `sqlite:${dir}/push.db`, tls.cert, {
    xmpp: { publishesPerServer: { perSecond: 0.01, burst: 2 } },
  });
  try {
    const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true });
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", publicKey as CryptoKey));
    const sub = fake.subscribe({
      vapidKey: raw.toBase64({ alphabet: "base64url", omitPadding: true }),
      receiverKeys: webpush.generateVAPIDKeys(),
    });
    const jwt = await new jose.SignJWT({ sub: "mailto:admin@example.org" })
      .setProtectedHeader({ alg: "ES256", typ: "JWT" })
      .setAudience(fake.origin)
      .setExpirationTime("12h")
      .sign(privateKey);
    const notification = (id: string, to = DOMAIN) => {
      const { keys } = sub.json;
      const body = webpush.encrypt(keys.p256dh, keys.auth, `n ${id}`, "aes128gcm").cipherText;
      return parseXml(
        `<message from="example.org" to="${to}" id="${id}">` +
          `<notification xmlns="urn:xmpp:push2:0"><client>${sub.endpoint}</client>` +
          `<priority>normal</priority><encrypted xmlns="urn:xmpp:sce:rfc8291:0"><payload>${
            Buffer.from(body).toString("base64")
          }</payload></encrypted><jwt key="${raw.toBase64()}">${jwt}</jwt></notification></message>`,
      );
    };
    const errorFor = async (id: string) => {
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        const found = s.xmpp.received.find((m) => m.name === "message" && m.attrs.id === id);
        if (found) return found.getChild("error");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return undefined;
    };
    for (const id of ["a", "b"]) s.xmpp.sendStanza(notification(id));
    await fake.waitForMessages(2, 10_000);
    assert.deepEqual(fake.received.map((m) => m.text).sort(), ["n a", "n b"]);
    // The burst of 2 is spent: the third waits, and nothing is sent for it.
    s.xmpp.sendStanza(notification("c"));
    const limited = await errorFor("c");
    assert.equal(limited?.attrs.type, "wait");
    assert.ok(limited?.getChild("resource-constraint"));
    assert.equal(fake.requests.length, 2);
    s.xmpp.sendStanza(notification("d", `${DOMAIN}/nope`));
    assert.ok((await errorFor("d"))?.getChild("item-not-found"), "unknown app");

    const text = s.server.metrics.registry.text();
    assert.equal(
      sample(text, "uwpx_push2_notifications_total", { app: "up", outcome: "relayed" }),
      2,
    );
    assert.equal(sample(text, "uwpx_push2_notifications_total", { app: "up", outcome: "wait" }), 1);
    assert.equal(sample(text, "uwpx_push2_notifications_total", { app: "", outcome: "no-app" }), 1);
    assert.equal(sample(text, "uwpx_push_limit_hits_total", { limit: "push2_per_server" }), 1);

    const items = await s.xmpp.sendIq(parseXml(
      `<iq type="get" from="juliet@capulet.example/phone" to="${DOMAIN}" id="d1">` +
        `<query xmlns="http://jabber.org/protocol/disco#items" node="${NS_COMMANDS}"/></iq>`,
    ));
    const nodes = items.getChild("query")!.getChildren("item").map((i: Element) => i.attrs.node);
    assert.ok(nodes.includes("register-push-webpush") && nodes.includes("unregister-push-webpush"));
  } finally {
    await s.close();
    await fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});
