/**
 * Building XEP-0357 publish IQs the way users' XMPP servers send them to a push component,
 * for the demo and benchmarks to play a user's server. The shapes follow the stanzas
 * captured from Prosody 0.12 (mod_cloud_notify) and ejabberd 23.01 (mod_push), kept in
 * tests/fixtures/xmpp, and the tests hold them to those captures.
 *
 * @module
 */

import { xml } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import { NS_DATA, NS_PUBSUB, NS_PUSH } from "./publish_parser.ts";

const SUMMARY_FORM = "urn:xmpp:push:summary";
const PUBLISH_OPTIONS_FORM = "http://jabber.org/protocol/pubsub#publish-options";

/** The summary fields of XEP-0357, in the order both servers send them, with their types. */
const SUMMARY_FIELDS = [
  ["message-count", "text-single", "The number of unread or undelivered messages"],
  [
    "pending-subscription-count",
    "text-single",
    "The number of pending incoming presence subscription requests",
  ],
  ["last-message-sender", "jid-single", "The sender of the last received message"],
  ["last-message-body", "text-single", "The body text of the last received message"],
] as const;

/** The only summary fields ejabberd's mod_push ever sends. */
const EJABBERD_FIELDS = new Set(["last-message-sender", "last-message-body"]);

/** Options of {@link publishIq}. */
export interface PublishIqOptions {
  /** The push node the device registered. */
  readonly node: string;
  /** The registration's secret, sent in publish-options; no publish-options when undefined. */
  readonly secret?: string;
  /** Summary fields by name (`message-count`, `last-message-body`, ...); null for none. */
  readonly summary?: Record<string, string> | null;
  /** The user's server (or account) sending it; defaults to "localhost" as captured. */
  readonly from?: string;
  /** The push component's JID. */
  readonly to: string;
  /** Which server to imitate; defaults to "prosody". */
  readonly flavour?: "prosody" | "ejabberd";
}

/**
 * The publish IQ a user's server sends to a push component, with a fresh random `id`.
 *
 * - prosody: a summary form of type `form` always carrying all four fields, the ones with no
 *   value in `summary` as an empty `<field/>` (Prosody itself always sends message-count 1;
 *   pass it to imitate that).
 * - ejabberd: a form of type `submit` with labelled fields and only the sender and body
 *   (ejabberd never sends the counts); with neither, an empty `<notification/>`.
 */
export function publishIq(options: PublishIqOptions): Element {
  const { node, secret, summary = null, from = "localhost", to, flavour = "prosody" } = options;
  const notification = flavour === "prosody"
    ? xml("notification", { xmlns: NS_PUSH }, prosodySummary(summary ?? {}))
    : xml("notification", { xmlns: NS_PUSH }, ejabberdSummary(summary ?? {}));
  const pubsub = xml(
    "pubsub",
    { xmlns: NS_PUBSUB },
    xml("publish", { node }, xml("item", {}, notification)),
  );
  if (secret !== undefined) {
    pubsub.append(
      xml(
        "publish-options",
        {},
        xml(
          "x",
          { type: "submit", xmlns: NS_DATA },
          xml("field", { var: "FORM_TYPE" }, xml("value", {}, PUBLISH_OPTIONS_FORM)),
          xml("field", { var: "secret" }, xml("value", {}, secret)),
        ),
      ),
    );
  }
  return xml("iq", { type: "set", from, id: crypto.randomUUID(), to }, pubsub);
}

/** Prosody's summary form: every field present, empty when it has no value. */
function prosodySummary(summary: Record<string, string>): Element {
  return xml(
    "x",
    { xmlns: NS_DATA, type: "form" },
    xml("field", { type: "hidden", var: "FORM_TYPE" }, xml("value", {}, SUMMARY_FORM)),
    ...SUMMARY_FIELDS.map(([name, type]) => {
      const value = summary[name];
      return xml("field", { type, var: name }, value === undefined ? [] : xml("value", {}, value));
    }),
  );
}

/** ejabberd's summary form (sender and body only), or nothing when it has neither. */
function ejabberdSummary(summary: Record<string, string>): Element | null {
  const fields = SUMMARY_FIELDS.filter(([name]) =>
    EJABBERD_FIELDS.has(name) && summary[name] !== undefined
  );
  if (fields.length === 0) return null;
  return xml(
    "x",
    { type: "submit", xmlns: NS_DATA },
    xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, SUMMARY_FORM)),
    ...fields.map(([name, type, label]) =>
      xml("field", { var: name, type, label }, xml("value", {}, summary[name]))
    ),
  );
}
