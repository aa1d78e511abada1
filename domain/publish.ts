/**
 * What to do with a publish from a user's XMPP server: the pure decision between pushing
 * and refusing. The caller looks the node up and carries the decision out.
 *
 * @module
 */

import type { Notification } from "./ports/push_delivery.ts";
import type { PushTarget } from "./push_target.ts";
import type { NodeTarget } from "./registration.ts";
import { countsFromSummary, type SummaryFields } from "./push_summary.ts";
import { secretMatches } from "./secret_check.ts";

/**
 * How a publish reached the push server, which decides whether its secret is checked.
 *
 * - `publish-iq` (component mode): the user's XMPP server sent a publish IQ to the push
 *   server itself, with the registration's secret in publish-options. The secret is the
 *   proof the publish comes from where the device registered, so it must match.
 * - `pep-event` (client mode): the push account's own XMPP server accepted a publish to one
 *   of the account's PEP nodes and delivered the PubSub event. The event does not carry the
 *   secret, so there is nothing to check: that server already decided who may publish
 *   (anyone who knows the node's name).
 */
export type PublishOrigin = "publish-iq" | "pep-event";

/** A publish as received, reduced to what the decision needs. */
export interface PublishRequest {
  readonly node: string;
  /** The `secret` publish-option, or null when the publish carried none. */
  readonly secret: string | null;
  /**
   * The publish-options form's fields in order (name, first value), FORM_TYPE included, or
   * null / absent when the publish had none. Read by the stateless dialect (`pushModule`).
   */
  readonly publishOptions?: ReadonlyArray<readonly [string, string]> | null;
  /** The summary form's fields, or null when the notification had no form. */
  readonly summary: SummaryFields | null;
  /** Where it came from; absent means `publish-iq`, so the secret is checked. */
  readonly origin?: PublishOrigin;
  /**
   * The domain of the server that sent it (the publish IQ's `from`), lowercased, for the
   * per-server publish rate; absent when unknown (PEP events).
   */
  readonly from?: string;
}

/**
 * How a publish ends, as the user's server is told. The XMPP adapter maps each to an IQ
 * answer: `pushed` to a result; the refusals to the error conditions that make the user's
 * server drop (`cancel`, `auth`, `modify`) or keep (`wait`) the registration. Only what is
 * dead for good (`unknown-node`: no such node, or its grace period ended) or wrong
 * (`forbidden`, `bad-request`) may make it drop the registration.
 */
export type PublishOutcome =
  | { readonly kind: "pushed" }
  | { readonly kind: "unknown-node" }
  /**
   * The device's WNS channel is gone: nothing can be pushed until the device sends a new
   * one, which it does by itself. The registration lives on (for its grace period), so the
   * user's server must keep it: a `wait`.
   */
  | { readonly kind: "channel-gone" }
  | { readonly kind: "forbidden" }
  | { readonly kind: "bad-request"; readonly reason: string }
  | { readonly kind: "unavailable"; readonly reason: string }
  /** WNS or our own limits say "not now": the user's server should slow down, not give up. */
  | { readonly kind: "throttled"; readonly reason: string };

/**
 * The decision for one publish: refuse it, or push `notification` (the account and its
 * sanitized counts, nothing else) to the device's stored push `target`.
 */
export type PublishDecision =
  | { readonly kind: "refuse"; readonly outcome: PublishOutcome }
  | {
    readonly kind: "push";
    readonly target: PushTarget;
    readonly notification: Notification & { readonly kind: "push" };
  };

/** Decides a publish for the node's registration (`target` null: no such node). */
export function decidePublish(
  request: PublishRequest,
  target: NodeTarget | null,
): PublishDecision {
  if (target === null) return { kind: "refuse", outcome: { kind: "unknown-node" } };
  // The secret is checked before anything else is revealed about the node; only a PEP
  // event, which cannot carry it, goes without.
  const checked = request.origin !== "pep-event";
  if (checked && !secretMatches(request.secret, target.secret)) {
    return { kind: "refuse", outcome: { kind: "forbidden" } };
  }
  // The push service said the target is gone: wait for the device's new one; the node stays.
  if (target.target === null) {
    return { kind: "refuse", outcome: { kind: "channel-gone" } };
  }
  return {
    kind: "push",
    target: target.target,
    notification: pushNotification(target.accountId, request, false),
  };
}

/**
 * The notification of a publish for `accountId`: the sanitized counts; with
 * `withMessageBody` (an app configured to show it) also the message's text, when the
 * publish carried one. Otherwise the text goes nowhere.
 */
export function pushNotification(
  accountId: string,
  request: Pick<PublishRequest, "summary">,
  withMessageBody: boolean,
): Notification & { readonly kind: "push" } {
  const counts = countsFromSummary(request.summary);
  const body = withMessageBody ? request.summary?.get("last-message-body")?.trim() : undefined;
  return body
    ? { kind: "push", accountId, counts, messageBody: body }
    : { kind: "push", accountId, counts };
}
