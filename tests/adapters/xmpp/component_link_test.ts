/**
 * The component link's answers to publishes as the user's server receives them, over a real
 * XEP-0114 connection (the fake component server).
 */

import assert from "node:assert/strict";
import type { Element } from "@xmpp/xml";
import { ComponentLink } from "../../../adapters/xmpp/component_link.ts";
import { startFakeComponentServer } from "../../../adapters/xmpp/fake_component_server.ts";
import { publishIq } from "../../../adapters/xmpp/publish_builder.ts";
import type { PublishHandler } from "../../../domain/ports/xmpp_link.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

const DOMAIN = "push.example.org";
const SECRET = "component-secret";

/** `type/condition` of an error answer, or the answer's type. */
function answerOf(iq: Element): string {
  const error = iq.getChild("error");
  if (!error) return iq.attrs.type;
  const condition = error.getChildElements().find((c: Element) => c.name !== "text");
  return `${error.attrs.type}/${condition?.name}`;
}

Deno.test("component link: a publish whose handling fails unexpectedly is answered wait, never the library's cancel", async () => {
  const server = await startFakeComponentServer({ domain: DOMAIN, secret: SECRET });
  const logger = new RecordingLogger();
  let fail = true;
  const onPublish: PublishHandler = () =>
    fail ? Promise.reject(new Error("a bug")) : Promise.resolve({ kind: "pushed" });
  const link = new ComponentLink({
    service: server.service,
    domain: DOMAIN,
    password: SECRET,
    logger,
    onPublish,
    pingIntervalMs: 0,
  });
  try {
    link.start();
    await link.whenOnline();
    await server.whenConnected();
    const publish = () =>
      server.sendIq(publishIq({ node: "n1", secret: "s", from: "example.org", to: DOMAIN }));
    // ejabberd drops a push registration on the first non-`wait` error: a failure that may
    // pass must not end it.
    assert.equal(answerOf(await publish()), "wait/internal-server-error");
    assert.ok(logger.text().includes("a bug"), logger.text());
    fail = false;
    assert.equal(answerOf(await publish()), "result");
  } finally {
    await link.stop();
    await server.close();
  }
});
