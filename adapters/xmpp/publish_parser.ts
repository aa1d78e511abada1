/**
 * Reading XEP-0357 publishes: the `<pubsub><publish>` IQ a user's XMPP server sends to a
 * push service, and the PubSub event a client-mode push account receives. Turns the XML into
 * the domain's `PublishRequest`; nothing else of the stanza (bodies, senders) is kept.
 *
 * @module
 */

import type { Element } from "@xmpp/xml";
import type { PublishRequest } from "../../domain/publish.ts";

export const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
export const NS_PUSH = "urn:xmpp:push:0";
export const NS_DATA = "jabber:x:data";
const SUMMARY_FORM = "urn:xmpp:push:summary";
const PUBLISH_OPTIONS_FORM = "http://jabber.org/protocol/pubsub#publish-options";

/** Field values longer than this are ignored: a summary needs counts, not essays. */
const MAX_FIELD_LENGTH = 1024;

/** A parsed publish, or why it is malformed. */
export type ParsedPublish =
  | { readonly ok: true; readonly request: PublishRequest }
  | { readonly ok: false; readonly reason: string };

/** Reads the `<pubsub xmlns='http://jabber.org/protocol/pubsub'>` child of a publish IQ. */
export function parsePublish(pubsub: Element): ParsedPublish {
  const publish = pubsub.getChild("publish");
  const node = publish?.attrs.node;
  if (!publish || typeof node !== "string" || node === "") {
    return { ok: false, reason: "no publish node" };
  }
  const notification = publish.getChild("item")?.getChild("notification", NS_PUSH);
  if (!notification) return { ok: false, reason: "no push notification in the item" };
  const options = formFields(pubsub.getChild("publish-options")?.getChild("x", NS_DATA));
  const secret = options?.get("FORM_TYPE") === PUBLISH_OPTIONS_FORM
    ? options.get("secret") ?? null
    : null;
  const request = { node, secret, summary: summaryOf(notification) };
  // Kept for the stateless dialect (fpush's `pushModule`); absent when there was no form.
  return {
    ok: true,
    request: options === null ? request : { ...request, publishOptions: [...options] },
  };
}

/** The summary form of a `<notification xmlns='urn:xmpp:push:0'>`, or null if it has none. */
export function summaryOf(notification: Element): ReadonlyMap<string, string> | null {
  const fields = formFields(notification.getChild("x", NS_DATA));
  if (fields === null || fields.get("FORM_TYPE") !== SUMMARY_FORM) return null;
  return fields;
}

/** A data form's fields as name -> first value ("" for a field without value). */
function formFields(form: Element | undefined): Map<string, string> | null {
  if (!form) return null;
  const fields = new Map<string, string>();
  for (const field of form.getChildren("field")) {
    const name = field.attrs.var;
    if (typeof name !== "string" || fields.has(name)) continue;
    const value = field.getChildText("value") ?? "";
    if (value.length <= MAX_FIELD_LENGTH) fields.set(name, value);
  }
  return fields;
}
