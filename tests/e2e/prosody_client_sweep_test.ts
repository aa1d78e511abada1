/**
 * Client mode's sweep of stale PEP nodes, end to end against real Prosody (the patched
 * mod_pep): the real client registers two devices, the injected clock lets the first one's
 * registration expire, the purge deletes it from storage, and a sweep round deletes its
 * node from Prosody, while the push account's own PEP nodes (bookmarks, an OMEMO device
 * list) and the live registration's node stay, and the latter still pushes.
 */

import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import type { ClientLink } from "../../adapters/xmpp/client_link.ts";
import { DEFAULT_LIFETIME_DAYS } from "../../domain/registration.ts";
import { FakeClock } from "../support/fakes.ts";
import { sample } from "../support/prometheus_text.ts";
import { serverTestGate } from "../support/prosody.ts";
import { clientAccountId, UwpxClient } from "../support/uwpx_client.ts";
import { PUSH_JID, startClientStack } from "./client_stack.ts";

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
/** PEP nodes of the account itself, not the push server's: never to be touched. */
const OWN_NODES = ["urn:xmpp:bookmarks:1", "eu.siacs.conversations.axolotl.devicelist"];

Deno.test({
  name: "prosody client mode: an expired registration's node is swept, nothing else",
  ...serverTestGate("prosody"),
  async fn() {
    const clock = new FakeClock(Date.now());
    const s = await startClientStack({ overrides: { clock } });
    try {
      const link = s.server.link as ClientLink;
      const iq = (type: string, payload: Element, to?: string) =>
        link.iq(xml("iq", { type, id: crypto.randomUUID(), to }, payload), 5_000);
      // What Prosody holds: the push account's PEP nodes, as a disco#items query lists them.
      const nodesOnProsody = async () => {
        const answer = await iq("get", xml("query", { xmlns: NS_DISCO_ITEMS }), PUSH_JID);
        return answer.getChild("query", NS_DISCO_ITEMS)!.getChildren("item").map((item: Element) =>
          item.attrs.node as string
        );
      };
      for (const node of OWN_NODES) {
        const published = await iq(
          "set",
          xml(
            "pubsub",
            { xmlns: NS_PUBSUB },
            xml("publish", { node }, xml("item", { id: "current" }, xml("x", { xmlns: "ex" }))),
          ),
        );
        assert.equal(published.attrs.type, "result");
      }

      const client = new UwpxClient({
        hostname: "127.0.0.1",
        port: s.server.devices.addr.port,
        caCert: s.cert,
      });
      const register = async () => {
        const deviceId = crypto.getRandomValues(new Uint8Array(32)).toHex();
        const accountId = await clientAccountId(deviceId, "alice@localhost");
        const channelUri = s.wns.channelUri();
        assert.equal((await client.setChannelUri(deviceId, channelUri)).answer.status, 1);
        const { answer } = await client.setPushAccounts(deviceId, [accountId]);
        assert.equal(answer.status, 1, JSON.stringify(answer));
        const [account] = answer.accounts as { node: string; secret: string; success: boolean }[];
        assert.equal(account.success, true);
        return { deviceId, accountId, channelUri, account };
      };

      // The first device registers, then goes silent for the whole lifetime; the second
      // registers an hour before the first expires and stays.
      const gone = await register();
      clock.advance(DEFAULT_LIFETIME_DAYS * DAY - HOUR);
      const live = await register();
      clock.advance(2 * HOUR);
      const before = await nodesOnProsody();
      for (const node of [gone.account.node, live.account.node, ...OWN_NODES]) {
        assert.ok(before.includes(node), `${node} missing before the sweep`);
      }

      assert.equal(await s.server.store.purgeExpired(clock.now()), 1);
      const round = await s.server.staleNodeSweep!.runRound();
      assert.deepEqual(round, {
        outcome: "done",
        listed: before.length,
        foreign: before.length - 2,
        recent: 0,
        looked: 2,
        removed: 1,
        capped: false,
      });

      const after = await nodesOnProsody();
      assert.ok(!after.includes(gone.account.node), "the expired registration's node is left");
      assert.ok(after.includes(live.account.node), "the live registration's node was deleted");
      for (const node of OWN_NODES) assert.ok(after.includes(node), `${node} was touched`);
      // Deleted, not only unlisted: asking for its items finds no node.
      await assert.rejects(
        iq("get", xml("pubsub", { xmlns: NS_PUBSUB }, xml("items", { node: gone.account.node }))),
        (error: { condition?: string }) => error.condition === "item-not-found",
      );
      const metrics = await s.server.metrics.text();
      assert.equal(sample(metrics, "uwpx_push_stale_pep_nodes_removed_total"), 1);
      assert.ok(!s.logger.text().includes(gone.account.node), "a whole node name was logged");

      // A second round finds nothing more to do.
      const again = await s.server.staleNodeSweep!.runRound();
      assert.equal(again.outcome === "done" && again.removed, 0);

      // The live registration still pushes.
      const alice = await s.user("alice");
      try {
        await alice.enablePush({
          jid: PUSH_JID,
          node: live.account.node,
          secret: live.account.secret,
        });
      } finally {
        await alice.disconnect();
      }
      const bob = await s.user("bob");
      try {
        await bob.sendMessage("alice@localhost", "hello");
      } finally {
        await bob.disconnect();
      }
      const [push] = await s.wns.waitForPushes(1, 10_000);
      assert.equal(push.channelUri, live.channelUri);
      assert.equal(JSON.parse(push.body).account_id, live.accountId);
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\n--- push server log ---\n${s.logger.text()}\n` +
          `--- prosody log ---\n${await s.prosody.logTail()}`,
        { cause: error },
      );
    } finally {
      await s.stop();
    }
  },
});
