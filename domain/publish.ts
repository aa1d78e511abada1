/**
 * What to do with a publish from a user's XMPP server: the pure decision between pushing
 * and refusing. The caller looks the node up and carries the decision out.
 *
 * @module
 */

import type { NodeTarget } from "./registration.ts";
import { countsFromSummary, type SummaryFields } from "./push_summary.ts";
import { secretMatches } from "./secret_check.ts";
import { pushPayload } from "./wns_payload.ts";

/** A publish as received, reduced to what the decision needs. */
export interface PublishRequest {
  readonly node: string;
  /** The `secret` publish-option, or null when the publish carried none. */
  readonly secret: string | null;
  /** The summary form's fields, or null when the notification had no form. */
  readonly summary: SummaryFields | null;
}

/**
 * How a publish ends, as the user's server is told. The XMPP adapter maps each to an IQ
 * answer: `pushed` to a result; the refusals to the error conditions that make the user's
 * server drop (`cancel`, `auth`, `modify`) or keep (`wait`) the registration.
 */
export type PublishOutcome =
  | { readonly kind: "pushed" }
  | { readonly kind: "unknown-node" }
  | { readonly kind: "forbidden" }
  | { readonly kind: "bad-request"; readonly reason: string }
  | { readonly kind: "unavailable"; readonly reason: string };

/** The decision for one publish: refuse it, or push `payload` to `channelUri`. */
export type PublishDecision =
  | { readonly kind: "refuse"; readonly outcome: PublishOutcome }
  | { readonly kind: "push"; readonly channelUri: string; readonly payload: string };

/** Decides a publish for the node's registration (`target` null: no such node). */
export function decidePublish(
  request: PublishRequest,
  target: NodeTarget | null,
): PublishDecision {
  if (target === null) return { kind: "refuse", outcome: { kind: "unknown-node" } };
  // The secret is checked before anything else is revealed about the node.
  if (!secretMatches(request.secret, target.secret)) {
    return { kind: "refuse", outcome: { kind: "forbidden" } };
  }
  // WNS said the channel is gone: the user's server should stop publishing here.
  if (target.channelUri === null) {
    return { kind: "refuse", outcome: { kind: "unknown-node" } };
  }
  const payload = pushPayload(target.accountId, countsFromSummary(request.summary));
  return { kind: "push", channelUri: target.channelUri, payload };
}
