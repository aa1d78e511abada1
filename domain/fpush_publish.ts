/**
 * fpush's stateless dialect (fpush.md §1–2), interpreted: the publish's node IS the APNs
 * device token, and the publish-option `pushModule` names the app (credentials set) to push
 * with; no registration exists. Unlike fpush, other publish-options (a `secret` that some
 * servers add, anything else) are accepted and handed on, in any order.
 *
 * Monal derives a sandbox twin of each module by appending `-sandbox`; that split is here
 * too, so the configuration can name one app and get both environments.
 *
 * @module
 */

import { z } from "zod";

const PUBLISH_OPTIONS_FORM = "http://jabber.org/protocol/pubsub#publish-options";
const SANDBOX_SUFFIX = "-sandbox";

/**
 * An APNs device token as a hex string: today 32 bytes (64 hex digits, what Monal sends),
 * but Apple says the length may change, so up to 256 bytes (fpush accepts 64 to 512
 * characters). Even length: it is bytes. Lower-cased, so one device has one spelling.
 */
export const apnsDeviceTokenSchema = z.string()
  .regex(/^(?:[0-9a-fA-F]{2}){32,256}$/, "an APNs device token is 64 to 512 hex digits")
  .transform((token) => token.toLowerCase());

/** A `pushModule` value: a short id of letters, digits, `.`, `_` and `-`. */
export const pushModuleSchema = z.string().regex(
  /^[A-Za-z0-9._-]{1,64}$/,
  "a pushModule is 1 to 64 letters, digits, '.', '_' or '-'",
);

/** Extra publish-options kept at most; more make the publish malformed. */
export const MAX_EXTRA_OPTIONS = 16;

/** A stateless push, as a publish asks for it. */
export interface StatelessPushTarget {
  /** The APNs device token (the node), lower-case hex. */
  readonly token: string;
  /**
   * The `pushModule` as published (e.g. `monalProdiOS-sandbox`), or null when the publish
   * named none (fpush then uses its default module).
   */
  readonly pushModule: string | null;
  /** The module without a trailing `-sandbox`, or null. */
  readonly app: string | null;
  /** Whether the module asked for the APNs sandbox (a `-sandbox` suffix). */
  readonly sandbox: boolean;
  /** The other publish-options (not FORM_TYPE, not pushModule), as published. */
  readonly extraOptions: ReadonlyMap<string, string>;
}

/** The reading of a publish in fpush's dialect. */
export type StatelessPublish =
  | { readonly ok: true; readonly target: StatelessPushTarget }
  /** The node is not an APNs token: not this dialect (another one may still claim it). */
  | { readonly ok: false; readonly kind: "not-a-device-token" }
  /** The node is a token but the options are wrong. */
  | { readonly ok: false; readonly kind: "bad-request"; readonly reason: string };

/**
 * Reads a publish as fpush would, done right. `options` are the publish-options fields in
 * order (name, first value), or null when the publish had no publish-options. A FORM_TYPE
 * other than publish-options makes the form not publish-options at all (as the existing
 * publish reader treats it); the first `pushModule` wins; any other field is kept.
 */
export function interpretStatelessPublish(
  node: string,
  options: Iterable<readonly [string, string]> | null,
): StatelessPublish {
  const token = apnsDeviceTokenSchema.safeParse(node);
  if (!token.success) return { ok: false, kind: "not-a-device-token" };
  const fields = options === null ? [] : [...options];
  const formType = fields.find(([name]) => name === "FORM_TYPE")?.[1];
  const usable = formType === undefined || formType === PUBLISH_OPTIONS_FORM ? fields : [];
  let pushModule: string | null = null;
  const extraOptions = new Map<string, string>();
  for (const [name, value] of usable) {
    if (name === "FORM_TYPE") continue;
    if (name === "pushModule") {
      if (pushModule !== null) continue;
      const parsed = pushModuleSchema.safeParse(value);
      if (!parsed.success) return { ok: false, kind: "bad-request", reason: "bad pushModule" };
      pushModule = parsed.data;
    } else if (!extraOptions.has(name)) {
      if (extraOptions.size >= MAX_EXTRA_OPTIONS) {
        return { ok: false, kind: "bad-request", reason: "too many publish-options" };
      }
      extraOptions.set(name, value);
    }
  }
  const sandbox = pushModule?.endsWith(SANDBOX_SUFFIX) === true &&
    pushModule.length > SANDBOX_SUFFIX.length;
  const app = pushModule === null
    ? null
    : sandbox
    ? pushModule.slice(0, -SANDBOX_SUFFIX.length)
    : pushModule;
  return {
    ok: true,
    target: { token: token.data, pushModule, app, sandbox, extraOptions },
  };
}
