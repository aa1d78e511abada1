/**
 * How one push ended, in terms any push service can share (the delivery policy outside the
 * adapters reads only these), and the mapping of APNs answers onto it (apns.md §5).
 * Unknown reasons fall back on the status code, so a new Apple reason changes nothing.
 *
 * @module
 */

/** The outcome of one push to one target. */
export type PushOutcome =
  | { readonly kind: "delivered"; readonly status: number; readonly id: string | null }
  /**
   * The address is dead for this app: forget it and answer the user's server `cancel`.
   * `goneSince`: when the service found it dead (APNs 410 `timestamp`, epoch ms), so a
   * registration renewed after that can be kept.
   */
  | {
    readonly kind: "token-gone";
    /** null: refused before sending (the token cannot be an APNs token). */
    readonly status: number | null;
    readonly reason: string;
    readonly goneSince?: number;
  }
  /** Too many pushes to this one address: leave it alone for `retryAfterMs`. */
  | {
    readonly kind: "throttled";
    readonly status: number | null;
    readonly reason: string;
    readonly retryAfterMs: number;
  }
  /**
   * Anything else. `retryable`: trying again later may work (5xx, network, timeout);
   * otherwise our request or configuration is wrong and retrying cannot help (alert the
   * operator). `retryAfterMs` when the service asked for a pause.
   */
  | {
    readonly kind: "failed";
    readonly retryable: boolean;
    readonly status: number | null;
    readonly reason: string;
    readonly retryAfterMs?: number;
  };

/** Reasons that mean the device token is dead for this app. */
const TOKEN_GONE_REASONS = new Set([
  "BadDeviceToken",
  "DeviceTokenNotForTopic",
  "Unregistered",
  "ExpiredToken",
]);

/** Reasons that are about the connection, not the push: reconnect and send again. */
export const RECONNECT_REASONS: ReadonlySet<string> = new Set(["IdleTimeout", "Shutdown"]);

/** Settings of {@link apnsOutcome}. */
export interface ApnsOutcomeOptions {
  /** How long to leave a token alone after 429 TooManyRequests (APNs sends no Retry-After). */
  readonly tokenThrottleMs: number;
  /** How long to pause after 429 TooManyProviderTokenUpdates. */
  readonly providerTokenPauseMs: number;
}

/**
 * The outcome of an APNs answer: `status`, the parsed JSON body (null: none or not JSON)
 * and the `apns-id` header.
 */
export function apnsOutcome(
  status: number,
  body: unknown,
  apnsId: string | null,
  options: ApnsOutcomeOptions,
): PushOutcome {
  if (status === 200) return { kind: "delivered", status, id: apnsId };
  const fields = typeof body === "object" && body !== null ? body as Record<string, unknown> : {};
  const reason = typeof fields.reason === "string" && /^[A-Za-z]{1,64}$/.test(fields.reason)
    ? fields.reason
    : `HTTP ${status}`;
  if (TOKEN_GONE_REASONS.has(reason) || status === 410) {
    const timestamp = fields.timestamp;
    return typeof timestamp === "number" && Number.isFinite(timestamp) && timestamp > 0
      ? { kind: "token-gone", status, reason, goneSince: timestamp }
      : { kind: "token-gone", status, reason };
  }
  if (status === 429) {
    return reason === "TooManyProviderTokenUpdates"
      ? {
        kind: "failed",
        retryable: true,
        status,
        reason,
        retryAfterMs: options.providerTokenPauseMs,
      }
      : { kind: "throttled", status, reason, retryAfterMs: options.tokenThrottleMs };
  }
  const retryable = status >= 500 || RECONNECT_REASONS.has(reason) ||
    reason === "ExpiredProviderToken";
  return { kind: "failed", retryable, status, reason };
}
