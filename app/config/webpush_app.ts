/**
 * The configuration of one Web Push app (an entry of `apps` with `"service": "webpush"`):
 * the VAPID identity the server signs with, what each push asks of the push service (TTL,
 * urgency, topic), the endpoint policy's switch for tests (private addresses), and the
 * delivery policy's bounds, named like the `wns` section's.
 *
 * The VAPID key pair is given here (`vapid.keys`, or a JSON file `vapid.keysFile` in
 * web-push's `generate-vapid-keys --json` shape) or, when neither is, generated once and
 * kept in storage, shared by every instance (see `app/wiring/webpush_wiring.ts`).
 *
 * @module
 */

import { z } from "zod";
import { vapidSubjectSchema } from "../../adapters/push/webpush/vapid_authorizer.ts";
import { vapidKeysSchema } from "../../adapters/push/webpush/vapid_keys.ts";

/** Push services keep a message at most this long anyway (FCM's four weeks). */
export const WEBPUSH_MAX_TTL_SECONDS = 2_419_200;

/** The VAPID part: the contact (`sub`) and, optionally, the key pair. */
const VapidSchema = z.object({
  /** The JWT's `sub`: `mailto:` address or `https:` URL (Apple's push service requires it). */
  subject: vapidSubjectSchema,
  /** `{publicKey, privateKey}`, base64url, as web-push's `generateVAPIDKeys()` makes them. */
  keys: vapidKeysSchema.optional(),
  /** A JSON file holding the same object (kept out of the configuration file). */
  keysFile: z.string().min(1).optional(),
}).strict().refine((vapid) => vapid.keys === undefined || vapid.keysFile === undefined, {
  message: "give vapid.keys or vapid.keysFile, not both",
  path: ["keysFile"],
});

/** One Web Push app; see the module comment. */
export const WebPushAppSchema = z.object({
  service: z.literal("webpush"),
  /** The service's app for registrations that name none (contract §1, §4). */
  default: z.boolean().default(false),
  vapid: VapidSchema,
  /**
   * The longest the push service may keep a wakeup for an offline device (the RFC 8030
   * `TTL` header is the smaller of this and what the use case asks: a day for pushes, 0 for
   * test pushes).
   */
  ttlSeconds: z.number().int().nonnegative().max(WEBPUSH_MAX_TTL_SECONDS).default(86_400),
  /** RFC 8030 `Urgency`: `normal` wakes a phone on battery (chat), `high` even on low battery. */
  urgency: z.enum(["very-low", "low", "normal", "high"]).default("normal"),
  /** Send a `Topic` per account, so undelivered wakeups for one account collapse into one. */
  topic: z.boolean().default(true),
  /**
   * Allow endpoints on loopback, private, link-local, ULA and CGNAT addresses. Off: the
   * server must not become a proxy into the operator's network. Tests turn it on.
   */
  allowPrivateAddresses: z.boolean().default(false),
  /** Timeout of one request, DNS and connecting included. */
  requestTimeoutSeconds: z.number().positive().max(120).default(10),
  /** Bytes of an answer's body read at most; the rest is cut off with the connection. */
  maxResponseBytes: z.number().int().min(256).max(1024 * 1024).default(8 * 1024),
  /** Requests in flight at once for this app. */
  maxInFlight: z.number().int().positive().default(64),
  /** Pushes waiting behind them; beyond, a publish is answered `wait` at once. */
  maxQueued: z.number().int().nonnegative().default(10_000),
  /** Requests to one push service host at once (also its kept-alive connections). */
  maxInFlightPerHost: z.number().int().positive().default(16),
  /** Requests to one subscription at once. */
  maxInFlightPerEndpoint: z.number().int().positive().default(2),
  /** A push that waited this long for a slot is given up (`wait`). */
  maxQueueWaitSeconds: z.number().positive().default(5),
  /** Attempts per push on 5xx, network errors and timeouts. */
  maxAttempts: z.number().int().min(1).max(10).default(4),
  /**
   * Deno Workers that encrypt (RFC 8291's P-256 work, most of a push's CPU), beside the
   * thread that sends; 0: encrypt in that thread. See BENCHMARKS.md for when it pays.
   */
  encryptionWorkers: z.number().int().min(0).max(64).default(0),
  /**
   * Whose P-256 makes each message's ephemeral key pair and ECDH: Deno's WebCrypto, or the
   * system's OpenSSL 3 libcrypto through FFI (opt-in: about 4× less CPU here, needs
   * `--allow-ffi` and libcrypto.so.3; the app does not start without them).
   */
  ecdh: z.enum(["webcrypto", "openssl"]).default("webcrypto"),
  /** Pushes for one account within this window after a push merge into one; 0: off. */
  coalesceMs: z.number().int().nonnegative().max(10_000).default(250),
}).strict();

/** A parsed Web Push app entry. */
export type WebPushAppConfig = z.infer<typeof WebPushAppSchema>;
