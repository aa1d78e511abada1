/**
 * What an FCM wakeup carries, the way p2 sends it to Conversations: a data-only message whose
 * `data` is `{account: <device hash>}` (plus `channel` for a MUC registration), and p2's
 * collapse key. Nothing about the message itself — no sender, no body, no count — ever goes
 * into it: the app wakes, connects and fetches the rest over XMPP.
 *
 * @module
 */

import { P2_HASH_PATTERN, p2CollapseKey } from "../p2_registration.ts";

/** FCM's `data` map: string values only. */
export type FcmData = Readonly<Record<string, string>>;

/** FCM's `android.priority` values. */
export type FcmAndroidPriority = "HIGH" | "NORMAL";

/** FCM keeps a message at most four weeks (also its default). */
export const FCM_MAX_TTL_SECONDS = 2_419_200;

/** Limit of `data` (keys and values, bytes) for messages to a token. */
export const FCM_DATA_LIMIT_BYTES = 4096;

/** The wakeup for one registration: its hashes, as stored. */
export interface FcmWakeup {
  /** The device hash (`account` on the phone). */
  readonly account: string;
  /** The channel hash of a MUC registration; absent or "" for the account itself. */
  readonly channel?: string;
}

/** How a wakeup is to be sent: the `android` part of the message. */
export interface FcmDelivery {
  readonly data: FcmData;
  /** p2's collapse key (first 6 hex of the hash), or null when collapsing is off. */
  readonly collapseKey: string | null;
}

/**
 * The data map and collapse key of a wakeup.
 *
 * @throws {Error} when a hash is not 40 lowercase hex characters (a storage or caller bug:
 * sending anything else could leak what the hash was supposed to hide).
 */
export function fcmWakeup(wakeup: FcmWakeup, collapse = true): FcmDelivery {
  if (!P2_HASH_PATTERN.test(wakeup.account)) {
    throw new Error("fcmWakeup: account is not a 40-hex hash");
  }
  const channel = wakeup.channel ?? "";
  if (channel !== "" && !P2_HASH_PATTERN.test(channel)) {
    throw new Error("fcmWakeup: channel is not a 40-hex hash");
  }
  const data: Record<string, string> = { account: wakeup.account };
  if (channel !== "") data.channel = channel;
  return {
    data,
    collapseKey: collapse ? p2CollapseKey(channel !== "" ? channel : wakeup.account) : null,
  };
}

/** Bytes FCM counts against {@link FCM_DATA_LIMIT_BYTES}: every key and value, UTF-8. */
export function fcmDataBytes(data: FcmData): number {
  let total = 0;
  for (const [key, value] of Object.entries(data)) total += utf8Bytes(key) + utf8Bytes(value);
  return total;
}

/** Any character outside ASCII (UTF-16 code units from U+0080 up, surrogates included). */
const NON_ASCII = /[\u0080-\uffff]/;
const encoder = new TextEncoder();

/** UTF-8 length; ASCII (p2's hash, every key) without encoding: it runs for every push. */
function utf8Bytes(text: string): number {
  return NON_ASCII.test(text) ? encoder.encode(text).byteLength : text.length;
}

/** Keys FCM refuses in `data` (INVALID_ARGUMENT): `from`, `gcm`, anything starting `google`. */
export function isReservedFcmDataKey(key: string): boolean {
  return key === "from" || key === "gcm" || key.startsWith("google");
}

/** A TTL in seconds as FCM's protobuf Duration string (`"86400s"`, `"0.5s"`), clamped to 4 weeks. */
export function fcmTtl(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error("fcmTtl: not a duration");
  const clamped = Math.min(seconds, FCM_MAX_TTL_SECONDS);
  // Milliseconds at most: FCM takes up to nine fraction digits, more would only be noise.
  return `${Number(clamped.toFixed(3))}s`;
}
