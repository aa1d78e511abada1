/**
 * Sends one FCM HTTP v1 message per call: `POST {baseUrl}/v1/projects/{project}/messages:send`
 * with a data-only message for one registration token, and maps the answer to an
 * {@link FcmOutcome}. A 401 UNAUTHENTICATED (expired or revoked access token) is handled
 * here: one refresh, one retry. Retrying later, backoff, coalescing and throttling are the
 * shared delivery policy's business, not this class's.
 *
 * Never logs a registration token (it addresses a device), an access token or the data.
 *
 * @module
 */

import type { Logger } from "../../../domain/ports/logging.ts";
import {
  FCM_DATA_LIMIT_BYTES,
  type FcmAndroidPriority,
  type FcmData,
  fcmDataBytes,
  fcmTtl,
  isReservedFcmDataKey,
} from "../../../domain/payloads/fcm_payload.ts";
import { blamesToken, type FcmErrorCode, readFcmError } from "./fcm_error_body.ts";
import type { FcmOutcome } from "./fcm_outcome.ts";
import { type FcmAccessToken, FcmTokenError, type FcmTokenProvider } from "./fcm_token_source.ts";
import { type HttpAnswer, HttpTimeoutError, type HttpTransport } from "./http_transport.ts";
import { parseRetryAfter } from "../retry_after.ts";

/** The real FCM. */
export const FCM_BASE_URL = "https://fcm.googleapis.com";

/** Per-message settings; unset ones take the sender's defaults. */
export interface FcmMessageOptions {
  /** `android.priority`; default from the sender ("HIGH" unless configured). */
  readonly priority?: FcmAndroidPriority;
  /** `android.ttl` in seconds; null or unset with no default: FCM's (4 weeks). */
  readonly ttlSeconds?: number | null;
  /** `android.collapse_key`; null or unset: none. */
  readonly collapseKey?: string | null;
}

/** Options of {@link FcmSender}. */
export interface FcmSenderOptions {
  /** The service account's `project_id`. */
  readonly projectId: string;
  readonly tokens: FcmTokenProvider;
  readonly transport: HttpTransport;
  readonly logger: Logger;
  /** Default {@link FCM_BASE_URL}; the fake's URL in tests. */
  readonly baseUrl?: string;
  /** One request, answer included. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** Bytes of an answer read at most. Default 16 KiB (FCM's error bodies are < 2 KiB). */
  readonly maxResponseBytes?: number;
  /** Default `android.priority`: "HIGH", so a dozing phone wakes (see p2.md §5). */
  readonly priority?: FcmAndroidPriority;
  /** Default `android.ttl` in seconds; unset: FCM's default. */
  readonly ttlSeconds?: number;
  /** `android.restricted_package_name`, a safety check against a token of another app. */
  readonly restrictedPackageName?: string;
  /** Epoch milliseconds, for Retry-After dates. */
  readonly now?: () => number;
}

/** FCM registration tokens are opaque but printable; this refuses what cannot be one. */
const TOKEN_PATTERN = /^[\x21-\x7e]{1,4096}$/;

/** See the module comment. */
export class FcmSender {
  readonly #url: string;
  readonly #projectId: string;
  readonly #tokens: FcmTokenProvider;
  readonly #transport: HttpTransport;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #priority: FcmAndroidPriority;
  readonly #ttlSeconds: number | undefined;
  /** The last TTL written and its Duration string: nearly always the app's one TTL. */
  #lastTtl: { seconds: number; text: string } | null = null;
  readonly #restrictedPackageName: string | undefined;
  readonly #now: () => number;
  /** Configuration errors already logged at error level (one line per code until a success). */
  readonly #alerted = new Set<string>();

  constructor(options: FcmSenderOptions) {
    const base = (options.baseUrl ?? FCM_BASE_URL).replace(/\/+$/, "");
    this.#projectId = options.projectId;
    this.#url = `${base}/v1/projects/${encodeURIComponent(options.projectId)}/messages:send`;
    this.#tokens = options.tokens;
    this.#transport = options.transport;
    this.#logger = options.logger;
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#maxResponseBytes = options.maxResponseBytes ?? 16 * 1024;
    this.#priority = options.priority ?? "HIGH";
    this.#ttlSeconds = options.ttlSeconds;
    this.#restrictedPackageName = options.restrictedPackageName;
    this.#now = options.now ?? Date.now;
  }

  /** The send endpoint. */
  get url(): string {
    return this.#url;
  }

  /** The JSON body for one message (exposed for tests and the fake's checks). */
  messageBody(registrationToken: string, data: FcmData, options: FcmMessageOptions = {}): string {
    const android: Record<string, string> = { priority: options.priority ?? this.#priority };
    const ttl = options.ttlSeconds === undefined ? this.#ttlSeconds : options.ttlSeconds;
    if (ttl !== undefined && ttl !== null) android.ttl = this.#ttl(ttl);
    if (options.collapseKey) android.collapse_key = options.collapseKey;
    if (this.#restrictedPackageName) {
      android.restricted_package_name = this.#restrictedPackageName;
    }
    return JSON.stringify({ message: { token: registrationToken, data, android } });
  }

  /** `seconds` as FCM's Duration string, remembered for the next push. */
  #ttl(seconds: number): string {
    if (this.#lastTtl?.seconds !== seconds) this.#lastTtl = { seconds, text: fcmTtl(seconds) };
    return this.#lastTtl.text;
  }

  /** Sends one data message to one registration token. Never throws. */
  async send(
    registrationToken: string,
    data: FcmData,
    options: FcmMessageOptions = {},
  ): Promise<FcmOutcome> {
    try {
      return await this.#send(registrationToken, data, options);
    } catch (error) {
      // Only a bug gets here; keep the promise of never throwing.
      const detail = `unexpected error (${error instanceof Error ? error.name : typeof error})`;
      this.#logger.error("FCM send failed", { detail });
      return { kind: "retryable", status: null, reason: "network", code: null, retryAfterMs: null };
    }
  }

  async #send(
    registrationToken: string,
    data: FcmData,
    options: FcmMessageOptions,
  ): Promise<FcmOutcome> {
    const refusal = this.#check(registrationToken, data);
    if (refusal !== null) {
      return this.#final(null, "bad-message", null, `not sent: ${refusal}`);
    }
    const body = this.messageBody(registrationToken, data, options);
    let token = await this.#token();
    if (!("accessToken" in token)) return token;
    let answer = await this.#post(body, token);
    if (answer.ok && answer.value.status === 401 && !isThirdPartyAuth(answer.value)) {
      // The access token expired early or was revoked: refresh once, retry once.
      this.#tokens.invalidate(token);
      token = await this.#token();
      if (!("accessToken" in token)) return token;
      answer = await this.#post(body, token);
      if (answer.ok && answer.value.status === 401 && !isThirdPartyAuth(answer.value)) {
        this.#tokens.invalidate(token);
        return this.#final(
          401,
          "configuration",
          null,
          "FCM refused a freshly issued access token (401)",
        );
      }
    }
    if (!answer.ok) return answer.outcome;
    return this.#map(answer.value);
  }

  #check(registrationToken: string, data: FcmData): string | null {
    if (!TOKEN_PATTERN.test(registrationToken)) return "not a registration token";
    const keys = Object.keys(data);
    if (keys.length === 0) return "empty data";
    if (keys.some(isReservedFcmDataKey)) return "reserved data key";
    if (fcmDataBytes(data) > FCM_DATA_LIMIT_BYTES) return "data over 4096 bytes";
    return null;
  }

  async #token(): Promise<FcmAccessToken | FcmOutcome> {
    try {
      return await this.#tokens.get();
    } catch (error) {
      if (error instanceof FcmTokenError && !error.retryable) {
        // Already logged once by the token source.
        return {
          kind: "final",
          status: null,
          reason: "configuration",
          code: null,
          detail: error.message,
        };
      }
      return {
        kind: "retryable",
        status: null,
        reason: "token-unavailable",
        code: null,
        retryAfterMs: null,
      };
    }
  }

  async #post(
    body: string,
    token: FcmAccessToken,
  ): Promise<{ ok: true; value: HttpAnswer } | { ok: false; outcome: FcmOutcome }> {
    try {
      const value = await this.#transport({
        url: this.#url,
        headers: {
          "Authorization": `Bearer ${token.accessToken}`,
          "Content-Type": "application/json; charset=UTF-8",
        },
        body,
        timeoutMs: this.#timeoutMs,
        maxResponseBytes: this.#maxResponseBytes,
      });
      return { ok: true, value };
    } catch (error) {
      const timeout = error instanceof HttpTimeoutError;
      this.#logger.warn("FCM request failed", {
        reason: timeout ? "timeout" : "network",
        error: error instanceof Error ? error.name : typeof error,
      });
      return {
        ok: false,
        outcome: {
          kind: "retryable",
          status: null,
          reason: timeout ? "timeout" : "network",
          code: null,
          retryAfterMs: null,
        },
      };
    }
  }

  #map(answer: HttpAnswer): FcmOutcome {
    const status = answer.status;
    if (status >= 200 && status < 300) {
      this.#alerted.clear();
      // FCM's answer names the message (`projects/p/messages/0:...`); nothing reads it, so
      // it is not parsed: one JSON.parse less per push.
      return { kind: "delivered", status };
    }
    const retryAfterMs = parseRetryAfter(answer.headers.get("Retry-After"), this.#now());
    const reading = answer.truncated ? readFcmError("") : readFcmError(answer.body);
    const code = reading.fcmErrorCode;
    // UNSPECIFIED_ERROR says nothing: decide by status, as without an FcmError.
    const unknown = code === null || code === "UNSPECIFIED_ERROR";
    const fields = { status, code, rpcStatus: reading.status, message: reading.message };

    if (code === "UNREGISTERED") {
      this.#logger.info("FCM: the registration token is gone", fields);
      return { kind: "token-gone", status, code };
    }
    if (code === "INVALID_ARGUMENT" || (unknown && status === 400)) {
      // Our message is known-good, so an invalid argument about the token means the token.
      if (blamesToken(reading)) {
        this.#logger.info("FCM: the registration token is invalid", fields);
        return { kind: "token-gone", status, code: "INVALID_ARGUMENT" };
      }
      return this.#final(status, "bad-message", code, "FCM refused the message as invalid", fields);
    }
    if (code === "QUOTA_EXCEEDED" || status === 429) {
      this.#logger.warn("FCM throttles us", { ...fields, retryAfterMs });
      return { kind: "throttled", status, code, retryAfterMs };
    }
    if (code === "UNAVAILABLE" || code === "INTERNAL" || status >= 500 || status === 408) {
      this.#logger.warn("FCM is unavailable", { ...fields, retryAfterMs });
      return { kind: "retryable", status, reason: "server-error", code, retryAfterMs };
    }
    if (code === "SENDER_ID_MISMATCH") {
      return this.#final(
        status,
        "configuration",
        code,
        "the token belongs to another Firebase project than this service account",
        fields,
      );
    }
    if (code === "THIRD_PARTY_AUTH_ERROR") {
      return this.#final(
        status,
        "configuration",
        code,
        "FCM's APNs/web push credentials are invalid",
        fields,
      );
    }
    if (status === 403) {
      return this.#final(
        status,
        "configuration",
        code,
        "FCM refused the service account (API disabled, missing role or wrong project)",
        fields,
      );
    }
    if (status === 404) {
      return this.#final(status, "configuration", code, "FCM does not know the project", fields);
    }
    if (status >= 300 && status < 400) {
      return this.#final(status, "configuration", code, "FCM redirected (not followed)", fields);
    }
    return this.#final(status, "configuration", code, `FCM answered ${status}`, fields);
  }

  #final(
    status: number | null,
    reason: "configuration" | "bad-message",
    code: FcmErrorCode | null,
    detail: string,
    fields: Record<string, string | number | null> = {},
  ): FcmOutcome {
    const key = `${reason}:${status}:${code}`;
    if (!this.#alerted.has(key)) {
      this.#alerted.add(key);
      this.#logger.error(`FCM send failed: ${detail}`, {
        project: this.#projectId,
        ...fields,
        status,
        code,
      });
    } else {
      this.#logger.debug(`FCM send failed: ${detail}`, { status, code });
    }
    return { kind: "final", status, reason, code, detail };
  }
}

function isThirdPartyAuth(answer: HttpAnswer): boolean {
  return readFcmError(answer.body).fcmErrorCode === "THIRD_PARTY_AUTH_ERROR";
}
