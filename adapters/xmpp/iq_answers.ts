/**
 * How a publish's outcome is told to the user's XMPP server. The error type decides what
 * that server does: ejabberd deletes the push registration after one non-`wait` error and
 * Prosody after 16, while `wait` errors are only logged. So `cancel`, `auth` and `modify`
 * are for registrations that are truly dead or wrong, `wait` for anything that may pass.
 *
 * @module
 */

import { xml } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import type { PublishOutcome } from "../../domain/publish.ts";

const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

/** The `<error/>` for a refused publish, or null when the publish succeeded. */
export function errorFor(outcome: PublishOutcome): Element | null {
  switch (outcome.kind) {
    case "pushed":
      return null;
    case "unknown-node":
      return stanzaError("cancel", "item-not-found");
    case "channel-gone":
      return stanzaError(
        "wait",
        "recipient-unavailable",
        "the device's push channel is gone; waiting for the device to send a new one",
      );
    case "forbidden":
      return stanzaError("auth", "forbidden");
    case "bad-request":
      return stanzaError("modify", "bad-request", outcome.reason);
    case "unavailable":
      return stanzaError("wait", "internal-server-error", outcome.reason);
    case "throttled":
      return stanzaError("wait", "resource-constraint", outcome.reason);
  }
}

/** Builds `<error type=...><condition/><text/></error>`. */
export function stanzaError(type: string, condition: string, text?: string): Element {
  return xml(
    "error",
    { type },
    xml(condition, { xmlns: NS_STANZAS }),
    text === undefined ? null : xml("text", { xmlns: NS_STANZAS }, text),
  );
}
