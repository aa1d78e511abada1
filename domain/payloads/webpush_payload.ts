/**
 * What a Web Push wakeup carries, before encryption (RFC 8291: only the client can read it,
 * the push service sees ciphertext): the registration's account id and the counts, never
 * message content, senders or JIDs. A small JSON object:
 *
 * ```json
 * {"v":1,"kind":"push","account":"<account id>","message_count":2,"pending_subscription_count":0}
 * {"v":1,"kind":"test"}
 * ```
 *
 * For registrations by `register-push-webpush`, the account id is the registration key
 * (`domain/webpush_registration.ts`), which the client computes from its JID and endpoint to
 * know which account woke it.
 *
 * @module
 */

import type { Notification } from "../ports/push_delivery.ts";

/** The payload's JSON text for one notification. */
export function webPushPayload(notification: Notification): string {
  return notification.kind === "push"
    ? JSON.stringify({
      v: 1,
      kind: "push",
      account: notification.accountId,
      message_count: notification.counts.messageCount,
      pending_subscription_count: notification.counts.pendingSubscriptionCount,
    })
    : JSON.stringify({ v: 1, kind: "test" });
}
