/**
 * Answers the IQs a push service receives, whatever carries them (a component connection,
 * or the in-memory link in tests): publishes become use-case calls, disco#info describes an
 * XEP-0357 app server.
 *
 * @module
 */

import type { PublishHandler } from "../../domain/ports/xmpp_link.ts";
import type { PublishOutcome } from "../../domain/publish.ts";
import { xml } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import type { LogFields, Logger } from "../../domain/ports/logging.ts";
import { errorFor, stanzaError } from "./iq_answers.ts";
import { NS_PUBSUB, NS_PUSH, parsePublish } from "./publish_parser.ts";

export const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";

/**
 * Where malformed publishes are logged when not one line each (a peer can send thousands):
 * `app/sampled_log.ts`.
 */
export interface MalformedPublishLog {
  record(kind: string, fields?: LogFields): void;
}

/**
 * The payload of the answer to a `<pubsub>` set: an empty `<pubsub>` for a result, or an
 * `<error>` element.
 */
export async function answerPublish(
  pubsub: Element,
  from: string | undefined,
  onPublish: PublishHandler,
  logger: Logger,
  malformedLog?: MalformedPublishLog,
): Promise<Element> {
  const parsed = parsePublish(pubsub);
  if (!parsed.ok) {
    if (malformedLog) malformedLog.record("bad-request", { from, reason: parsed.reason });
    else logger.info("malformed publish", { from, reason: parsed.reason });
    return stanzaError("modify", "bad-request", parsed.reason);
  }
  const domain = from === undefined ? undefined : jidDomain(from);
  const request = domain ? { ...parsed.request, from: domain } : parsed.request;
  let outcome: PublishOutcome;
  try {
    outcome = await onPublish(request);
  } catch (error) {
    // Left to the library, a throw is answered `cancel/internal-server-error`, and the
    // user's server drops a registration that may well work next time: a `wait` instead.
    logger.error("publish failed unexpectedly", { reason: String(error) });
    return stanzaError("wait", "internal-server-error", "push server error, try later");
  }
  return errorFor(outcome) ?? xml("pubsub", { xmlns: NS_PUBSUB });
}

/** The domain part of a JID (`user@domain/resource`), lowercased; "" if it has none. */
export function jidDomain(jid: string): string {
  const bare = jid.split("/", 1)[0];
  return bare.slice(bare.indexOf("@") + 1).toLowerCase();
}

/**
 * disco#info of an XEP-0357 app server: the push identity and features, then `extraFeatures`
 * (what else the server answers, e.g. XEP-0050 commands).
 */
export function discoInfo(...extraFeatures: string[]): Element {
  return xml(
    "query",
    { xmlns: NS_DISCO_INFO },
    xml("identity", { category: "pubsub", type: "push", name: "UWPX push server" }),
    ...[NS_PUSH, NS_PUBSUB, NS_DISCO_INFO, ...extraFeatures].map((feature) =>
      xml("feature", { var: feature })
    ),
  );
}
