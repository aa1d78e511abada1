/**
 * What became of one push, in terms every push service shares, so retry, backoff and
 * forgetting dead subscriptions can be one policy outside the adapters (issue #14):
 *
 * - `delivered`: any 2xx;
 * - `gone`: 404/410, forget the subscription (XMPP answer: cancel item-not-found);
 * - `too-large`: 413, or a payload we could not fit in one record;
 * - `throttled`: 429, wait `retryAfterMs` when the service said so;
 * - `retryable`: 5xx, 408, network failure, timeout: retry with backoff;
 * - `final`: other answers (400 malformed, 401/403 VAPID = configuration, 3xx not followed):
 *   retrying the same request cannot help;
 * - `refused`: the endpoint failed the policy (not https, private address, ...): nothing was
 *   sent.
 *
 * @module
 */

import type { EndpointRefusal } from "./endpoint_policy.ts";

/** The outcome of one push. `status` is the HTTP status, null when there was no answer. */
export type PushOutcome =
  | { readonly kind: "delivered"; readonly status: number }
  | { readonly kind: "gone"; readonly status: number }
  | { readonly kind: "too-large"; readonly status: number | null }
  | { readonly kind: "throttled"; readonly status: number; readonly retryAfterMs: number | null }
  | {
    readonly kind: "retryable";
    readonly status: number | null;
    /** "server-error", "timeout", "network", "unresolvable". */
    readonly reason: string;
    readonly retryAfterMs: number | null;
  }
  | { readonly kind: "final"; readonly status: number | null; readonly reason: string }
  | { readonly kind: "refused"; readonly reason: EndpointRefusal };

/** The outcome of an HTTP answer with `status` and its `Retry-After` in milliseconds. */
export function outcomeOfStatus(status: number, retryAfterMs: number | null): PushOutcome {
  if (status >= 200 && status < 300) return { kind: "delivered", status };
  if (status === 404 || status === 410) return { kind: "gone", status };
  if (status === 413) return { kind: "too-large", status };
  if (status === 429) return { kind: "throttled", status, retryAfterMs };
  if (status >= 500 || status === 408) {
    return { kind: "retryable", status, reason: "server-error", retryAfterMs };
  }
  if (status === 401 || status === 403) {
    return { kind: "final", status, reason: "VAPID authorization refused (configuration)" };
  }
  if (status >= 300 && status < 400) {
    return { kind: "final", status, reason: "redirect (not followed)" };
  }
  return { kind: "final", status, reason: "request refused" };
}
