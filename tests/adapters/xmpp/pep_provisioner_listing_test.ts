import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import { type IqChannel, PepProvisioner } from "../../../adapters/xmpp/pep_provisioner.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

const JID = "pushsvc@example.org";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";

function provisionerAnswering(answer: (iq: Element) => Element | Error) {
  const sent: Element[] = [];
  const link: IqChannel = {
    pushBareJid: JID,
    iq(stanza) {
      sent.push(stanza);
      const answered = answer(stanza);
      return answered instanceof Error ? Promise.reject(answered) : Promise.resolve(answered);
    },
  };
  return { sent, provisioner: new PepProvisioner({ link, logger: new RecordingLogger() }) };
}

Deno.test("PepProvisioner.listOwnNodes: asks the account's bare JID, keeps only its own items", async () => {
  const { sent, provisioner } = provisionerAnswering((iq) =>
    xml(
      "iq",
      { type: "result", id: iq.attrs.id, from: JID },
      xml(
        "query",
        { xmlns: NS_DISCO_ITEMS },
        xml("item", { jid: JID, node: "urn:xmpp:bookmarks:1" }),
        xml("item", { jid: "PushSvc@example.org", node: "AAAAAAAAAAAAAAAAAAAA" }),
        xml("item", { jid: "other@example.org", node: "BBBBBBBBBBBBBBBBBBBB" }),
        xml("item", { jid: JID }),
      ),
    )
  );
  assert.deepEqual(await provisioner.listOwnNodes(), [
    "urn:xmpp:bookmarks:1",
    "AAAAAAAAAAAAAAAAAAAA",
  ]);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].attrs.type, "get");
  assert.equal(sent[0].attrs.to, JID);
  assert.ok(sent[0].getChild("query", NS_DISCO_ITEMS));
});

Deno.test("PepProvisioner.listOwnNodes: an error or an odd answer rejects", async () => {
  const refused = provisionerAnswering(() =>
    Object.assign(new Error("forbidden"), { condition: "forbidden", type: "auth" })
  );
  await assert.rejects(refused.provisioner.listOwnNodes(), /forbidden/);
  const odd = provisionerAnswering((iq) => xml("iq", { type: "result", id: iq.attrs.id }));
  await assert.rejects(odd.provisioner.listOwnNodes(), /oddly/);
});
