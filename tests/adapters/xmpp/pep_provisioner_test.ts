import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import { NODE_SETUP_ITEM_ID } from "../../../adapters/xmpp/pep_event.ts";
import { type IqChannel, PepProvisioner } from "../../../adapters/xmpp/pep_provisioner.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

const JID = "pushsvc@example.org";
const NODE_A = "nodeAAAAAAAAAAAAAAAAAAAA";
const NODE_B = "nodeBBBBBBBBBBBBBBBBBBBB";
const NS_PUBSUB = "http://jabber.org/protocol/pubsub";

/** A stanza error as the library's iqCaller rejects with. */
function stanzaError(condition: string, type = "cancel"): Error {
  return Object.assign(new Error(condition), { name: "StanzaError", condition, type });
}

type Answer = (iq: Element) => Element | Error;

/** The server's usual answers: a result for everything, with a subscription for subscribes. */
const serverAnswer: Answer = (iq) => {
  const pubsub = iq.getChildElements()[0];
  const subscribe = pubsub.getChild("subscribe");
  if (subscribe) {
    return result(
      iq,
      xml(
        "pubsub",
        { xmlns: NS_PUBSUB },
        xml("subscription", { ...subscribe.attrs, subscription: "subscribed" }),
      ),
    );
  }
  return result(iq);
};

function result(iq: Element, payload?: Element): Element {
  return xml("iq", { type: "result", id: iq.attrs.id }, payload);
}

/** What the provisioner sent: the IQ, its step and its node. */
interface Sent {
  readonly iq: Element;
  readonly timeoutMs: number;
  readonly step: string;
  readonly node: string;
}

function setup(answer: Answer = serverAnswer) {
  const sent: Sent[] = [];
  const link: IqChannel = {
    pushBareJid: JID,
    iq(stanza, timeoutMs) {
      const child = stanza.getChildElements()[0].getChildElements()[0];
      sent.push({ iq: stanza, timeoutMs, step: child.name, node: child.attrs.node });
      const answered = answer(stanza);
      return answered instanceof Error ? Promise.reject(answered) : Promise.resolve(answered);
    },
  };
  const logger = new RecordingLogger();
  const provisioner = new PepProvisioner({ link, logger, iqTimeoutMs: 1234 });
  return { sent, logger, provisioner };
}

Deno.test("PepProvisioner: creates the node with the original's options, then subscribes", async () => {
  const { sent, provisioner } = setup();
  const ready = await provisioner.provision([NODE_A], []);
  assert.deepEqual([...ready], [NODE_A]);
  assert.deepEqual(sent.map((s) => [s.step, s.node]), [["publish", NODE_A], ["subscribe", NODE_A]]);

  const [publish, subscribe] = sent.map((s) => s.iq);
  assert.equal(publish.attrs.type, "set");
  assert.equal(publish.attrs.to, undefined); // the account's own PEP service
  const pubsub = publish.getChild("pubsub", NS_PUBSUB)!;
  const item = pubsub.getChild("publish")!.getChild("item")!;
  assert.equal(item.attrs.id, NODE_SETUP_ITEM_ID);
  assert.ok(item.getChild("notification", "urn:xmpp:push:0"));
  const form = pubsub.getChild("publish-options")!.getChild("x", "jabber:x:data")!;
  assert.equal(form.attrs.type, "submit");
  const fields = Object.fromEntries(
    form.getChildren("field").map((f: Element) => [f.attrs.var, f.getChildText("value")]),
  );
  assert.deepEqual(fields, {
    FORM_TYPE: "http://jabber.org/protocol/pubsub#publish-options",
    "pubsub#access_model": "open",
    "pubsub#publish_model": "open",
    "pubsub#deliver_notifications": "1",
    "pubsub#deliver_payloads": "1",
    "pubsub#persist_items": "1",
    "pubsub#send_last_published_item": "never",
  });

  assert.equal(subscribe.attrs.type, "set");
  assert.deepEqual(subscribe.getChild("pubsub", NS_PUBSUB)!.getChild("subscribe")!.attrs, {
    node: NODE_A,
    jid: JID,
  });
  assert.ok(sent.every((s) => s.timeoutMs === 1234), "every IQ has the bounded timeout");
});

Deno.test("PepProvisioner: every IQ has its own id", async () => {
  const { sent, provisioner } = setup();
  await provisioner.provision([NODE_A, NODE_B], ["old1", "old2"]);
  const ids = sent.map((s) => s.iq.attrs.id);
  assert.equal(sent.length, 8);
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(ids.every((id) => typeof id === "string" && id.length > 10));
});

Deno.test("PepProvisioner: a refused create fails the node and skips the subscribe", async () => {
  const { sent, provisioner, logger } = setup((iq) =>
    iq.getChildElements()[0].getChild("publish")?.attrs.node === NODE_A
      ? stanzaError("conflict")
      : serverAnswer(iq)
  );
  const ready = await provisioner.provision([NODE_A, NODE_B], []);
  assert.deepEqual([...ready], [NODE_B]);
  assert.deepEqual(sent.filter((s) => s.node === NODE_A).map((s) => s.step), ["publish"]);
  assert.ok(logger.lines.some((l) => l.fields.reason === "conflict" && l.fields.step === "create"));
  assert.ok(!logger.text().includes(NODE_A), "a whole node name was logged");
});

Deno.test("PepProvisioner: a subscription that is not 'subscribed' fails the node", async () => {
  for (const state of ["pending", "unconfigured", "none"]) {
    const { provisioner } = setup((iq) => {
      const subscribe = iq.getChildElements()[0].getChild("subscribe");
      if (!subscribe) return result(iq);
      return result(
        iq,
        xml(
          "pubsub",
          { xmlns: NS_PUBSUB },
          xml("subscription", { node: NODE_A, jid: JID, subscription: state }),
        ),
      );
    });
    assert.equal((await provisioner.provision([NODE_A], [])).size, 0, state);
  }
});

Deno.test("PepProvisioner: answers for another node do not count", async () => {
  const { provisioner } = setup((iq) => {
    const pubsub = iq.getChildElements()[0];
    if (!pubsub.getChild("publish")) return serverAnswer(iq);
    return result(iq, xml("pubsub", { xmlns: NS_PUBSUB }, xml("publish", { node: "other" })));
  });
  assert.equal((await provisioner.provision([NODE_A], [])).size, 0);
});

Deno.test("PepProvisioner: a bare result to the subscribe is a success", async () => {
  const { provisioner } = setup((iq) => result(iq));
  assert.deepEqual([...await provisioner.provision([NODE_A], [])], [NODE_A]);
});

Deno.test("PepProvisioner: a refused subscribe or an odd answer fail the node for good", async () => {
  const failures: Answer[] = [
    (iq) =>
      iq.getChildElements()[0].getChild("subscribe")
        ? stanzaError("forbidden", "auth")
        : result(iq),
    (iq) => xml("iq", { type: "error", id: iq.attrs.id }),
    (iq) => xml("iq", { type: "get", id: iq.attrs.id }),
    () => stanzaError("not-allowed", "cancel"),
    () => stanzaError("bad-request", "modify"),
  ];
  for (const answer of failures) {
    const { provisioner } = setup(answer);
    assert.equal((await provisioner.provision([NODE_A], [])).size, 0);
  }
});

Deno.test("PepProvisioner: a failure that may pass fails the whole call, removing nothing", async () => {
  const passing: [string, Answer][] = [
    ["timeout", () => Object.assign(new Error("timeout"), { name: "TimeoutError" })],
    ["link down", () => new Error("the XMPP link is down")],
    ["wait error", () => stanzaError("resource-constraint", "wait")],
    ["internal error", () => stanzaError("internal-server-error", "cancel")],
  ];
  for (const [what, failure] of passing) {
    // Only NODE_B's subscribe fails: NODE_A was set up, and is torn down again.
    const { sent, provisioner, logger } = setup((iq) => {
      const subscribe = iq.getChildElements()[0].getChild("subscribe");
      return subscribe?.attrs.node === NODE_B ? failure(iq) : serverAnswer(iq);
    });
    await assert.rejects(
      provisioner.provision([NODE_A, NODE_B], ["old1"]),
      (error: Error) => error.name === "NodeSetupUnavailableError",
      what,
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    const steps = sent.map((s) => `${s.step} ${s.node}`);
    assert.ok(!steps.some((step) => step.endsWith("old1")), `${what}: removed too early`);
    assert.ok(steps.includes(`delete ${NODE_A}`), `${what}: the set-up node was left`);
    assert.ok(
      logger.lines.some((l) => l.message === "pep nodes not provisioned, try again later"),
      what,
    );
  }
});

Deno.test("PepProvisioner: with the link down it rejects, as a failure that may pass", async () => {
  const { provisioner } = setup(() => new Error("the XMPP link is down"));
  await assert.rejects(
    provisioner.provision([NODE_A, NODE_B], [NODE_A]),
    (error: Error) => error.name === "NodeSetupUnavailableError",
  );
});

Deno.test("PepProvisioner: a link that throws synchronously is a failure that may pass", async () => {
  const logger = new RecordingLogger();
  const provisioner = new PepProvisioner({
    link: {
      pushBareJid: JID,
      iq() {
        throw new Error("boom");
      },
    },
    logger,
  });
  await assert.rejects(
    provisioner.provision([NODE_A], [NODE_B]),
    (error: Error) => error.name === "NodeSetupUnavailableError",
  );
  // With nothing to set up, removals alone never fail the call.
  assert.equal((await provisioner.provision([], [NODE_B])).size, 0);
});

Deno.test("PepProvisioner: removed nodes are unsubscribed and deleted, errors or not", async () => {
  for (const answer of [serverAnswer, () => stanzaError("item-not-found")]) {
    const { sent, provisioner } = setup(answer);
    const ready = await provisioner.provision([], [NODE_A]);
    assert.equal(ready.size, 0);
    assert.deepEqual(sent.map((s) => [s.step, s.node]), [
      ["unsubscribe", NODE_A],
      ["delete", NODE_A],
    ]);
    const [unsubscribe, remove] = sent.map((s) => s.iq);
    assert.equal(
      unsubscribe.getChild("pubsub", NS_PUBSUB)!.getChild("unsubscribe")!.attrs.jid,
      JID,
    );
    assert.ok(remove.getChild("pubsub", "http://jabber.org/protocol/pubsub#owner"));
  }
});
