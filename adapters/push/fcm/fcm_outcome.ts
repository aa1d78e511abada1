/**
 * What became of one FCM send, in terms the shared delivery policy (issue #14) can act on
 * without knowing FCM, following fcm-v1.md §5:
 *
 * | kind | when | registration | XMPP answer |
 * | --- | --- | --- | --- |
 * | `delivered` | 200 | keep | result |
 * | `token-gone` | UNREGISTERED, INVALID_ARGUMENT blaming the token | forget the token | cancel item-not-found |
 * | `throttled` | 429 (QUOTA_EXCEEDED, RATE_LIMIT_EXCEEDED) | keep, back off | wait resource-constraint |
 * | `retryable` | 5xx, UNAVAILABLE, INTERNAL, timeout, network, token endpoint down | keep, retry later | wait internal-server-error |
 * | `final` | configuration (401 after a refresh, 403, THIRD_PARTY_AUTH_ERROR, SENDER_ID_MISMATCH, 404 without FcmError, refused credentials, 3xx) or a bad message of ours | keep; alert the operator | wait internal-server-error |
 *
 * SENDER_ID_MISMATCH is `final`, not `token-gone`: fcm-v1.md suggests deleting the token,
 * but when it comes from our own credentials being wrong for the app, every token of the app
 * would be deleted. The policy may forget a token after isolated mismatches.
 *
 * @module
 */

import type { FcmErrorCode } from "./fcm_error_body.ts";

/** Google advises at least a minute of backoff after QUOTA_EXCEEDED without Retry-After. */
export const FCM_QUOTA_MIN_BACKOFF_MS = 60_000;

/** The outcome of one send. `status` is the HTTP status, null when there was no answer. */
export type FcmOutcome =
  | {
    readonly kind: "delivered";
    readonly status: number;
  }
  | {
    readonly kind: "token-gone";
    readonly status: number;
    readonly code: "UNREGISTERED" | "INVALID_ARGUMENT";
  }
  | {
    readonly kind: "throttled";
    readonly status: number;
    readonly code: FcmErrorCode | null;
    /** From Retry-After; null when FCM said nothing (see {@link FCM_QUOTA_MIN_BACKOFF_MS}). */
    readonly retryAfterMs: number | null;
  }
  | {
    readonly kind: "retryable";
    readonly status: number | null;
    readonly reason: "server-error" | "timeout" | "network" | "token-unavailable";
    readonly code: FcmErrorCode | null;
    readonly retryAfterMs: number | null;
  }
  | {
    readonly kind: "final";
    readonly status: number | null;
    /** `configuration`: the operator must act; `bad-message`: a bug of ours. */
    readonly reason: "configuration" | "bad-message";
    readonly code: FcmErrorCode | null;
    readonly detail: string;
  };
