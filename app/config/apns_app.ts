/**
 * One APNs app in the configuration's `apps` section (apps_contract.md §1): an Apple key
 * (`.p8`, key id, team id) and a bundle id (topic) for ONE environment, how its pushes look
 * and are bounded, and the fpush module names (`pushModule`) that select it in fpush's
 * stateless dialect.
 *
 * One app is one environment. A Monal-family build's production and development (sandbox)
 * tokens are two apps, e.g. `monal-ios` (production, pushModules `monalProdiOS`) and
 * `monal-ios-sandbox` (sandbox, `monalProdiOS-sandbox`), both naming the same `.p8`:
 * - a token belongs to one environment (a sandbox token sent to production is
 *   BadDeviceToken, which would block it), and each environment is its own HTTP/2
 *   connection (another host), so an app = one connection, one set of metrics
 *   (`app` label) and one readiness check, as the contract's one-connection-per-app wants;
 * - targets stay `{service: "apns", app, address: token}` (contract §3): the environment
 *   never has to ride in the address;
 * - an operator who serves only production builds does not accept sandbox pushes by
 *   accident: every module name is listed, nothing is derived.
 *
 * @module
 */

import { z } from "zod";
import { pushModuleSchema } from "../../domain/fpush_publish.ts";
import {
  APNS_COLLAPSE_ID_LIMIT_BYTES,
  isValidCollapseId,
} from "../../domain/payloads/apns_headers.ts";
import {
  APNS_PAYLOAD_LIMIT_BYTES,
  apnsPayload,
  type ApnsPayloadSettings,
  MONAL_PAYLOAD_SETTINGS,
} from "../../domain/payloads/apns_payload.ts";

/** Apple's key ids and team ids: 10 upper-case letters and digits. */
const AppleId = z.string().regex(/^[A-Z0-9]{10}$/, "10 upper-case letters and digits");

/** A bundle id (reverse DNS), what `apns-topic` carries. */
const BundleId = z.string().regex(
  /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/,
  "a bundle id such as im.monal.Monal",
);

const JsonValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(JsonValue),
    z.record(z.string(), JsonValue),
  ])
);

/** What the pushes look like (fpush.md §4): Monal's alert placeholder by default. */
const ApnsPayloadSchema = z.object({
  /** `alert` (visible, wakes the Notification Service Extension) or silent `background`. */
  pushType: z.enum(["alert", "background"]).default("alert"),
  /** The placeholder the app's extension replaces (alert only). */
  title: z.string().min(1).max(256).default(MONAL_PAYLOAD_SETTINGS.alert.title),
  body: z.string().min(1).max(1024).default(MONAL_PAYLOAD_SETTINGS.alert.body),
  /** `aps.sound`; null: none. */
  sound: z.string().min(1).max(256).nullable().default("default"),
  /** `aps.mutable-content: 1`: lets the Notification Service Extension run (Monal needs it). */
  mutableContent: z.boolean().default(true),
  /** Static top-level keys added to every payload (fpush's `additionalData`); not `aps`. */
  additionalData: z.record(z.string().min(1).max(64), JsonValue)
    .refine((data) => !("aps" in data), "aps is the payload's own key")
    .refine((data) => JSON.stringify(data).length <= 2048, "at most 2048 bytes of JSON")
    .default({}),
  /**
   * Put the published message body into the alert when the publish carried one. Off by
   * default: the text would then cross Apple's servers.
   */
  includeMessageBody: z.boolean().default(false),
}).default({
  pushType: "alert",
  title: MONAL_PAYLOAD_SETTINGS.alert.title,
  body: MONAL_PAYLOAD_SETTINGS.alert.body,
  sound: "default",
  mutableContent: true,
  additionalData: {},
  includeMessageBody: false,
});

/** The per-token rate limit (a token bucket per device token). */
const TokenRateLimitSchema = z.object({
  /** Pushes at once to one token. */
  burst: z.number().int().min(1).max(1000).default(5),
  /** One more push per this many seconds, sustained. */
  refillSeconds: z.number().positive().max(3600).default(10),
  /** Tokens tracked at most; the one used longest ago is forgotten first. */
  maxTokens: z.number().int().min(1).max(10_000_000).default(100_000),
}).default({ burst: 5, refillSeconds: 10, maxTokens: 100_000 });

/** The blocklist of tokens APNs called dead (410 Unregistered, BadDeviceToken...). */
const DeadTokensSchema = z.object({
  /** First block. */
  blockHours: z.number().positive().max(24 * 365).default(24),
  /** A token reported dead again while blocked. */
  extendedBlockHours: z.number().positive().max(24 * 365).default(120),
  /** What a publish in the second half of a block adds (someone still pushes to it). */
  extendOnLookupMinutes: z.number().nonnegative().max(24 * 60).default(10),
  /** Tokens held at most. */
  maxEntries: z.number().int().min(1).max(10_000_000).default(100_000),
}).default({
  blockHours: 24,
  extendedBlockHours: 120,
  extendOnLookupMinutes: 10,
  maxEntries: 100_000,
});

/** An `apps` entry with `"service": "apns"`. */
export const ApnsAppSchema = z.object({
  service: z.literal("apns"),
  /** The APNs app for registrations naming none, and stateless publishes without pushModule. */
  default: z.boolean().default(false),
  /** The `AuthKey_<KEYID>.p8` file (PKCS#8 PEM EC P-256 private key). */
  keyFile: z.string().min(1),
  /** The key's 10-character Key ID (JWT `kid`). */
  keyId: AppleId,
  /** The developer account's 10-character Team ID (JWT `iss`). */
  teamId: AppleId,
  /** The app's bundle id: `apns-topic`. */
  topic: BundleId,
  /** Which APNs the app's tokens belong to. */
  environment: z.enum(["production", "sandbox"]).default("production"),
  /**
   * fpush module names (`pushModule` publish-option) that select this app in the stateless
   * dialect, exactly as the client sends them (Monal: `monalProdiOS`, and
   * `monalProdiOS-sandbox` for a sandbox app). Empty: registered targets only.
   */
  pushModules: z.array(pushModuleSchema).max(16)
    .refine((names) => new Set(names).size === names.length, "a pushModule is listed twice")
    .default([]),
  payload: ApnsPayloadSchema,
  /** `apns-priority`; default 10 for alert pushes. Background pushes are always 5. */
  priority: z.union([z.literal(10), z.literal(5)]).default(10),
  /**
   * `apns-expiration`: how long APNs keeps trying while the device is offline, in seconds
   * from the push (a real future time, unlike fpush's 1970 date); 0: now or never.
   */
  expirationSeconds: z.number().int().nonnegative().max(28 * 24 * 3600).default(24 * 3600),
  /** `apns-collapse-id`: a newer push replaces the one shown; null: none. */
  collapseId: z.string().min(1).nullable().default(null).refine(
    (id) => id === null || isValidCollapseId(id),
    `at most ${APNS_COLLAPSE_ID_LIMIT_BYTES} bytes, no control characters`,
  ),
  /** One request, stream open to the end of the answer. */
  requestTimeoutSeconds: z.number().positive().max(120).default(10),
  /** Pushes in flight at once (streams on the one HTTP/2 connection, below APNs's limit). */
  maxInFlight: z.number().int().positive().max(10_000).default(1000),
  /** Pushes waiting behind them; beyond, a publish is answered `wait` at once. */
  maxQueued: z.number().int().nonnegative().default(10_000),
  /** Pushes to one device token in flight at once. */
  maxInFlightPerToken: z.number().int().positive().max(100).default(2),
  /** A push waiting this long for a slot is given up: its publish is answered `wait`. */
  maxQueueWaitSeconds: z.number().positive().default(5),
  /** Attempts per push on 5xx, network errors and timeouts (the first included). */
  maxAttempts: z.number().int().min(1).max(10).default(4),
  /** Pushes to one token within this window after a push are merged (0: off). */
  coalesceMs: z.number().int().nonnegative().max(10_000).default(250),
  tokenRateLimit: TokenRateLimitSchema,
  deadTokens: DeadTokensSchema,
  /**
   * Another APNs endpoint (`https://host:port`) and the PEM CA file to trust for it: for a
   * fake APNs in tests, or a relay. Default: Apple's host for the environment.
   */
  url: z.url({ protocol: /^https$/ }).optional(),
  caFile: z.string().min(1).optional(),
}).refine((app) => app.payload.pushType !== "background" || app.priority === 5, {
  message: "a background push must have priority 5 (Apple refuses 10)",
  path: ["priority"],
}).refine((app) => placeholderFits(app.payload), {
  // Each field has its own bound; together they may still not fit (UTF-8, JSON escapes).
  message:
    `the payload (title, body, sound, additionalData) is over APNs's ${APNS_PAYLOAD_LIMIT_BYTES} bytes`,
  path: ["payload"],
});

/** Whether an app's placeholder payload fits into an APNs push. */
function placeholderFits(payload: z.infer<typeof ApnsPayloadSchema>): boolean {
  try {
    apnsPayload(payloadSettings(payload), null);
    return true;
  } catch {
    return false;
  }
}

/** A validated APNs app. */
export type ApnsAppConfig = z.infer<typeof ApnsAppSchema>;

/** The payload settings of the domain's {@link ApnsPayloadSettings} for an app. */
export function apnsPayloadSettings(app: ApnsAppConfig): ApnsPayloadSettings {
  return payloadSettings(app.payload);
}

function payloadSettings(payload: z.infer<typeof ApnsPayloadSchema>): ApnsPayloadSettings {
  return {
    pushType: payload.pushType,
    alert: { title: payload.title, body: payload.body },
    sound: payload.sound,
    mutableContent: payload.mutableContent,
    additionalData: payload.additionalData as ApnsPayloadSettings["additionalData"],
    includeMessageBody: payload.includeMessageBody,
  };
}

/** A pushModule listed by two apps: `app` lists `module`, which `other` listed first. */
export interface DuplicatePushModule {
  readonly app: string;
  readonly module: string;
  readonly other: string;
}

/**
 * Which APNs app each fpush module name selects, over every configured app, and the names
 * listed twice (the first app listing a name keeps it).
 */
export function pushModuleOwners(
  apps: Iterable<readonly [name: string, app: Pick<ApnsAppConfig, "pushModules">]>,
): { owners: ReadonlyMap<string, string>; duplicates: DuplicatePushModule[] } {
  const owners = new Map<string, string>();
  const duplicates: DuplicatePushModule[] = [];
  for (const [name, app] of apps) {
    for (const module of app.pushModules) {
      const other = owners.get(module);
      if (other === undefined) owners.set(module, name);
      else duplicates.push({ app: name, module, other });
    }
  }
  return { owners, duplicates };
}

/**
 * Which APNs app each fpush module name selects, over every configured app.
 *
 * @throws Error naming both apps when one module name is listed by two.
 */
export function apnsPushModules(
  apps: Iterable<readonly [name: string, app: Pick<ApnsAppConfig, "pushModules">]>,
): ReadonlyMap<string, string> {
  const { owners, duplicates } = pushModuleOwners(apps);
  const [first] = duplicates;
  if (first !== undefined) {
    throw new Error(
      `apps.${first.app}.pushModules: ${
        JSON.stringify(first.module)
      } is listed by apps.${first.other} too`,
    );
  }
  return owners;
}
