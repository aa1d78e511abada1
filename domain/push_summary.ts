/**
 * Payload sanitization: what the user's XMPP server published becomes the few numbers the
 * device needs. Bodies, senders and anything else in the summary never leave this module.
 *
 * @module
 */

/** The fields of a `urn:xmpp:push:summary` form, as published (values are raw strings). */
export type SummaryFields = ReadonlyMap<string, string>;

/** The counts a push carries to the device. */
export interface PushCounts {
  readonly messageCount: number;
  readonly pendingSubscriptionCount: number;
}

/** Counts above this are clamped: the device shows "many", and JSON stays small. */
export const MAX_COUNT = 999_999;

/**
 * Reads the counts from a summary. Empty fields count as absent (Prosody sends every field,
 * empty where it has no value). A missing or unreadable `message-count` (ejabberd never sends
 * one) becomes 1 if the summary mentions a last message, else 0. `summary` is null when the
 * notification carried no form at all (ejabberd, for stanzas without a body).
 */
export function countsFromSummary(summary: SummaryFields | null): PushCounts {
  const fields = summary ?? new Map<string, string>();
  const mentionsMessage = [...fields].some(([name, value]) =>
    name.startsWith("last-message-") && value.trim() !== ""
  );
  const messageCount = parseCount(fields.get("message-count")) ??
    (mentionsMessage ? 1 : 0);
  const pendingSubscriptionCount = parseCount(fields.get("pending-subscription-count")) ?? 0;
  return { messageCount, pendingSubscriptionCount };
}

function parseCount(raw: string | undefined): number | null {
  const text = raw?.trim();
  if (!text || !/^\d+$/.test(text)) return null;
  return Math.min(Number(text), MAX_COUNT);
}
