/**
 * Push 2.0 on the wire (`urn:xmpp:push2:0`, webpush.md §4.2): the message a user's server
 * (Prosody mod_push2) sends the push service,
 *
 * ```xml
 * <message from="example.org" to="push.example.org" id="...">
 *   <notification xmlns="urn:xmpp:push2:0">
 *     <client>https://push.example/endpoint</client>
 *     <priority>high|normal|low</priority>  <voip/>?
 *     <encrypted xmlns="urn:xmpp:sce:rfc8291:0"><payload>{base64 body}</payload></encrypted>
 *     <jwt key="{base64 raw P-256 public key}">{JWT}</jwt>
 *   </notification>
 * </message>
 * ```
 *
 * read and checked with zod at the edge (bounded sizes: endpoint 1000 bytes, body 1–4096
 * bytes, JWT 4096 characters; the key a P-256 point), and the answer: nothing when relayed,
 * else a message error back to the sender. A message of type `error` is never answered
 * (no error loops).
 *
 * @module
 */

import { xml } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import { z } from "zod";
import type { Push2Answer, Push2Notification, Push2Urgency } from "../../domain/push2.ts";
import { MAX_ENDPOINT_BYTES } from "../push/webpush/endpoint_policy.ts";
import { isP256Point, toBase64Url } from "../push/webpush/p256_keys.ts";
import { stanzaError } from "./iq_answers.ts";

/** Push 2.0's namespace. */
export const NS_PUSH2 = "urn:xmpp:push2:0";
const NS_SCE_RFC8291 = "urn:xmpp:sce:rfc8291:0";
const MAX_BODY_BYTES = 4096;
const MAX_JWT_CHARS = 4096;

/** Why a notification was refused (the error's text: names a part, never a value). */
export interface Push2Refusal {
  readonly ok: false;
  readonly reason: string;
}

/** Standard or URL-safe base64, padded or not, to bytes; null when it is neither. */
function base64Bytes(text: string): Uint8Array<ArrayBuffer> | null {
  const compact = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact)) return null;
  try {
    return Uint8Array.fromBase64(compact.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, ""), {
      lastChunkHandling: "loose",
    });
  } catch {
    return null;
  }
}

const notificationSchema = z.object({
  client: z.string().trim().min(1, "is empty").refine(
    (text) => new TextEncoder().encode(text).byteLength <= MAX_ENDPOINT_BYTES,
    `is longer than ${MAX_ENDPOINT_BYTES} bytes`,
  ),
  priority: z.enum(["low", "normal", "high"], { error: "is not low, normal or high" })
    .default("normal"),
  voip: z.boolean(),
  // Base64 of at most 4096 bytes is at most 5464 characters (plus line breaks).
  payload: z.string().max(6000, "is too large").transform((text, context) => {
    const bytes = base64Bytes(text);
    if (bytes === null) {
      context.addIssue({ code: "custom", message: "is not base64" });
      return z.NEVER;
    }
    if (bytes.byteLength === 0 || bytes.byteLength > MAX_BODY_BYTES) {
      context.addIssue({ code: "custom", message: `must be 1 to ${MAX_BODY_BYTES} bytes` });
      return z.NEVER;
    }
    return bytes;
  }),
  jwt: z.string().trim().max(MAX_JWT_CHARS, "is too long").regex(
    /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/,
    "is not a compact JWT",
  ),
  key: z.string().max(200, "is too long").transform((text, context) => {
    const bytes = base64Bytes(text);
    if (bytes === null || !isP256Point(bytes)) {
      context.addIssue({ code: "custom", message: "is not a P-256 public key" });
      return z.NEVER;
    }
    return toBase64Url(bytes);
  }),
});

/** Whether `stanza` is a Push 2.0 notification message (for routing). */
export function isPush2Message(stanza: Element): boolean {
  return stanza.name === "message" && stanza.getChild("notification", NS_PUSH2) !== undefined;
}

/** Reads a notification message; refusals name the part that is wrong. */
export function readPush2Notification(
  stanza: Element,
): { readonly ok: true; readonly value: Push2Notification } | Push2Refusal {
  const notification = stanza.getChild("notification", NS_PUSH2);
  if (stanza.name !== "message" || notification === undefined) {
    return { ok: false, reason: "not a push2 notification" };
  }
  const encrypted = notification.getChild("encrypted", NS_SCE_RFC8291);
  const jwt = notification.getChild("jwt");
  const input = {
    client: notification.getChildText("client") ?? undefined,
    priority: notification.getChildText("priority")?.trim() || undefined,
    voip: notification.getChild("voip") !== undefined,
    payload: encrypted?.getChildText("payload") ?? undefined,
    jwt: jwt?.getText() ?? undefined,
    key: typeof jwt?.attrs.key === "string" ? jwt.attrs.key : undefined,
  };
  if (input.payload === undefined) {
    return { ok: false, reason: "no urn:xmpp:sce:rfc8291:0 encrypted payload" };
  }
  const parsed = notificationSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const part = String(issue.path[0] ?? "notification");
    const message = issue.code === "invalid_type" ? "is missing" : issue.message;
    return { ok: false, reason: `${part} ${message}` };
  }
  const { client, priority, voip, payload, jwt: token, key } = parsed.data;
  const urgency: Push2Urgency = voip ? "high" : priority;
  return { ok: true, value: { endpoint: client, urgency, body: payload, jwt: token, key } };
}

/** The message error for an answer (to the sender, from the addressee, same id). */
export function push2ErrorMessage(
  request: Element,
  error: Extract<Push2Answer, { kind: "error" }>,
): Element {
  const attrs: Record<string, string> = { type: "error" };
  if (typeof request.attrs.id === "string") attrs.id = request.attrs.id;
  if (typeof request.attrs.from === "string") attrs.to = request.attrs.from;
  if (typeof request.attrs.to === "string") attrs.from = request.attrs.to;
  return xml("message", attrs, stanzaError(error.type, error.condition, error.text));
}

/**
 * Handles one Push 2.0 message: reads it, relays it with `relay` (the use case), and
 * answers the message error to send back, or null (relayed, or an error message: never
 * answered). Never throws.
 */
export async function handlePush2Message(
  stanza: Element,
  relay: (notification: Push2Notification) => Promise<Push2Answer>,
): Promise<Element | null> {
  if (stanza.attrs.type === "error") return null;
  const read = readPush2Notification(stanza);
  if (!read.ok) {
    return push2ErrorMessage(stanza, {
      kind: "error",
      type: "modify",
      condition: "bad-request",
      text: read.reason,
    });
  }
  const answer = await relay(read.value);
  return answer.kind === "relayed" ? null : push2ErrorMessage(stanza, answer);
}
