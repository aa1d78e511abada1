/**
 * The request headers of an APNs push (apns.md §3): the push type matches the payload,
 * priority 10 for an alert and 5 for a background push (Apple requires 5 there), an
 * expiration that is a real future time (fpush sends "4 weeks after 1970"), and an optional
 * collapse id of at most 64 bytes.
 *
 * @module
 */

import type { ApnsPayload, ApnsPushType } from "./apns_payload.ts";

/** APNs refuses longer collapse ids (400 BadCollapseId). */
export const APNS_COLLAPSE_ID_LIMIT_BYTES = 64;

/** What an app decides about the headers of its pushes. */
export interface ApnsHeaderSettings {
  /** `apns-topic`: the app's bundle id. */
  readonly topic: string;
  /**
   * How long APNs keeps trying while the device is offline, in seconds; 0: deliver now or
   * never (APNs does not store the push).
   */
  readonly ttlSeconds: number;
  /** `apns-collapse-id`: a newer push with the same id replaces the one shown; null: none. */
  readonly collapseId: string | null;
}

/** The APNs headers of one push (names lower-case, as HTTP/2 requires). */
export interface ApnsHeaders {
  readonly "apns-topic": string;
  readonly "apns-push-type": ApnsPushType;
  readonly "apns-priority": "10" | "5";
  readonly "apns-expiration": string;
  readonly "apns-collapse-id"?: string;
}

const encoder = new TextEncoder();

/** `apns-priority` for a push type: 10 (at once) for alerts, 5 (power-aware) for background. */
export function apnsPriority(pushType: ApnsPushType): "10" | "5" {
  return pushType === "alert" ? "10" : "5";
}

/**
 * `apns-expiration`: UNIX seconds `ttlSeconds` after `nowMs`, or "0" for a TTL of 0.
 *
 * @throws RangeError for a negative or non-integer TTL.
 */
export function apnsExpiration(nowMs: number, ttlSeconds: number): string {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 0) {
    throw new RangeError("an APNs TTL is a whole number of seconds, 0 or more");
  }
  if (ttlSeconds === 0) return "0";
  return String(Math.floor(nowMs / 1000) + ttlSeconds);
}

/** Whether APNs accepts `id` as `apns-collapse-id`: 1 to 64 bytes of UTF-8, no control character. */
export function isValidCollapseId(id: string): boolean {
  const bytes = encoder.encode(id).length;
  // No control characters: CR, LF or NUL would make the HTTP/2 header malformed.
  return bytes >= 1 && bytes <= APNS_COLLAPSE_ID_LIMIT_BYTES && !CONTROL_CHARACTER.test(id);
}

// deno-lint-ignore no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/**
 * The headers for sending `payload` at `nowMs` with an app's `settings`.
 *
 * @throws RangeError for a bad TTL, an invalid collapse id or an empty topic.
 */
export function apnsHeaders(
  payload: Pick<ApnsPayload, "pushType">,
  settings: ApnsHeaderSettings,
  nowMs: number,
): ApnsHeaders {
  if (settings.topic.trim() === "") throw new RangeError("an APNs topic must not be empty");
  const headers = {
    "apns-topic": settings.topic,
    "apns-push-type": payload.pushType,
    "apns-priority": apnsPriority(payload.pushType),
    "apns-expiration": apnsExpiration(nowMs, settings.ttlSeconds),
  };
  if (settings.collapseId === null) return headers;
  if (!isValidCollapseId(settings.collapseId)) {
    throw new RangeError(`an APNs collapse id has 1 to ${APNS_COLLAPSE_ID_LIMIT_BYTES} bytes`);
  }
  return { ...headers, "apns-collapse-id": settings.collapseId };
}
