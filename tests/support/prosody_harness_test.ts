/**
 * Proves the end-to-end support works: a real Prosody with mod_cloud_notify pushes an
 * offline message to a raw XEP-0114 component.
 */
import assert from "node:assert/strict";
import { component } from "@xmpp/component";
import { serverTestGate, startProsody, withTimeout } from "./prosody.ts";
import { connectUser } from "./xmpp_user.ts";

const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
const NS_DATA = "jabber:x:data";
const NS_PUSH = "urn:xmpp:push:0";
const PUSH_TIMEOUT_MS = 10_000;

/** The minimal slice of an @xmpp/xml (ltx) element that this test reads. */
interface El {
  name: string;
  attrs: Record<string, string | undefined>;
  getChild(name: string, xmlns?: string): El | undefined;
  getChildren(name: string, xmlns?: string): El[];
  getChildText(name: string, xmlns?: string): string | null;
}

/** Value of data-form field `name` in `form`, or undefined if absent or empty. */
function field(form: El | undefined, name: string): string | undefined {
  const f = form?.getChildren("field").find((el) => el.attrs.var === name);
  return f?.getChildText("value") ?? undefined;
}

/** Connects a bare component that records every IQ and answers pubsub publishes with a result. */
async function startComponent(port: number, domain: string, password: string) {
  const xmpp = component({ service: `xmpp://127.0.0.1:${port}`, domain, password });
  xmpp.reconnect.stop();
  xmpp.on("error", () => {}); // failures surface through start() and the assertions
  const iqs: El[] = [];
  let onPublish: (iq: El) => void = () => {};
  const published = new Promise<El>((resolve) => (onPublish = resolve));
  xmpp.on("stanza", (stanza: El) => {
    if (stanza.name !== "iq") return;
    iqs.push(stanza);
    if (stanza.attrs.type === "set" && stanza.getChild("pubsub", NS_PUBSUB)?.getChild("publish")) {
      onPublish(stanza);
    }
  });
  xmpp.iqCallee.set(NS_PUBSUB, "pubsub", () => true); // true: empty <iq type='result'/>
  const stop = () => xmpp.stop().catch(() => {});
  try {
    await withTimeout(xmpp.start(), 10_000, "component connect");
  } catch (err) {
    await stop();
    throw err;
  }
  return { iqs, published, stop };
}

Deno.test({
  name: "prosody + mod_cloud_notify push an offline message to the component",
  ...serverTestGate("prosody"),
  async fn() {
    const secret = "component-secret";
    const server = await startProsody({
      componentDomain: "push.localhost",
      componentSecret: secret,
    });
    const cleanups: (() => Promise<unknown>)[] = [];
    try {
      const push = await startComponent(server.componentPort, "push.localhost", secret);
      cleanups.push(push.stop);
      await server.registerUser("alice", "alice-pw");
      await server.registerUser("bob", "bob-pw");

      const alice = await connectUser({
        port: server.c2sPort,
        username: "alice",
        password: "alice-pw",
      });
      cleanups.push(alice.disconnect);
      await alice.enablePush({ jid: "push.localhost", node: "node123", secret: "sekrit" });
      await alice.disconnect();

      const bob = await connectUser({ port: server.c2sPort, username: "bob", password: "bob-pw" });
      cleanups.push(bob.disconnect);
      await bob.sendMessage("alice@localhost", "hello alice");

      let iq: El;
      try {
        iq = await withTimeout(push.published, PUSH_TIMEOUT_MS, "publish IQ at the component");
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new Error(`${why}\nIQs seen: ${push.iqs.length}\n${await server.logTail()}`);
      }

      assert.equal(iq.attrs.from, "localhost");
      assert.equal(iq.attrs.to, "push.localhost");
      const pubsub = iq.getChild("pubsub", NS_PUBSUB);
      assert.equal(pubsub?.getChild("publish")?.attrs.node, "node123");
      const options = pubsub?.getChild("publish-options")?.getChild("x", NS_DATA);
      assert.equal(field(options, "FORM_TYPE"), `${NS_PUBSUB}#publish-options`);
      assert.equal(field(options, "secret"), "sekrit");
      const summary = pubsub?.getChild("publish")?.getChild("item")
        ?.getChild("notification", NS_PUSH)?.getChild("x", NS_DATA);
      assert.equal(field(summary, "FORM_TYPE"), "urn:xmpp:push:summary");
      assert.equal(field(summary, "message-count"), "1");
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
      await server.stop();
    }
  },
});
