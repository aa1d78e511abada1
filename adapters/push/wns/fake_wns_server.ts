/**
 * A fake WNS on 127.0.0.1 for tests, the demo and benchmarks: the classic token endpoint and
 * raw-notification channels, checked in WNS's order (method, authorization, channel,
 * headers, size), with a record of every request (or, for long benchmark runs, counters
 * only: see {@link FakeWnsOptions.record}). Quiet: it never logs.
 *
 * Channels have WNS's states (protocol notes, wns.md): valid; unknown (404); expired (410);
 * of another app (403: the token is not for the app that owns the channel); and offline,
 * where a `no-cache` (raw's default) notification is answered 200 `dropped` and lost, and a
 * `cache` one is kept, the latest only, until its TTL runs out or the device comes back.
 *
 * Deno.serve merges repeated request headers into one comma-separated value; bearer tokens
 * cannot contain commas, so {@link FakeWnsRequest.authorizationHeaders} is still an exact
 * count of Authorization headers.
 *
 * @module
 */

import { abortableSleep, closeOnce, enqueue } from "../fake_service_kit.ts";
import { WNS_RAW_LIMIT_BYTES } from "../../../domain/payloads/wns_payload.ts";

const TOKEN_PATH = "/accesstoken.srf";
const CHANNEL_PREFIX = "/channel/";

/** Options of {@link startFakeWns}. */
export interface FakeWnsOptions {
  /** Expected `client_id`; defaults to a made-up package SID. */
  readonly packetId?: string;
  /** Expected `client_secret`; defaults to "fake-wns-secret". */
  readonly clientSecret?: string;
  /** `expires_in` of issued tokens: seconds, as a number or (like Entra) a string. */
  readonly tokenExpiresIn?: number | string;
  /** `token_type` of issued tokens; defaults to "bearer" (Entra says "Bearer"). */
  readonly tokenType?: string;
  /** Also serve the Microsoft Entra token endpoint for this tenant and app id. */
  readonly entra?: { readonly tenantId: string; readonly appId: string };
  /**
   * Keep every request and notification in {@link FakeWns.requests}, {@link FakeWns.received}
   * and {@link FakeWns.tokenRequests}. Default true. False keeps only
   * {@link FakeWns.counters}, so a benchmark sending millions of pushes does not grow the
   * fake's memory; {@link FakeWns.waitForPushes} then resolves with an empty list.
   */
  readonly record?: boolean;
  /**
   * Treat every path under `/channel/` as a valid channel, registered or not: for benchmarks
   * that make their channel URIs in another process. Default false.
   */
  readonly acceptAnyChannel?: boolean;
}

/** What a fake WNS counted, recording or not. */
export interface FakeWnsCounters {
  /** Every request, token requests included. */
  readonly requests: number;
  /** Notifications that reached their device (answered 200 `received`, online). */
  readonly pushes: number;
  /** Requests to a token endpoint. */
  readonly tokenRequests: number;
}

/** One request the fake received. */
export interface FakeWnsRequest {
  readonly method: string;
  /** Path and query exactly as received. */
  readonly path: string;
  /** Headers as received, names lower-cased; repeated headers arrive comma-joined. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** How many Authorization headers the request carried. */
  readonly authorizationHeaders: number;
  /** The body as UTF-8 text. */
  readonly body: string;
  /** Body length in bytes. */
  readonly bodyBytes: number;
  /** The registered channel URI the request matched, or null. */
  readonly channelUri: string | null;
  /** The status the fake answered. */
  readonly status: number;
}

/**
 * A raw notification that reached its device: answered 200 `received` while the device was
 * online, or cached while it was offline and handed over when it came back.
 */
export interface FakeWnsPush {
  readonly channelUri: string;
  readonly body: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

/** A running fake WNS; see {@link startFakeWns}. */
export interface FakeWns {
  /** Base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The classic token endpoint. */
  readonly tokenUrl: string;
  /** The `client_id` the token endpoint expects. */
  readonly packetId: string;
  /** The `client_secret` the token endpoint expects. */
  readonly clientSecret: string;
  /** Registers a valid channel and returns its URI (`.../channel/<id>?token=<random>`). */
  channelUri(name?: string): string;
  /** Accepted notifications, in order (empty with `record: false`). */
  readonly received: readonly FakeWnsPush[];
  /** How many requests, pushes and token requests it had; kept with `record: false` too. */
  readonly counters: FakeWnsCounters;
  /** Every request, token requests included, in order. */
  readonly requests: readonly FakeWnsRequest[];
  /** The requests to the token endpoint, in order. */
  readonly tokenRequests: readonly FakeWnsRequest[];
  /** Every access token the token endpoint handed out. */
  readonly issuedTokens: readonly string[];
  /** Makes every token issued so far invalid (WNS then answers 401). */
  expireTokens(): void;
  /** Marks a channel expired: WNS then answers 410. */
  expireChannel(channelUri: string): void;
  /**
   * Makes a channel belong to another app: WNS then answers 403 (our token is for our app).
   */
  giveChannelToOtherApp(channelUri: string): void;
  /**
   * Takes the channel's device offline (`true`) or brings it back (`false`). Offline, a
   * `no-cache` notification is answered 200 `dropped` and lost; a `cache` one is answered 200
   * `received` (device `disconnected`) and kept, replacing any earlier one, for its
   * X-WNS-TTL; back online, a kept one still alive reaches the device (and
   * {@link FakeWns.received}).
   */
  setDeviceOffline(channelUri: string, offline: boolean): void;
  /** Notifications answered `dropped` (device offline, not cached), in order. */
  readonly dropped: readonly FakeWnsPush[];
  /** Answers the next POST to the channel with `status` (and `headers`), before any check. */
  failNext(channelUri: string, status: number, headers?: Record<string, string>): void;
  /** Answers the next token request with `status` and `body`. */
  failNextToken(status: number, body?: string): void;
  /** Holds the next POST to the channel for `delayMs` before handling it (timeouts). */
  delayNext(channelUri: string, delayMs: number): void;
  /** Breaks the next POST to the channel: the connection is cut while answering. */
  resetNext(channelUri: string): void;
  /** Answers every channel POST with `status` (and `headers`) for `durationMs`: an outage. */
  outage(status: number, durationMs: number, headers?: Record<string, string>): void;
  /** The Entra token endpoint, when `entra` was given. */
  readonly entraTokenUrl: string | null;
  /** Resolves with the accepted notifications once there are `n`; rejects after the timeout. */
  waitForPushes(n: number, timeoutMs: number): Promise<readonly FakeWnsPush[]>;
  /** Stops the server. */
  close(): Promise<void>;
  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

type ChannelState = "valid" | "expired" | "other-app";

/** A notification kept for an offline device: the latest only, until `until`. */
interface Cached {
  readonly push: FakeWnsPush;
  readonly until: number;
}

interface Channel {
  readonly uri: string;
  state: ChannelState;
  offline: boolean;
  cached: Cached | null;
}

interface Injected {
  readonly status: number;
  readonly headers: Record<string, string>;
}

interface Waiter {
  readonly n: number;
  readonly resolve: (pushes: readonly FakeWnsPush[]) => void;
}

/** Starts a fake WNS on 127.0.0.1 with a free port; rejects if it cannot listen. */
export function startFakeWns(options: FakeWnsOptions = {}): Promise<FakeWns> {
  // Deno.serve listens synchronously; the promise keeps room for async setup later.
  try {
    return Promise.resolve(createFakeWns(options));
  } catch (error) {
    return Promise.reject(error);
  }
}

function createFakeWns(options: FakeWnsOptions): FakeWns {
  const packetId = options.packetId ?? "ms-app://s-1-15-2-0000000000-0000000000-0000000000";
  const clientSecret = options.clientSecret ?? "fake-wns-secret";
  const expiresIn = options.tokenExpiresIn ?? 86400;
  const tokenType = options.tokenType ?? "bearer";

  /** Channel path+query -> state; the path and query are the channel's identity. */
  const channels = new Map<string, Channel>();
  const dropped: FakeWnsPush[] = [];
  /** Access token -> epoch ms at which it stops working. */
  const tokens = new Map<string, number>();
  const issuedTokens: string[] = [];
  const injected = new Map<string, Injected[]>();
  const injectedToken: Injected[] = [];
  const tokenBodies: string[] = [];
  const delays = new Map<string, number[]>();
  const resets = new Map<string, number>();
  let outage: { status: number; until: number; headers: Record<string, string> } | null = null;
  const entraPath = options.entra
    ? `/${encodeURIComponent(options.entra.tenantId)}/oauth2/v2.0/token`
    : null;
  const recording = options.record ?? true;
  const counters = { requests: 0, pushes: 0, tokenRequests: 0 };
  const received: FakeWnsPush[] = [];
  const requests: FakeWnsRequest[] = [];
  const tokenRequests: FakeWnsRequest[] = [];
  let waiters: Waiter[] = [];
  const closing = new AbortController();
  let nextChannel = 0;

  const handle = async (request: Request): Promise<Response> => {
    const path = rawPath(request.url);
    const bytes = new Uint8Array(await request.arrayBuffer());
    counters.requests++;
    const headers = recording ? [...request.headers].map(([k, v]) => [k, v] as const) : [];
    const record = (status: number, channelUri: string | null) => {
      if (!recording) return null;
      const entry: FakeWnsRequest = {
        method: request.method,
        path,
        headers,
        authorizationHeaders: countAuthorization(request.headers),
        body: new TextDecoder().decode(bytes),
        bodyBytes: bytes.byteLength,
        channelUri,
        status,
      };
      requests.push(entry);
      return entry;
    };

    const tokenFlow = path === TOKEN_PATH || path.startsWith(`${TOKEN_PATH}?`)
      ? "classic"
      : entraPath !== null && path === entraPath
      ? "entra"
      : null;
    if (tokenFlow !== null) {
      const response = answerToken(request.method, request.headers, bytes, tokenFlow);
      counters.tokenRequests++;
      const entry = record(response.status, null);
      if (entry) tokenRequests.push(entry);
      return response;
    }

    const channel = channels.get(path) ??
      (options.acceptAnyChannel && path.startsWith(CHANNEL_PREFIX)
        ? { uri: `${url}${path}`, state: "valid" as const, offline: false, cached: null }
        : undefined);
    const delay = channel ? delays.get(path)?.shift() : undefined;
    if (delay !== undefined) await abortableSleep(delay, closing.signal);
    if (channel && (resets.get(path) ?? 0) > 0) {
      resets.set(path, resets.get(path)! - 1);
      record(0, channel.uri);
      // Headers go out, then the body errors: the client sees the connection cut.
      const body = new ReadableStream({ pull: (c) => c.error(new Error("reset")) });
      return new Response(body, { status: 200 });
    }
    if (outage !== null && Date.now() >= outage.until) outage = null;
    const injection = channel
      ? injected.get(path)?.shift() ?? (outage ? outage : undefined)
      : undefined;
    if (injection) {
      record(injection.status, channel!.uri);
      return wnsAnswer(injection.status, injection.headers);
    }
    // WNS's order: method, authorization, channel, headers, size.
    const check = (): [number, string | null] => {
      if (request.method !== "POST") return [405, "Only POST is allowed"];
      const auth = request.headers.get("authorization");
      if (countAuthorization(request.headers) !== 1 || !auth?.startsWith("Bearer ")) {
        return [401, "Missing or malformed Authorization header"];
      }
      const expiresAt = tokens.get(auth.slice("Bearer ".length));
      if (expiresAt === undefined || Date.now() >= expiresAt) {
        return [401, "Token is invalid or expired"];
      }
      if (channel?.state === "other-app") return [403, "Token not valid for this channel"];
      if (!channel) return [404, "Channel not found"];
      if (channel.state === "expired") return [410, "Channel expired"];
      if (request.headers.get("x-wns-type") !== "wns/raw") return [400, "Invalid X-WNS-Type"];
      if (request.headers.get("content-type") !== "application/octet-stream") {
        return [400, "Raw notifications need Content-Type application/octet-stream"];
      }
      const cachePolicy = request.headers.get("x-wns-cache-policy");
      if (cachePolicy !== null && cachePolicy !== "cache" && cachePolicy !== "no-cache") {
        return [400, "Invalid X-WNS-Cache-Policy"];
      }
      const ttl = request.headers.get("x-wns-ttl");
      if (ttl !== null && !/^[0-9]{1,10}$/.test(ttl)) return [400, "Invalid X-WNS-TTL"];
      const priority = request.headers.get("x-wns-priority");
      if (priority !== null && !/^[1-4]$/.test(priority)) return [400, "Invalid X-WNS-PRIORITY"];
      if (bytes.byteLength === 0 || bytes.byteLength > WNS_RAW_LIMIT_BYTES) {
        return [413, "Payload size not accepted"];
      }
      return [200, null];
    };
    const [status, description] = check();
    record(status, channel?.uri ?? null);
    if (status !== 200) {
      return wnsAnswer(status, description ? { "X-WNS-Error-Description": description } : {});
    }
    const push = { channelUri: channel!.uri, body: new TextDecoder().decode(bytes), headers };
    if (channel!.offline) {
      // Raw notifications default to no-cache: dropped while the device is away.
      if (request.headers.get("x-wns-cache-policy") !== "cache") {
        if (recording) dropped.push(push);
        return offlineAnswer("dropped");
      }
      const ttl = request.headers.get("x-wns-ttl");
      const seconds = ttl === null ? DEFAULT_CACHE_TTL_SECONDS : Number(ttl);
      channel!.cached = { push, until: Date.now() + seconds * 1000 };
      return offlineAnswer("received");
    }
    deliver(push);
    return receivedAnswer();
  };

  /** A notification reaches its device. */
  const deliver = (push: FakeWnsPush) => {
    counters.pushes++;
    if (recording) received.push(push);
    if (waiters.length > 0) {
      const ready = waiters.filter((w) => counters.pushes >= w.n);
      waiters = waiters.filter((w) => counters.pushes < w.n);
      for (const waiter of ready) waiter.resolve(received.slice());
    }
  };

  const answerToken = (
    method: string,
    headers: Headers,
    bytes: Uint8Array,
    flow: "classic" | "entra",
  ): Response => {
    if (method !== "POST") return new Response(null, { status: 405 });
    const injection = injectedToken.shift();
    if (injection) {
      return new Response(tokenBodies.shift() ?? "", {
        status: injection.status,
        headers: { "Content-Type": "application/json" },
      });
    }
    // An OAuth token request is a form; a JSON or bare body is refused like a bad request.
    const contentType = (headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (contentType !== "application/x-www-form-urlencoded") {
      return Response.json({ error: "invalid_request" }, { status: 400 });
    }
    const form = new URLSearchParams(new TextDecoder().decode(bytes));
    let error: string | null = null;
    const [scope, clientId] = flow === "classic"
      ? ["notify.windows.com", packetId]
      : ["https://wns.windows.com/.default", options.entra!.appId];
    if (form.get("grant_type") !== "client_credentials") error = "unsupported_grant_type";
    else if (form.get("scope") !== scope) error = "invalid_scope";
    else if (form.get("client_id") !== clientId || form.get("client_secret") !== clientSecret) {
      error = "invalid_client";
    }
    if (error !== null) return Response.json({ error }, { status: 400 });
    const accessToken = randomToken(48);
    tokens.set(accessToken, Date.now() + Number(expiresIn) * 1000);
    issuedTokens.push(accessToken);
    // Entra says "Bearer" and sends expires_in as a string.
    return Response.json({
      access_token: accessToken,
      token_type: flow === "entra" ? "Bearer" : tokenType,
      expires_in: flow === "entra" ? String(expiresIn) : expiresIn,
    });
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    // Silence the default error page logging; a handler error is a fake bug, answer 500.
    onError: () => new Response(null, { status: 500 }),
  }, handle);
  const url = `http://127.0.0.1:${server.addr.port}`;

  const channelPath = (channelUri: string): string => {
    if (!channelUri.startsWith(url)) {
      throw new Error(`not a channel of this fake WNS: ${channelUri}`);
    }
    const path = channelUri.slice(url.length);
    if (!channels.has(path)) throw new Error(`unknown channel: ${channelUri}`);
    return path;
  };
  const close = closeOnce(server, closing);

  return {
    url,
    tokenUrl: `${url}${TOKEN_PATH}`,
    packetId,
    clientSecret,
    channelUri(name?: string): string {
      const id = encodeURIComponent(name ?? `c${++nextChannel}-${randomToken(6)}`);
      const path = `${CHANNEL_PREFIX}${id}?token=${wnsStyleToken()}`;
      const uri = `${url}${path}`;
      channels.set(path, { uri, state: "valid", offline: false, cached: null });
      return uri;
    },
    received,
    counters,
    requests,
    tokenRequests,
    issuedTokens,
    expireTokens(): void {
      for (const token of tokens.keys()) tokens.set(token, 0);
    },
    expireChannel(channelUri: string): void {
      channels.get(channelPath(channelUri))!.state = "expired";
    },
    giveChannelToOtherApp(channelUri: string): void {
      channels.get(channelPath(channelUri))!.state = "other-app";
    },
    setDeviceOffline(channelUri: string, offline: boolean): void {
      const channel = channels.get(channelPath(channelUri))!;
      channel.offline = offline;
      if (!offline && channel.cached !== null) {
        const { push, until } = channel.cached;
        channel.cached = null;
        if (Date.now() < until) deliver(push);
      }
    },
    dropped,
    failNext(channelUri: string, status: number, headers: Record<string, string> = {}): void {
      enqueue(injected, channelPath(channelUri), { status, headers });
    },
    failNextToken(status: number, body = ""): void {
      injectedToken.push({ status, headers: {} });
      tokenBodies.push(body);
    },
    delayNext(channelUri: string, delayMs: number): void {
      enqueue(delays, channelPath(channelUri), delayMs);
    },
    resetNext(channelUri: string): void {
      const path = channelPath(channelUri);
      resets.set(path, (resets.get(path) ?? 0) + 1);
    },
    outage(status: number, durationMs: number, headers: Record<string, string> = {}): void {
      outage = { status, until: Date.now() + durationMs, headers };
    },
    entraTokenUrl: entraPath === null ? null : `${url}${entraPath}`,
    waitForPushes(n: number, timeoutMs: number): Promise<readonly FakeWnsPush[]> {
      if (counters.pushes >= n) return Promise.resolve(received.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          reject(
            new Error(
              `fake WNS: expected ${n} notification(s) within ${timeoutMs} ms, got ${counters.pushes}`,
            ),
          );
        }, timeoutMs);
        const waiter: Waiter = {
          n,
          resolve: (pushes) => {
            clearTimeout(timer);
            resolve(pushes);
          },
        };
        waiters.push(waiter);
      });
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** WNS answers have empty bodies; everything is in headers. */
function wnsAnswer(status: number, headers: Record<string, string>): Response {
  const all = new Headers(headers);
  if (!all.has("X-WNS-Msg-ID")) all.set("X-WNS-Msg-ID", nextMsgId());
  if (status !== 200 && !all.has("X-WNS-Debug-Trace")) all.set("X-WNS-Debug-Trace", "FAKEWNS");
  return new Response(null, { status, headers: all });
}

/** How long WNS keeps a cached notification without an X-WNS-TTL (it says: a few days). */
const DEFAULT_CACHE_TTL_SECONDS = 3 * 24 * 60 * 60;

/** WNS's answer to a notification for an offline device: `received` (cached) or `dropped`. */
function offlineAnswer(status: "received" | "dropped"): Response {
  return new Response(null, {
    status: 200,
    headers: [
      ["X-WNS-Status", status],
      ["X-WNS-NotificationStatus", status],
      ["X-WNS-DeviceConnectionStatus", "disconnected"],
      ["X-WNS-Msg-ID", nextMsgId()],
    ],
  });
}

/** The answer to an accepted notification: built without a Headers object (the hot path). */
function receivedAnswer(): Response {
  return new Response(null, {
    status: 200,
    headers: [
      ["X-WNS-Status", "received"],
      ["X-WNS-NotificationStatus", "received"],
      ["X-WNS-DeviceConnectionStatus", "connected"],
      ["X-WNS-Msg-ID", nextMsgId()],
    ],
  });
}

/** Message ids: 16 hex digits, unique per process (a random start, then counting). */
let msgIdCounter = BigInt("0x" + randomHex(6)) << 16n;
function nextMsgId(): string {
  msgIdCounter++;
  return msgIdCounter.toString(16).toUpperCase().padStart(16, "0");
}

/** `request.url` is the origin plus the request target as sent; keep the target verbatim. */
function rawPath(requestUrl: string): string {
  const start = requestUrl.indexOf("/", requestUrl.indexOf("//") + 2);
  return start === -1 ? "/" : requestUrl.slice(start);
}

function countAuthorization(headers: Headers): number {
  const value = headers.get("authorization");
  return value === null ? 0 : value.split(",").length;
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

function randomToken(bytes: number): string {
  const raw = String.fromCharCode(...crypto.getRandomValues(new Uint8Array(bytes)));
  return btoa(raw).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/**
 * Looks like a real channel token: base64 with `+`, `/` and `=` percent-encoded in lower
 * case, so a sender that decodes and re-encodes the query changes it (and gets a 404).
 */
function wnsStyleToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(60));
  bytes[0] = 0xfb; // 0xfb starts with six 1 bits: the token starts with "+", always an escape
  return encodeURIComponent(btoa(String.fromCharCode(...bytes)))
    .replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase());
}
