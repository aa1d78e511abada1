/**
 * One FCM app of the `apps` section: an Android app (a Conversations-family build) whose
 * vendor owns a Firebase project, with that project's service-account key file. How its
 * wakeups are sent (p2's data message, HIGH priority, TTL, collapse key) and the bounds of
 * its delivery (the same shared policy as WNS).
 *
 * @module
 */

import { z } from "zod";
import { FCM_MAX_TTL_SECONDS } from "../../domain/payloads/fcm_payload.ts";
import { FCM_BASE_URL } from "../../adapters/push/fcm/fcm_sender.ts";

/**
 * A wakeup older than a day is no use: the app connects by itself when the phone comes
 * back, and a day is what WNS pushes are kept too. FCM's own default would be 4 weeks.
 */
export const DEFAULT_FCM_TTL_SECONDS = 24 * 60 * 60;

/** The schema of an `apps` entry with `service: "fcm"`. */
export const FcmAppSchema = z.object({
  service: z.literal("fcm"),
  /** The app a registration without an app name goes to (one per service). */
  default: z.boolean().default(false),
  /** The Firebase service-account key file (JSON, from the Firebase console). */
  serviceAccountFile: z.string().min(1),
  /** The Firebase project; absent: the key file's `project_id`. */
  projectId: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$|^\d{1,20}$/, "not a project id")
    .optional(),
  /** `android.priority`: HIGH wakes a dozing phone (p2 lost it in 2021: p2 issue #30). */
  priority: z.enum(["HIGH", "NORMAL"]).default("HIGH"),
  /** `android.ttl`: how long FCM keeps a wakeup for an offline phone; 0: now or never. */
  ttlSeconds: z.number().int().min(0).max(FCM_MAX_TTL_SECONDS).default(DEFAULT_FCM_TTL_SECONDS),
  /** `android.collapse_key` = the first 6 hex of the hash, as p2 (`fcm.collapse`). */
  collapse: z.boolean().default(true),
  /** `android.restricted_package_name`: FCM refuses tokens of another package. */
  restrictedPackageName: z.string().regex(/^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$/)
    .optional(),
  /** FCM's base URL: only for tests and fakes (the token URL is the key file's `token_uri`). */
  baseUrl: z.url({ protocol: /^https?$/ }).default(FCM_BASE_URL),
  /** One FCM request (and one token request), answer included. */
  requestTimeoutSeconds: z.number().positive().max(120).default(10),
  /**
   * Requests in flight at once, and pushes waiting behind them. FCM is one host, so this is
   * also the per-host bound and the kept-alive connections.
   */
  maxInFlight: z.number().int().positive().max(10_000).default(64),
  maxQueued: z.number().int().nonnegative().default(10_000),
  /** Requests to one registration token in flight at once. */
  maxInFlightPerTarget: z.number().int().positive().default(2),
  /** A push waiting this long for a request slot is given up: its publish is answered wait. */
  maxQueueWaitSeconds: z.number().positive().default(5),
  /** Attempts per push on 5xx, network errors and timeouts (the first included). */
  maxAttempts: z.number().int().min(1).max(10).default(4),
  /**
   * Pushes for one account within this window after a push are merged (0: off). Longer than
   * WNS's: one wakeup makes the app fetch everything, and FCM throttles collapsible
   * messages per device.
   */
  coalesceMs: z.number().int().nonnegative().max(60_000).default(1000),
});

/** A validated FCM app, defaults applied. */
export type FcmAppConfig = z.infer<typeof FcmAppSchema>;
