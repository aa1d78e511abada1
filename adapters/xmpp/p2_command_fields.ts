/**
 * Validation of p2's registration commands (`register-push-<service>`,
 * `unregister-push-<service>`, p2.md §1) from a plain field map, as the ad-hoc command front
 * door hands it over once it has read the data form. Rules, as p2 applies them:
 *
 * - `token` required, not blank;
 * - the device id is `device-id` if not blank, else `android-id` (what Conversations sends);
 *   required, not blank; used exactly as sent (the phone hashes the same bytes);
 * - `muc` optional: a bare JID (a full JID is refused);
 * - a field's first value counts; unknown fields are ignored.
 *
 * Every refusal is `bad-request` with a reason saying which field; an unknown command node or
 * service is `item-not-found`.
 *
 * @module
 */

import { z } from "zod";
import type { P2Service } from "../../domain/p2_registration.ts";

/** Data-form fields by `var`, each with its values in order. */
export type FieldMap = Readonly<Record<string, readonly string[]>>;

/** What a command node asks for. */
export interface P2CommandNode {
  readonly action: "register" | "unregister";
  readonly service: P2Service;
}

/** A refusal, as the IQ error it becomes. */
export interface P2CommandRefusal {
  readonly ok: false;
  readonly condition: "bad-request" | "item-not-found";
  /** For the error's `<text/>`: names a field, never echoes a value. */
  readonly reason: string;
}

/** A validated register command. */
export interface P2RegisterFields {
  readonly token: string;
  readonly deviceId: string;
  /** Bare JID of a room, for a MUC registration. */
  readonly muc?: string;
}

/** A validated unregister command. */
export interface P2UnregisterFields {
  readonly deviceId: string;
  readonly muc?: string;
}

/** Either the value or why not. */
export type P2CommandResult<T> = { readonly ok: true; readonly value: T } | P2CommandRefusal;

const SERVICES: ReadonlySet<string> = new Set<P2Service>(["fcm", "apns"]);
const REGISTER_PREFIX = "register-push-";
const UNREGISTER_PREFIX = "unregister-push-";

/**
 * Reads a command node. Like p2, the service suffix is compared without case
 * (`register-push-FCM` works). Unknown nodes and services are `item-not-found`.
 */
export function parseP2CommandNode(node: string): P2CommandResult<P2CommandNode> {
  const [action, suffix] = node.startsWith(REGISTER_PREFIX)
    ? ["register" as const, node.slice(REGISTER_PREFIX.length)]
    : node.startsWith(UNREGISTER_PREFIX)
    ? ["unregister" as const, node.slice(UNREGISTER_PREFIX.length)]
    : [null, ""];
  if (action === null) return refuse("item-not-found", "unknown command");
  const service = suffix.toLowerCase();
  if (!SERVICES.has(service)) return refuse("item-not-found", "unknown push service");
  return { ok: true, value: { action, service: service as P2Service } };
}

const notBlank = (s: string) => s.trim().length > 0;
/** No control characters: they have no place in an id and would blur the hash input. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const NO_CONTROLS = /^[^\x00-\x1f\x7f]*$/;
/** A bare JID, loosely: `[local@]domain`, no resource, no spaces. */
const BARE_JID = /^(?:[^@/\s]{1,1023}@)?[^@/\s]{1,1023}$/;

const deviceIdSchema = z.string().max(256, "is too long").regex(
  NO_CONTROLS,
  "has control characters",
);

const commonSchema = z.object({
  "device-id": z.string().optional(),
  "android-id": z.string().optional(),
  muc: z.string().optional(),
});

const registerSchema = commonSchema.extend({
  token: z.string({ error: "is required" })
    .transform((t) => t.trim())
    .pipe(
      z.string().min(1, "is required").max(4096, "is too long").regex(
        /^[\x21-\x7e]+$/,
        "is not a push token",
      ),
    ),
});

/** Checks a `register-push-*` form. */
export function parseP2RegisterFields(fields: FieldMap): P2CommandResult<P2RegisterFields> {
  const parsed = registerSchema.safeParse(firstValues(fields));
  if (!parsed.success) return refuse("bad-request", describe(parsed.error));
  const common = commonFields(parsed.data);
  if (!common.ok) return common;
  return { ok: true, value: { token: parsed.data.token, ...common.value } };
}

/** Checks an `unregister-push-*` form. */
export function parseP2UnregisterFields(fields: FieldMap): P2CommandResult<P2UnregisterFields> {
  const parsed = commonSchema.safeParse(firstValues(fields));
  if (!parsed.success) return refuse("bad-request", describe(parsed.error));
  return commonFields(parsed.data);
}

function commonFields(
  data: z.output<typeof commonSchema>,
): P2CommandResult<P2UnregisterFields> {
  const deviceIdField = data["device-id"] !== undefined && notBlank(data["device-id"])
    ? "device-id"
    : "android-id";
  const raw = data[deviceIdField];
  if (raw === undefined || !notBlank(raw)) {
    return refuse("bad-request", "device-id or android-id is required");
  }
  const deviceId = deviceIdSchema.safeParse(raw);
  if (!deviceId.success) {
    return refuse("bad-request", `${deviceIdField} ${deviceId.error.issues[0].message}`);
  }
  if (data.muc === undefined || !notBlank(data.muc)) return { ok: true, value: { deviceId: raw } };
  const muc = data.muc.trim();
  if (muc.includes("/")) return refuse("bad-request", "muc must be a bare JID");
  if (!BARE_JID.test(muc)) return refuse("bad-request", "muc is not a JID");
  return { ok: true, value: { deviceId: raw, muc } };
}

function firstValues(fields: FieldMap): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ["token", "device-id", "android-id", "muc"]) {
    const values = Object.hasOwn(fields, name) ? fields[name] : undefined;
    if (values !== undefined && values.length > 0) out[name] = values[0];
  }
  return out;
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  const field = issue.path.join(".") || "form";
  return `${field} ${issue.message}`;
}

function refuse(condition: P2CommandRefusal["condition"], reason: string): P2CommandRefusal {
  return { ok: false, condition, reason };
}
