/**
 * Two push-server instances sharing one Redis (a real redis-server), each the XEP-0114
 * component of its own connection to the users' server (as ejabberd balances several
 * connections of one component domain), one FCM app served by the fake FCM: a
 * registration made through one instance pushes through the other, the OAuth token one
 * fetched is the other's too (the fake counts token requests), and the raw Redis keys are
 * the README's.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import type { Element } from "@xmpp/xml";
import { startFakeFcm } from "../../adapters/push/fcm/fake_fcm_server.ts";
import { startFakeWns } from "../../adapters/push/wns/fake_wns_server.ts";
import {
  type FakeComponentServer,
  startFakeComponentServer,
} from "../../adapters/xmpp/fake_component_server.ts";
import { publishIq } from "../../adapters/xmpp/publish_builder.ts";
import { parseConfig } from "../../app/config.ts";
import { DEFAULT_GONE_CHANNEL_TTL_MS } from "../../app/gone_channels.ts";
import { type PushServer, startPushServer } from "../../app/push_server.ts";
import { parseXml } from "../support/parse_xml.ts";
import { serverTestGate } from "../support/prosody.ts";
import { RecordingLogger } from "../support/recording_logger.ts";
import { startRedis } from "../support/redis.ts";
import { testConfigJson } from "../support/test_config.ts";
import { writeTestCertificate } from "../support/tls_cert.ts";

const DOMAIN = "push.localhost";
const APP = "conversations";
const NS_COMMANDS = "http://jabber.org/protocol/commands";
const ANDROID_ID = "92afd7a91cdba9a0";
const USER = "alice@example.org";

/** Conversations' register IQ (the fixture) from `USER`'s phone, with `token`. */
function registerIq(token: string): Element {
  const iq = parseXml(
    Deno.readTextFileSync(new URL("../fixtures/p2/register_request.stanza", import.meta.url)),
  );
  iq.attrs.to = DOMAIN;
  iq.attrs.from = `${USER}/Conversations.Ab1`;
  iq.attrs.id = `reg-${crypto.randomUUID()}`;
  const form = iq.getChild("command", NS_COMMANDS)!.getChild("x", "jabber:x:data")!;
  form.getChildren("field").find((f: Element) => f.attrs.var === "token")!
    .getChild("value").children = [token];
  return iq;
}

/** The answer's form fields. */
function answerOf(answer: Element): { jid: string; node: string; secret: string } {
  const form = answer.getChild("command", NS_COMMANDS)!.getChild("x", "jabber:x:data")!;
  const value = (name: string) =>
    form.getChildren("field").find((f: Element) => f.attrs.var === name)!.getChildText("value")!;
  return { jid: value("jid"), node: value("node"), secret: value("secret") };
}

/** What the user's server hears for a publish: `result` or `type/condition`. */
async function publish(
  xmpp: FakeComponentServer,
  registration: { node: string; secret: string },
): Promise<string> {
  const answer = await xmpp.sendIq(
    publishIq({ to: DOMAIN, from: "example.org", ...registration, summary: {} }),
    10_000,
  );
  const error = answer.getChild("error");
  return error ? `${error.attrs.type}/${error.getChildElements()[0].name}` : "result";
}

Deno.test({
  name: "two instances on one Redis: registered through one, pushed through the other; " +
    "one FCM access token for both; the README's keys",
  ...serverTestGate("redis-server"),
  async fn() {
    const redis = await startRedis();
    const fcm = await startFakeFcm({ projectId: "conversations-push" });
    const wns = await startFakeWns();
    const dir = await Deno.makeTempDir();
    const raw = new Redis({ host: redis.host, port: redis.port, lazyConnect: true });
    const started: { server: PushServer; xmpp: FakeComponentServer }[] = [];
    try {
      await raw.connect();
      const { certPath, keyPath } = await writeTestCertificate(dir);
      const serviceAccountFile = `${dir}/conversations.json`;
      await Deno.writeTextFile(serviceAccountFile, JSON.stringify(fcm.serviceAccount));
      const instance = async (clock?: { now(): number }) => {
        const secret = crypto.randomUUID();
        const xmpp = await startFakeComponentServer({ domain: DOMAIN, secret });
        const json = testConfigJson({
          dir,
          dbUrl: redis.url,
          certPath,
          keyPath,
          wns,
          xmpp: { mode: "component", bareJid: DOMAIN, password: secret, port: xmpp.port },
        });
        json.apps = {
          [APP]: { service: "fcm", serviceAccountFile, baseUrl: fcm.url, coalesceMs: 0 },
        };
        const parsed = parseConfig(json);
        if (!parsed.ok) throw new Error(parsed.problems.join("; "));
        const server = await startPushServer(
          parsed.config,
          new RecordingLogger(),
          clock ? { clock } : {},
        );
        started.push({ server, xmpp });
        await xmpp.whenConnected(10_000);
        await server.link.whenOnline();
        return { server, xmpp };
      };
      // A's clock can be moved on (past its memory of gone tokens).
      const aClock = { offsetMs: 0, now: () => Date.now() + aClock.offsetMs };
      const a = await instance(aClock);
      const b = await instance();
      const hash = createHash("sha1").update(`${USER}\u0000${ANDROID_ID}`).digest("hex");

      // Registered through A, pushed through B: B fetches the app's access token.
      const token = fcm.deviceToken();
      const registration = answerOf(await a.xmpp.sendIq(registerIq(token)));
      assert.equal(registration.jid, DOMAIN);
      assert.equal(await publish(b.xmpp, registration), "result");
      assert.equal(fcm.messages.length, 1);
      assert.equal(fcm.messages[0].token, token);
      assert.deepEqual(fcm.messages[0].data, { account: hash });
      assert.equal(fcm.counters.tokenRequests, 1);

      // The token is in Redis under token:FCM:<app>, and A pushes with it: no request.
      const [stored, type, expires] = await raw.lrange(`token:FCM:${APP}`, 0, -1);
      assert.equal(stored, fcm.issuedTokens[0]);
      assert.equal(type, "Bearer");
      assert.ok(Math.abs(Number(expires) - (Date.now() / 1000 + 3599)) < 60, expires);
      assert.equal(await publish(a.xmpp, registration), "result");
      assert.equal(fcm.counters.tokenRequests, 1, "A fetched a token of its own");
      assert.equal(fcm.messages[1].accessToken, fcm.messages[0].accessToken);

      // The registration's keys, as the README's Redis layout says.
      const id = `fcm:${APP}:${hash}`;
      const [slot0, version, accountKey] = await raw.lrange(id, 0, -1);
      assert.deepEqual([slot0, version], [`target:fcm:${APP}:${token}`, "0"]);
      assert.equal(
        accountKey,
        createHash("sha256").update(`${id}_${hash}`).digest("hex"),
        "the account key: sha256(<service>:<app>:<key> _ <key>)",
      );
      assert.deepEqual(await raw.lrange(registration.node, 0, -1), [
        hash,
        id,
        registration.secret,
      ]);
      assert.ok(await raw.pexpiretime(id) > Date.now() + 200 * 86_400_000, "210 days");

      // A token change through B: A's next push goes to the new token; node and secret kept.
      const newToken = fcm.deviceToken();
      assert.deepEqual(answerOf(await b.xmpp.sendIq(registerIq(newToken))), registration);
      assert.equal(await publish(a.xmpp, registration), "result");
      assert.equal(fcm.messages[2].token, newToken);

      // UNREGISTERED through A ends the registration for B too (its keys go at once)...
      fcm.failAlways(newToken, "UNREGISTERED");
      assert.equal(await publish(a.xmpp, registration), "cancel/item-not-found");
      assert.equal(await publish(b.xmpp, registration), "cancel/item-not-found");
      assert.equal(await raw.exists(id, registration.node), 0, "the keys are gone");
      // ...and registering again through B (the same token, which FCM takes again) pushes
      // through B at once, and through A once A's memory of the gone token (which B cannot
      // clear: GoneChannels, a few minutes) has passed.
      fcm.heal(newToken);
      const again = answerOf(await b.xmpp.sendIq(registerIq(newToken)));
      assert.notEqual(again.node, registration.node);
      assert.equal(await publish(b.xmpp, again), "result");
      aClock.offsetMs = DEFAULT_GONE_CHANNEL_TTL_MS;
      assert.equal(await publish(a.xmpp, again), "result");
      assert.equal(fcm.messages.at(-1)?.token, newToken);
      assert.equal(fcm.counters.tokenRequests, 1, "one access token all along");
    } finally {
      for (const { server, xmpp } of started) {
        await server.close();
        await xmpp.close();
      }
      raw.disconnect();
      await Promise.all([fcm.close(), wns.close()]);
      await redis.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
