/**
 * Push 2.0 notifications reach the component link's message handler over a real XEP-0114
 * connection (the fake component server), and its message errors go back to the sender.
 */

import assert from "node:assert/strict";
import type { Element } from "@xmpp/xml";
import webpush from "web-push";
import { ComponentLink } from "../../../adapters/xmpp/component_link.ts";
import { startFakeComponentServer } from "../../../adapters/xmpp/fake_component_server.ts";
import { handlePush2Message } from "../../../adapters/xmpp/push2_message.ts";
import type { Push2Notification } from "../../../domain/push2.ts";
import { parseXml } from "../../support/parse_xml.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

const DOMAIN = "push.example.org";
const SECRET = "component-secret";
const KEY = webpush.generateVAPIDKeys().publicKey;

function notification(id: string, priority = "normal"): Element {
  return parseXml(
    `<message from="example.org" to="${DOMAIN}" id="${id}"><notification xmlns="urn:xmpp:push2:0">` +
      `<client>https://push.example/e/${id}</client><priority>${priority}</priority>` +
      `<encrypted xmlns="urn:xmpp:sce:rfc8291:0"><payload>${
        new Uint8Array(100).toBase64()
      }</payload></encrypted><jwt key="${KEY}">aa.bb.cc</jwt></notification></message>`,
  );
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("component link: push2 notifications are relayed; errors go back as message errors", async () => {
  const server = await startFakeComponentServer({ domain: DOMAIN, secret: SECRET });
  const relayed: Push2Notification[] = [];
  const link = new ComponentLink({
    service: server.service,
    domain: DOMAIN,
    password: SECRET,
    logger: new RecordingLogger(),
    onPublish: () => Promise.resolve({ kind: "pushed" }),
    pingIntervalMs: 0,
    onMessage: (message) =>
      handlePush2Message(message, (n) => {
        relayed.push(n);
        return Promise.resolve(
          n.endpoint.endsWith("/gone")
            ? { kind: "error", type: "cancel", condition: "item-not-found", text: "gone" }
            : { kind: "relayed" },
        );
      }),
  });
  try {
    link.start();
    await link.whenOnline();
    await server.whenConnected();
    server.sendStanza(notification("ok", "high"));
    await eventually(() => relayed.length === 1, "the relay");
    assert.equal(relayed[0].endpoint, "https://push.example/e/ok");
    assert.equal(relayed[0].urgency, "high");

    server.sendStanza(notification("gone"));
    server.sendStanza(notification("bad", "urgent"));
    await eventually(
      () => server.received.filter((s) => s.name === "message").length === 2,
      "two message errors",
    );
    const errors = server.received.filter((s) => s.name === "message");
    const byId = new Map(errors.map((e) => [e.attrs.id, e]));
    const gone = byId.get("gone")!;
    assert.equal(gone.attrs.type, "error");
    assert.equal(gone.attrs.to, "example.org");
    assert.equal(gone.getChild("error")?.attrs.type, "cancel");
    assert.ok(gone.getChild("error")?.getChild("item-not-found"));
    const bad = byId.get("bad")!;
    assert.equal(bad.getChild("error")?.attrs.type, "modify");
    assert.ok(bad.getChild("error")?.getChild("bad-request"));
    // The successful one got no answer; the malformed one never reached the relay.
    assert.equal(byId.has("ok"), false);
    assert.equal(relayed.length, 2);
  } finally {
    await link.stop();
    await server.close();
  }
});
