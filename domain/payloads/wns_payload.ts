/**
 * The raw notifications the device receives through WNS, in the shapes the UWPX client
 * parses. They carry ids and counts only, never message content.
 *
 * @module
 */

import type { Notification } from "../ports/push_delivery.ts";
import type { PushCounts } from "../push_summary.ts";

/** WNS refuses raw notifications above this many bytes. */
export const WNS_RAW_LIMIT_BYTES = 5000;

/** The JSON text of a push for one account. Key order matches the original server's. */
export function pushPayload(accountId: string, counts: PushCounts): string {
  return JSON.stringify({
    version: 2,
    action: "push",
    account_id: accountId,
    message_count: counts.messageCount,
    pending_subscription_count: counts.pendingSubscriptionCount,
  });
}

/** The JSON text of a test push, sent on the device's `request_test_push`. */
export function testPushPayload(): string {
  return JSON.stringify({ version: 2, action: "test_push" });
}

/** The raw payload the UWPX app reads, for one notification: a push or a test push. */
export function wnsPayload(notification: Notification): string {
  return notification.kind === "push"
    ? pushPayload(notification.accountId, notification.counts)
    : testPushPayload();
}
