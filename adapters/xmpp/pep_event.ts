/**
 * Reading the PubSub events a client-mode push account receives for its PEP nodes:
 * `<message from=ACCOUNT><event xmlns='http://jabber.org/protocol/pubsub#event'><items
 * node=NODE><item publisher=...><notification xmlns='urn:xmpp:push:0'>...`. Each becomes
 * the domain's `PublishRequest` with origin `pep-event` (the event never carries the
 * secret). Events the account caused itself (the publish that creates a node) are not
 * publishes and never become one.
 *
 * @module
 */

import type { Element } from "@xmpp/xml";
import type { PublishRequest } from "../../domain/publish.ts";
import { NS_PUSH, summaryOf } from "./publish_parser.ts";

export const NS_PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event";

/**
 * The id of the item the push account publishes to create and configure a node. Its event
 * is the account's own; recognising it by id as well as by publisher also covers servers
 * that leave out the `publisher` attribute.
 */
export const NODE_SETUP_ITEM_ID = "uwpx-push-node-setup";

/** What a received message is, for the client link. */
export type PepEvent =
  /** Not a PubSub event at all (a chat message, an error...): not ours to handle. */
  | { readonly kind: "not-an-event" }
  /** A PubSub event that must not become a push, and why. */
  | { readonly kind: "ignored"; readonly reason: string; readonly node?: string }
  /** A push notification published to `request.node`. */
  | { readonly kind: "publish"; readonly request: PublishRequest };

/**
 * Reads a `<message>` received by the push account `ownBareJid`. Only events sent by the
 * account's own PEP service (`from` is the account's bare JID, which its server stamps and
 * nobody else can use) count. Of several items, the last (newest) that is not the
 * account's own is the one that counts: one event, at most one push.
 */
export function parsePepEvent(message: Element, ownBareJid: string): PepEvent {
  const event = message.getChild("event", NS_PUBSUB_EVENT);
  if (message.name !== "message" || !event) return { kind: "not-an-event" };
  if (message.attrs.type === "error") return { kind: "ignored", reason: "error message" };
  const own = bareOf(ownBareJid);
  if (typeof message.attrs.from !== "string" || bareOf(message.attrs.from) !== own) {
    return { kind: "ignored", reason: "not from the push account's PEP service" };
  }
  const items = event.getChild("items");
  if (!items) return { kind: "ignored", reason: "not an items event" };
  const node = items.attrs.node;
  if (typeof node !== "string" || node === "") {
    return { kind: "ignored", reason: "items without a node" };
  }
  let request: PublishRequest | null = null;
  let ownItems = 0;
  for (const item of items.getChildren("item")) {
    const notification = item.getChild("notification", NS_PUSH);
    if (!notification) continue;
    const publisher = item.attrs.publisher;
    if (
      item.attrs.id === NODE_SETUP_ITEM_ID ||
      (typeof publisher === "string" && bareOf(publisher) === own)
    ) {
      ownItems++;
      continue;
    }
    request = { node, secret: null, summary: summaryOf(notification), origin: "pep-event" };
  }
  if (request !== null) return { kind: "publish", request };
  const reason = ownItems > 0 ? "published by the push account itself" : "no push notification";
  return { kind: "ignored", reason, node };
}

/**
 * A node name's first characters, for logs. In client mode a node's name is all it takes
 * to publish to it, so a whole one is never logged.
 */
export function nodeForLog(node: string): string {
  return node.length <= 8 ? node : `${node.slice(0, 8)}…`;
}

/** `user@domain` of a JID, lower-cased (enough to compare JIDs a server has normalised). */
function bareOf(jid: string): string {
  const slash = jid.indexOf("/");
  return (slash === -1 ? jid : jid.slice(0, slash)).toLowerCase();
}
