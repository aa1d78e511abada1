/**
 * Sends raw notifications to WNS over HTTP: one POST per notification, one token refresh and
 * one retry on a 401, every answer mapped to a {@link WnsOutcome}. Retrying later, queuing
 * and backing off are the caller's business.
 *
 * @module
 */

import { parseRetryAfter } from "../retry_after.ts";
import type { LogFields, Logger } from "../../../domain/ports/logging.ts";
import type { RawNotificationOptions, WnsOutcome, WnsSender } from "./wns_sender.ts";
import type { AccessToken } from "../../../domain/ports/storage.ts";
import { WNS_RAW_LIMIT_BYTES } from "../../../domain/payloads/wns_payload.ts";
import { describeFetchError, WnsTokenError } from "./wns_token_source.ts";

const DEFAULT_TIMEOUT_MS = 10_000;

/** Where the sender gets its access token; {@link WnsTokenSource} is the real one. */
export interface WnsTokenProvider {
  /** A valid token; throws (preferably a {@link WnsTokenError}) when none can be had. */
  get(): Promise<AccessToken>;
  /** Forgets a token WNS refused, so that the next {@link get} fetches a new one. */
  invalidate(token: AccessToken): void;
}

/** Options of {@link HttpWnsSender}. */
export interface HttpWnsSenderOptions {
  readonly tokens: WnsTokenProvider;
  readonly logger: Logger;
  /** Injectable for tests; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
  /** Timeout of one POST, answer included; defaults to 10 s. */
  readonly requestTimeoutMs?: number;
  /**
   * The fetch HTTP client to send with (`Deno.createHttpClient`); the caller owns and
   * closes it. Without one, fetch's default client is used. Not used with `post`.
   */
  readonly client?: Deno.HttpClient;
  /**
   * Sends the POSTs instead of fetch: `Http1Client.post` from `http1_client.ts` (what the
   * server uses, at a fraction of fetch's CPU per push). The caller owns and closes it.
   */
  readonly post?: WnsPost;
}

/** What the sender reads of an answer's headers. */
export interface WnsAnswerHeaders {
  get(name: string): string | null;
}

/**
 * One POST: resolves with the answer's status and headers once its body is read; rejects
 * on a network failure, and with a `DOMException` named `TimeoutError` after `timeoutMs`.
 */
export type WnsPost = (
  url: string,
  headers: Readonly<Record<string, string>>,
  body: Uint8Array<ArrayBuffer>,
  timeoutMs: number,
) => Promise<{ readonly status: number; readonly headers: WnsAnswerHeaders }>;

/** One POST's result: an answer's status and headers, or why there was none. */
type Attempt =
  | { readonly ok: true; readonly status: number; readonly headers: WnsAnswerHeaders }
  | { readonly ok: false; readonly detail: string };

/** {@link WnsSender} talking to the real WNS (or to the fake, in tests). */
export class HttpWnsSender implements WnsSender {
  readonly #tokens: WnsTokenProvider;
  readonly #logger: Logger;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #encoder = new TextEncoder();
  readonly #transport: WnsPost;

  constructor(options: HttpWnsSenderOptions) {
    this.#tokens = options.tokens;
    this.#logger = options.logger;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    const client = options.client;
    this.#transport = options.post ?? (async (url, headers, body, timeoutMs) => {
      const response = await this.#fetch(url, {
        method: "POST",
        headers,
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(timeoutMs),
        client,
      });
      // WNS answers with an empty body; reading it to the end lets the connection be reused.
      await response.arrayBuffer();
      return { status: response.status, headers: response.headers };
    });
  }

  /** Sends one raw notification. Never throws: every failure is a `failed` outcome. */
  async sendRaw(
    channelUri: string,
    payload: string,
    options: RawNotificationOptions,
  ): Promise<WnsOutcome> {
    try {
      return await this.#send(channelUri, payload, options);
    } catch (error) {
      // Only a bug (or a misbehaving token provider) gets here; keep the promise of the port.
      const detail = `unexpected error: ${describeFetchError(error, this.#timeoutMs)}`;
      this.#logger.error("WNS send failed", { host: hostOf(channelUri), detail });
      return { kind: "failed", retryable: true, status: null, detail };
    }
  }

  async #send(
    channelUri: string,
    payload: string,
    options: RawNotificationOptions,
  ): Promise<WnsOutcome> {
    const host = hostOf(channelUri);
    if (host === null) {
      return this.#refuse(channelUri, "channel URI is not an http(s) URL");
    }
    const body = this.#encoder.encode(payload);
    if (body.byteLength === 0) return this.#refuse(channelUri, "payload is empty");
    if (body.byteLength > WNS_RAW_LIMIT_BYTES) {
      return this.#refuse(
        channelUri,
        `payload is ${body.byteLength} bytes, WNS takes at most ${WNS_RAW_LIMIT_BYTES}`,
      );
    }

    let token = await this.#token();
    if (!("accessToken" in token)) return this.#fail(host, token);
    let attempt = await this.#post(channelUri, body, options, token);
    if (attempt.ok && attempt.status === 401) {
      // Tokens live about a day: expect this once a day. Refresh once, retry once.
      this.#tokens.invalidate(token);
      token = await this.#token();
      if (!("accessToken" in token)) return this.#fail(host, token);
      attempt = await this.#post(channelUri, body, options, token);
      if (attempt.ok && attempt.status === 401) {
        this.#tokens.invalidate(token);
        return this.#fail(host, {
          kind: "failed",
          // The refreshed token refused too: credentials or app identity are wrong.
          retryable: false,
          status: 401,
          detail: "WNS refused the refreshed access token too (401)",
        }, attempt.headers);
      }
    }
    if (!attempt.ok) {
      return this.#fail(host, {
        kind: "failed",
        retryable: true,
        status: null,
        detail: attempt.detail,
      });
    }
    return this.#map(host, attempt.status, attempt.headers);
  }

  /** The token, or the `failed` outcome saying why there is none. */
  async #token(): Promise<AccessToken | Extract<WnsOutcome, { kind: "failed" }>> {
    try {
      return await this.#tokens.get();
    } catch (error) {
      if (error instanceof WnsTokenError) {
        return { kind: "failed", retryable: error.retryable, status: null, detail: error.message };
      }
      const detail = `WNS token unavailable: ${describeFetchError(error, this.#timeoutMs)}`;
      return { kind: "failed", retryable: true, status: null, detail };
    }
  }

  async #post(
    channelUri: string,
    body: Uint8Array<ArrayBuffer>,
    options: RawNotificationOptions,
    token: AccessToken,
  ): Promise<Attempt> {
    // Fresh headers per request: shared defaults are how other senders sent Authorization twice.
    const headers: Record<string, string> = {
      "Authorization": `Bearer ${token.accessToken}`,
      "X-WNS-Type": "wns/raw",
      "Content-Type": "application/octet-stream",
      "X-WNS-RequestForStatus": "true",
    };
    if (options.cache) {
      headers["X-WNS-Cache-Policy"] = "cache";
      // No TTL header for 0 or less: let WNS apply its default instead of an instant expiry.
      const ttl = Math.floor(options.ttlSeconds);
      if (ttl > 0) headers["X-WNS-TTL"] = String(ttl);
    } else {
      headers["X-WNS-Cache-Policy"] = "no-cache";
    }
    try {
      // The URI goes out as the device gave it: WNS answers 404 to a re-encoded token.
      // A Uint8Array body gets a Content-Length; WNS does not take chunked bodies.
      const answer = await this.#transport(channelUri, headers, body, this.#timeoutMs);
      return { ok: true, status: answer.status, headers: answer.headers };
    } catch (error) {
      return {
        ok: false,
        detail: `WNS request failed: ${describeFetchError(error, this.#timeoutMs)}`,
      };
    }
  }

  #map(host: string, status: number, headers: WnsAnswerHeaders): WnsOutcome {
    const retryAfterMs = parseRetryAfter(headers.get("Retry-After"), Date.now()) ?? undefined;
    if (status === 200) {
      // X-WNS-NotificationStatus is the legacy duplicate; absence of both is not throttling.
      const wnsStatus = headers.get("X-WNS-Status") ?? headers.get("X-WNS-NotificationStatus");
      const deviceConnection = headers.get("X-WNS-DeviceConnectionStatus");
      if (wnsStatus?.toLowerCase() === "channelthrottled") {
        // Accepted but dropped: this channel gets too much from us.
        this.#logger.warn("WNS throttles a channel", { host, deviceConnection });
        return { kind: "throttled", status, detail: "WNS: channelthrottled", retryAfterMs };
      }
      this.#logger.debug("WNS accepted a raw notification", { host, wnsStatus, deviceConnection });
      return { kind: "delivered", status, wnsStatus };
    }
    if (status === 404 || status === 410) {
      this.#logger.info("WNS channel is gone", { host, status, ...wnsDiagnostics(headers) });
      return { kind: "channel-gone", status };
    }
    const description = headers.get("X-WNS-Error-Description");
    const detail = `WNS answered ${status}${statusMeaning(status)}` +
      (description ? `: ${description}` : "");
    if (status === 406 || status === 429) {
      this.#logger.warn("WNS throttles us", { host, status, ...wnsDiagnostics(headers) });
      return { kind: "throttled", status, detail, retryAfterMs };
    }
    if (status === 403) {
      // Every push will fail the same way until the configuration is fixed.
      this.#logger.error(
        "WNS refuses our credentials for this app (403): check wns.packetId and wns.clientSecret",
        { host, ...wnsDiagnostics(headers) },
      );
    }
    return this.#fail(
      host,
      { kind: "failed", retryable: status >= 500, status, detail, retryAfterMs },
      headers,
    );
  }

  #refuse(channelUri: string, reason: string): WnsOutcome {
    return this.#fail(hostOf(channelUri), {
      kind: "failed",
      retryable: false,
      status: null,
      detail: `not sent: ${reason}`,
    });
  }

  #fail(
    host: string | null,
    outcome: Extract<WnsOutcome, { kind: "failed" }>,
    headers?: WnsAnswerHeaders,
  ): WnsOutcome {
    const fields: LogFields = {
      host,
      status: outcome.status,
      retryable: outcome.retryable,
      detail: outcome.detail,
      ...(headers ? wnsDiagnostics(headers) : {}),
    };
    if (outcome.retryable) this.#logger.warn("WNS send failed", fields);
    else this.#logger.error("WNS send failed", fields);
    return outcome;
  }
}

/** Microsoft asks for these when something goes wrong. None of them holds a credential. */
function wnsDiagnostics(headers: WnsAnswerHeaders): LogFields {
  return {
    errorDescription: headers.get("X-WNS-Error-Description"),
    msgId: headers.get("X-WNS-Msg-ID"),
    debugTrace: headers.get("X-WNS-Debug-Trace"),
    msCv: headers.get("MS-CV"),
    wnsStatus: headers.get("X-WNS-Status"),
    retryAfter: headers.get("Retry-After"),
  };
}

function statusMeaning(status: number): string {
  switch (status) {
    case 400:
      return " (bad request headers)";
    case 403:
      return " (token not valid for this app)";
    case 405:
      return " (method not allowed)";
    case 406:
      return " (app throttled)";
    case 413:
      return " (payload too large)";
    case 429:
      return " (rate limited)";
    case 500:
      return " (WNS internal error)";
    case 503:
      return " (WNS unavailable)";
    default:
      return status >= 300 && status < 400 ? " (redirects are not followed)" : "";
  }
}

/** The channel's host for logs: the path and query hold the channel's credential. */
function hostOf(channelUri: string): string | null {
  // Every push asks: a plain ASCII host is read without the cost of a URL object.
  const simple = SIMPLE_ORIGIN.exec(channelUri);
  if (simple) {
    const host = simple[2].toLowerCase();
    if (simple[3] === undefined) return host;
    const port = Number(simple[3]);
    if (port > 65535) return null;
    const defaultPort = simple[1].length === 5 ? 443 : 80;
    return port === defaultPort ? host : `${host}:${port}`;
  }
  if (!URL.canParse(channelUri)) return null;
  const url = new URL(channelUri);
  return url.protocol === "https:" || url.protocol === "http:" ? url.host : null;
}

/** `http(s)://host[:port]` followed by a path, a query or nothing, host in plain ASCII. */
const SIMPLE_ORIGIN = /^(https?):\/\/([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)(?::(\d{1,5}))?(?=[/?]|$)/i;
