/**
 * Our Web Push registration commands on the wire (XEP-0050), for the command door to call:
 *
 * - `register-push-webpush`, a data form with `endpoint` (the subscription's push resource
 *   URL: `https:`, at most 1000 bytes, no user name, password or fragment), `p256dh` (its
 *   65-byte uncompressed P-256 public key, base64url) and `auth` (its 16-byte auth secret,
 *   base64url): the browser's `PushSubscription.toJSON()` values, or a UnifiedPush
 *   connector's. Answered like p2's command (`fcm_commands.ts`'s `registerAnswer`): completed,
 *   with `jid`, `node`, `secret`.
 * - `unregister-push-webpush`, a form with `endpoint`: answered completed, no form.
 *
 * Which app: the resource of the IQ's `to` (contract §4), the door's business. What is
 * stored: device `webpush:<app>:<key>` (key: `domain/webpush_registration.ts`), target
 * `{service: "webpush", app, address: endpoint#p256dh#auth}`, one account whose id is the key.
 * Pure apart from hashing: elements in, values out.
 *
 * A field's first value counts; unknown fields are ignored; every refusal is `bad-request`
 * naming the field, never echoing a value (the endpoint is a capability).
 *
 * @module
 */

import type { Element } from "@xmpp/xml";
import { z } from "zod";
import {
  WEBPUSH,
  webPushDeviceId,
  webPushRegistrationKey,
} from "../../domain/webpush_registration.ts";
import { bareJidOf } from "../../domain/p2_registration.ts";
import type { PushTarget } from "../../domain/push_target.ts";
import { EndpointRefusedError, parseEndpoint } from "../push/webpush/endpoint_policy.ts";
import { fromBase64Url, isP256Point } from "../push/webpush/p256_keys.ts";
import { formatWebPushAddress } from "../push/webpush/webpush_address.ts";
import { fieldMap, NS_COMMANDS } from "./fcm_commands.ts";
import type { FieldMap, P2CommandRefusal } from "./p2_command_fields.ts";

/** The command nodes of the dialect. */
export const REGISTER_PUSH_WEBPUSH = "register-push-webpush";
export const UNREGISTER_PUSH_WEBPUSH = "unregister-push-webpush";
/** Both, for disco#items and the door's handler table. */
export const WEBPUSH_COMMAND_NODES = [REGISTER_PUSH_WEBPUSH, UNREGISTER_PUSH_WEBPUSH] as const;

const NS_DATA = "jabber:x:data";

/** A validated register form. */
export interface WebPushRegisterFields {
  readonly endpoint: string;
  /** base64url as sent (normalized in the target's address). */
  readonly p256dh: string;
  readonly auth: string;
}

/** A validated unregister form. */
export interface WebPushUnregisterFields {
  readonly endpoint: string;
}

/** Either the value or why not (the same refusal shape as p2's commands). */
export type WebPushCommandResult<T> = { readonly ok: true; readonly value: T } | P2CommandRefusal;

function base64UrlBytes(bytes: number, check: (raw: Uint8Array) => boolean = () => true) {
  return z.string({ error: "is required" }).trim().regex(
    /^[A-Za-z0-9_-]+={0,2}$/,
    "is not base64url",
  ).refine((text) => {
    try {
      const raw = fromBase64Url(text);
      return raw.byteLength === bytes && check(raw);
    } catch {
      return false;
    }
  }, bytes === 65 ? "is not a 65-byte uncompressed P-256 point" : `is not ${bytes} bytes`);
}

const endpointSchema = z.string({ error: "is required" }).trim().min(1, "is required").superRefine(
  (endpoint, context) => {
    try {
      // The syntax rules (https only, no credentials or fragment); DNS is the app's business.
      parseEndpoint(endpoint);
    } catch (error) {
      if (!(error instanceof EndpointRefusedError)) throw error;
      context.addIssue({ code: "custom", message: `is refused (${error.reason})` });
    }
  },
);

const registerSchema = z.object({
  endpoint: endpointSchema,
  p256dh: base64UrlBytes(65, isP256Point),
  auth: base64UrlBytes(16),
});

const unregisterSchema = z.object({ endpoint: endpointSchema });

/** Checks a `register-push-webpush` form. */
export function parseWebPushRegisterFields(
  fields: FieldMap,
): WebPushCommandResult<WebPushRegisterFields> {
  const parsed = registerSchema.safeParse(firstValues(fields, ["endpoint", "p256dh", "auth"]));
  return parsed.success ? { ok: true, value: parsed.data } : refusal(parsed.error);
}

/** Checks an `unregister-push-webpush` form. */
export function parseWebPushUnregisterFields(
  fields: FieldMap,
): WebPushCommandResult<WebPushUnregisterFields> {
  const parsed = unregisterSchema.safeParse(firstValues(fields, ["endpoint"]));
  return parsed.success ? { ok: true, value: parsed.data } : refusal(parsed.error);
}

/** A register or unregister command, read and checked. */
export type WebPushCommand =
  | {
    readonly action: "register";
    /** The IQ's `from`: the registering account's full JID. */
    readonly from: string;
    readonly fields: WebPushRegisterFields;
  }
  | {
    readonly action: "unregister";
    readonly from: string;
    readonly fields: WebPushUnregisterFields;
  };

/**
 * Reads a `register-push-webpush` / `unregister-push-webpush` IQ. Like p2's: no `from`, an
 * action other than execute, no data form or bad fields are `bad-request`; another command
 * node is `item-not-found`.
 */
export function readWebPushCommand(iq: Element): WebPushCommandResult<WebPushCommand> {
  const command = iq.getChild("command", NS_COMMANDS);
  if (iq.attrs.type !== "set" || command === undefined) return refuse("not a command");
  const from = typeof iq.attrs.from === "string" ? iq.attrs.from : "";
  if (from === "") return refuse("no sender");
  if ((command.attrs.action ?? "execute") !== "execute") {
    return refuse("only execute is supported");
  }
  const node = command.attrs.node;
  if (node !== REGISTER_PUSH_WEBPUSH && node !== UNREGISTER_PUSH_WEBPUSH) {
    return { ok: false, condition: "item-not-found", reason: "unknown command" };
  }
  const form = command.getChildren("x", NS_DATA)[0];
  if (form === undefined) return refuse("no data form");
  const fields = fieldMap(form);
  if (node === REGISTER_PUSH_WEBPUSH) {
    const parsed = parseWebPushRegisterFields(fields);
    return parsed.ok
      ? { ok: true, value: { action: "register", from, fields: parsed.value } }
      : parsed;
  }
  const parsed = parseWebPushUnregisterFields(fields);
  return parsed.ok
    ? { ok: true, value: { action: "unregister", from, fields: parsed.value } }
    : parsed;
}

/** What a registration stores (contract §4); node and secret are the door's to mint or keep. */
export interface WebPushRegistration {
  /** {@link webPushRegistrationKey}: also the account id every push carries. */
  readonly key: string;
  /** `webpush:<app>:<key>`. */
  readonly deviceId: string;
  readonly accountId: string;
  readonly target: PushTarget;
}

/** The registration of `from`'s subscription with `app`. */
export async function webPushRegistration(
  from: string,
  app: string,
  fields: WebPushRegisterFields,
): Promise<WebPushRegistration> {
  const key = await webPushRegistrationKey(bareJidOf(from), fields.endpoint);
  return {
    key,
    deviceId: webPushDeviceId(app, key),
    accountId: key,
    target: { service: WEBPUSH, app, address: formatWebPushAddress(fields) },
  };
}

/** The device id an unregister command names. */
export async function webPushUnregistration(
  from: string,
  app: string,
  fields: WebPushUnregisterFields,
): Promise<string> {
  return webPushDeviceId(app, await webPushRegistrationKey(bareJidOf(from), fields.endpoint));
}

function firstValues(fields: FieldMap, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const values = Object.hasOwn(fields, name) ? fields[name] : undefined;
    if (values !== undefined && values.length > 0) out[name] = values[0];
  }
  return out;
}

function refusal(error: z.ZodError): P2CommandRefusal {
  const issue = error.issues[0];
  return refuse(`${issue.path.join(".") || "form"} ${issue.message}`);
}

function refuse(reason: string): P2CommandRefusal {
  return { ok: false, condition: "bad-request", reason };
}
