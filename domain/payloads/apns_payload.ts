/**
 * The JSON body of an APNs push, per app. The shape Monal's Notification Service Extension
 * needs (fpush.md §4): a visible alert placeholder with `mutable-content: 1`, which lets the
 * extension log in, fetch the real stanzas and replace the text; or, for apps that want it,
 * a background push (`content-available: 1`). Static extra top-level keys per app (fpush's
 * `additionalData`). Message content goes in only when the app allows it AND the publish
 * carried a body; the sender never does.
 *
 * @module
 */

import type { SummaryFields } from "../push_summary.ts";

/** APNs refuses larger payloads with 413 PayloadTooLarge (apns.md §4; VoIP is not used). */
export const APNS_PAYLOAD_LIMIT_BYTES = 4096;

/** The push types this server sends; each has its own payload shape and priority. */
export type ApnsPushType = "alert" | "background";

/** A JSON value, for the static extra keys of a payload. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/** The placeholder text of an alert push. */
export interface ApnsAlertText {
  readonly title: string;
  readonly body: string;
}

/** How one app wants its pushes to look. */
export interface ApnsPayloadSettings {
  /** `alert` (visible, wakes the NSE) or `background` (silent, heavily throttled by iOS). */
  readonly pushType: ApnsPushType;
  /** The placeholder shown until the app's extension replaces it (alert only). */
  readonly alert: ApnsAlertText;
  /** `aps.sound` (alert only); null: none. */
  readonly sound: string | null;
  /** `aps.mutable-content: 1`, which lets the Notification Service Extension run (alert only). */
  readonly mutableContent: boolean;
  /** Static top-level keys merged into every payload; an `aps` key here is ignored. */
  readonly additionalData: Readonly<Record<string, JsonValue>>;
  /**
   * Put the published message body (`last-message-body` of the summary) into the alert's
   * body when there is one. Off by default: the body then crosses Apple's servers.
   */
  readonly includeMessageBody: boolean;
}

/** What fpush sends for Monal: the defaults of an app's payload. */
export const MONAL_PAYLOAD_SETTINGS: ApnsPayloadSettings = {
  pushType: "alert",
  alert: { title: "New Message", body: "New Message?" },
  sound: "default",
  mutableContent: true,
  additionalData: {},
  includeMessageBody: false,
};

/** A payload ready to send. */
export interface ApnsPayload {
  /** The push type the payload was built for: `apns-push-type` must say the same. */
  readonly pushType: ApnsPushType;
  /** The JSON body. */
  readonly json: string;
  /** Its size in UTF-8 bytes, at most {@link APNS_PAYLOAD_LIMIT_BYTES}. */
  readonly bytes: number;
}

const encoder = new TextEncoder();

/**
 * The payload of one push for an app with `settings`. `summary` is the publish's summary
 * form (null: none); only its `last-message-body` is ever read, and only when the settings
 * allow it. A body too long is cut (on a character boundary, with "…") so the payload fits.
 *
 * @throws RangeError when the settings alone do not fit into an APNs payload.
 */
export function apnsPayload(
  settings: ApnsPayloadSettings,
  summary: SummaryFields | null,
): ApnsPayload {
  const placeholder = serialize(settings, settings.alert.body);
  if (placeholder.bytes > APNS_PAYLOAD_LIMIT_BYTES) {
    throw new RangeError(
      `the app's APNs payload is ${placeholder.bytes} bytes, more than ${APNS_PAYLOAD_LIMIT_BYTES}`,
    );
  }
  if (settings.pushType !== "alert" || !settings.includeMessageBody) return placeholder;
  const body = summary?.get("last-message-body")?.trim();
  if (!body) return placeholder;
  const full = serialize(settings, body);
  if (full.bytes <= APNS_PAYLOAD_LIMIT_BYTES) return full;
  return fitBody(settings, Array.from(body)) ?? placeholder;
}

/** The longest prefix of `chars` (plus an ellipsis) that fits, by binary search. */
function fitBody(settings: ApnsPayloadSettings, chars: readonly string[]): ApnsPayload | null {
  let low = 0; // fits (an empty prefix fits, since the placeholder did)
  let high = chars.length; // does not fit
  while (high - low > 1) {
    const mid = (low + high) >> 1;
    if (serialize(settings, cut(chars, mid)).bytes <= APNS_PAYLOAD_LIMIT_BYTES) low = mid;
    else high = mid;
  }
  return low === 0 ? null : serialize(settings, cut(chars, low));
}

function cut(chars: readonly string[], length: number): string {
  return chars.slice(0, length).join("") + "…";
}

function serialize(settings: ApnsPayloadSettings, alertBody: string): ApnsPayload {
  const aps: Record<string, JsonValue> = settings.pushType === "background"
    ? { "content-available": 1 }
    : {
      alert: { title: settings.alert.title, body: alertBody },
      ...(settings.sound === null ? {} : { sound: settings.sound }),
      ...(settings.mutableContent ? { "mutable-content": 1 } : {}),
    };
  const { aps: _ignored, ...extra } = settings.additionalData;
  const json = JSON.stringify({ aps, ...extra });
  return { pushType: settings.pushType, json, bytes: encoder.encode(json).length };
}
