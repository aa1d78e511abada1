/**
 * A fake Web Push service (RFC 8030) on 127.0.0.1 for tests and benchmarks, checking what a
 * real one checks with independent code: the VAPID JWT is verified with the `jose` package
 * (ES256, `aud` = this service's origin, `exp` in the future and at most 24 h ahead, `sub` a
 * mailto:/https: contact, `k` = the key the subscription was made with) and the body is
 * decrypted with the `http_ece` package, using receiver keys made by node:crypto. Each
 * accepted message is recorded with its plaintext and headers.
 *
 * HTTPS with a given certificate (e.g. tests/support/tls_cert.ts), or plain HTTP when none
 * is given. Tests can make it answer a status (201/404/410/413/429 + Retry-After/5xx, with
 * any headers and body, including an endless one), delay an answer, or cut it off.
 *
 * Checks, in order: method, subscription (404 unknown, 410 unsubscribed), Authorization
 * (401 missing/malformed/invalid JWT, 403 key other than the subscription's), TTL, Urgency,
 * Topic, Content-Encoding and Content-Type (400), size (413 above 4096), decryption (400).
 * Accepted: 201 with `Location` and `TTL`. Quiet: it never logs.
 *
 * @module
 */

import { abortableSleep, closeOnce } from "../fake_service_kit.ts";
import { Buffer } from "node:buffer";
import { createECDH, type ECDH } from "node:crypto";
import ece from "http_ece";
import * as jose from "jose";

const PUSH_PREFIX = "/push/";
const MAX_BODY_BYTES = 4096;
const DAY_SECONDS = 24 * 60 * 60;
const URGENCIES = new Set(["very-low", "low", "normal", "high"]);

/** Options of {@link startFakePushService}. */
export interface FakePushServiceOptions {
  /** PEM certificate and key: serve HTTPS. Without them, plain HTTP. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /**
   * The host name endpoints carry (default "127.0.0.1"): e.g. a name the test's resolver maps
   * to 127.0.0.1 and the certificate covers. The expected VAPID `aud` follows it.
   */
  readonly hostname?: string;
  /** Keep every request and message; false keeps counters only (benchmarks). Default true. */
  readonly record?: boolean;
  /**
   * Verify the JWT and decrypt each body. Default true. False (benchmarks of the sender only)
   * checks the headers and the size, and records an empty plaintext and no claims.
   */
  readonly verify?: boolean;
}

/** A subscription the fake made, with the receiver's private key (as a phone would hold it). */
export interface FakeSubscription {
  readonly endpoint: string;
  /** The browser's `PushSubscription.toJSON()` shape. */
  readonly json: { endpoint: string; keys: { p256dh: string; auth: string } };
  /** The VAPID public key the subscription is bound to, or null for any. */
  readonly vapidKey: string | null;
}

/** A message the fake accepted. */
export interface FakePushMessage {
  readonly endpoint: string;
  /** The decrypted plaintext. */
  readonly plaintext: Uint8Array;
  /** The plaintext as UTF-8. */
  readonly text: string;
  /** Headers as received, lower-case names. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** Verified JWT claims. */
  readonly claims: jose.JWTPayload;
  readonly bodyBytes: number;
}

/** One request the fake received. */
export interface FakePushRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly bodyBytes: number;
  /** The status answered; 0 when the answer was cut off. */
  readonly status: number;
  /** Why a request was refused, for test failure messages. */
  readonly error: string | null;
}

/** A scripted answer. */
export interface ScriptedAnswer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  /** Body bytes, or "endless" for a body that never ends. */
  readonly body?: Uint8Array<ArrayBuffer> | "endless";
}

/** What the fake counted, recording or not. */
export interface FakePushCounters {
  requests: number;
  accepted: number;
}

/** Options of {@link FakePushService.subscribe}. */
export interface SubscribeOptions {
  /** Accept only pushes signed with this VAPID public key (base64url). */
  readonly vapidKey?: string;
  /**
   * The receiver's P-256 key pair, base64url (e.g. made by web-push's `generateVAPIDKeys`,
   * as a client would make it); default: one made here by node:crypto.
   */
  readonly receiverKeys?: { readonly publicKey: string; readonly privateKey: string };
}

/** A running fake push service; see {@link startFakePushService}. */
export interface FakePushService {
  /** `https://<hostname>:<port>` (or http:). */
  readonly origin: string;
  readonly port: number;
  /**
   * Makes a subscription (keys from node:crypto). With `vapidKey`, the subscription accepts
   * only pushes signed with that key (403 otherwise), as browsers' push services do.
   */
  subscribe(options?: SubscribeOptions): FakeSubscription;
  /** The subscription is gone: the service answers 410 from now on. */
  unsubscribe(endpoint: string): void;
  /** Answers the next request to `endpoint` as scripted, before any check. */
  answerNext(endpoint: string, answer: ScriptedAnswer): void;
  /** Holds the next request to `endpoint` for `delayMs` before handling it. */
  delayNext(endpoint: string, delayMs: number): void;
  /** Cuts the next answer to `endpoint` off after its head. */
  resetNext(endpoint: string): void;
  readonly received: readonly FakePushMessage[];
  readonly requests: readonly FakePushRequest[];
  readonly counters: FakePushCounters;
  /** Resolves once `n` messages were accepted; rejects after `timeoutMs`. */
  waitForMessages(n: number, timeoutMs: number): Promise<readonly FakePushMessage[]>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

interface SubscriptionState {
  readonly endpoint: string;
  readonly ecdh: ECDH;
  readonly auth: string;
  readonly vapidKey: string | null;
  gone: boolean;
  readonly answers: ScriptedAnswer[];
  readonly delays: number[];
  resets: number;
}

function randomId(bytes: number): string {
  return crypto.getRandomValues(new Uint8Array(bytes)).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}

/** `vapid t=<jwt>, k=<key>` (parameters in any order, RFC 8292 §3). */
function parseVapid(header: string | null): { t: string; k: string } | null {
  const match = header === null ? null : /^vapid\s+(.*)$/i.exec(header.trim());
  if (match === null) return null;
  const params = new Map<string, string>();
  for (const part of match[1].split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) return null;
    params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const t = params.get("t");
  const k = params.get("k");
  return t && k ? { t, k } : null;
}

/** Verifies a VAPID JWT with jose; the reason on failure. */
async function verifyVapid(
  vapid: { t: string; k: string },
  audience: string,
): Promise<{ claims: jose.JWTPayload } | { error: string }> {
  let key: CryptoKey | Uint8Array;
  try {
    const raw = Uint8Array.fromBase64(vapid.k, { alphabet: "base64url" });
    if (raw.byteLength !== 65 || raw[0] !== 4) return { error: "k is not a P-256 point" };
    key = await jose.importJWK({
      kty: "EC",
      crv: "P-256",
      x: raw.subarray(1, 33).toBase64({ alphabet: "base64url", omitPadding: true }),
      y: raw.subarray(33).toBase64({ alphabet: "base64url", omitPadding: true }),
    }, "ES256");
  } catch {
    return { error: "k is not a valid key" };
  }
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(vapid.t, key, {
      algorithms: ["ES256"],
      audience,
      requiredClaims: ["aud", "exp", "sub"],
    });
    if (protectedHeader.typ !== undefined && protectedHeader.typ !== "JWT") {
      return { error: "typ is not JWT" };
    }
    if (payload.exp! > Date.now() / 1000 + DAY_SECONDS) return { error: "exp beyond 24 h" };
    const sub = String(payload.sub);
    if (!sub.startsWith("mailto:") && !sub.startsWith("https:")) {
      return { error: "sub is not mailto: or https:" };
    }
    return { claims: payload };
  } catch (error) {
    return { error: `JWT: ${(error as Error).message}` };
  }
}

/** Starts a fake push service on 127.0.0.1 with a free port. */
export function startFakePushService(
  options: FakePushServiceOptions = {},
): Promise<FakePushService> {
  try {
    return Promise.resolve(createFakePushService(options));
  } catch (error) {
    return Promise.reject(error);
  }
}

function createFakePushService(options: FakePushServiceOptions): FakePushService {
  const recording = options.record ?? true;
  const verifying = options.verify ?? true;
  const subscriptions = new Map<string, SubscriptionState>();
  const received: FakePushMessage[] = [];
  const requests: FakePushRequest[] = [];
  const counters: FakePushCounters = { requests: 0, accepted: 0 };
  let waiters: Array<{ n: number; resolve: (m: readonly FakePushMessage[]) => void }> = [];
  const closing = new AbortController();

  const handle = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    const bytes = new Uint8Array(await request.arrayBuffer());
    counters.requests++;
    const headers = recording ? [...request.headers].map(([k, v]) => [k, v] as const) : [];
    const record = (status: number, error: string | null) => {
      if (recording) {
        requests.push({
          method: request.method,
          path,
          headers,
          bodyBytes: bytes.byteLength,
          status,
          error,
        });
      }
    };
    const state = subscriptions.get(path);
    const delay = state?.delays.shift();
    if (delay !== undefined) await abortableSleep(delay, closing.signal);
    if (state !== undefined && state.resets > 0) {
      state.resets--;
      record(0, "reset");
      // The head goes out, then the body errors: the client sees the answer cut off.
      return new Response(new ReadableStream({ pull: (c) => c.error(new Error("reset")) }), {
        status: 201,
      });
    }
    const scripted = state?.answers.shift();
    if (scripted !== undefined) {
      record(scripted.status, "scripted");
      const body = scripted.body === "endless"
        ? new ReadableStream<Uint8Array<ArrayBuffer>>({
          pull: (c) => c.enqueue(new Uint8Array(64 * 1024).fill(0x78)),
        })
        : scripted.body ?? null;
      return new Response(body, { status: scripted.status, headers: scripted.headers });
    }

    const refuse = (status: number, error: string) => {
      record(status, error);
      return Response.json({ code: status, error }, { status });
    };
    if (request.method !== "POST") return refuse(405, "only POST");
    if (state === undefined) return refuse(404, "no such subscription");
    if (state.gone) return refuse(410, "subscription gone");
    const vapid = parseVapid(request.headers.get("authorization"));
    if (vapid === null) return refuse(401, "missing or malformed vapid Authorization");
    const verified = verifying ? await verifyVapid(vapid, origin) : { claims: {} };
    if ("error" in verified) return refuse(401, verified.error);
    if (state.vapidKey !== null && vapid.k !== state.vapidKey) {
      return refuse(403, "VAPID key differs from the subscription's");
    }
    const ttl = request.headers.get("ttl");
    if (ttl === null || !/^\d+$/.test(ttl)) return refuse(400, "TTL missing or malformed");
    const urgency = request.headers.get("urgency");
    if (urgency !== null && !URGENCIES.has(urgency)) return refuse(400, "bad Urgency");
    const topic = request.headers.get("topic");
    if (topic !== null && !/^[A-Za-z0-9_-]{1,32}$/.test(topic)) return refuse(400, "bad Topic");
    if (request.headers.get("content-encoding") !== "aes128gcm") {
      return refuse(400, "Content-Encoding is not aes128gcm");
    }
    if (request.headers.get("content-type") !== "application/octet-stream") {
      return refuse(400, "Content-Type is not application/octet-stream");
    }
    if (bytes.byteLength > MAX_BODY_BYTES) return refuse(413, "payload too large");
    let plaintext = new Uint8Array(0);
    try {
      if (verifying) {
        plaintext = new Uint8Array(
          ece.decrypt(Buffer.from(bytes), {
            version: "aes128gcm",
            privateKey: state.ecdh,
            authSecret: state.auth,
          }),
        );
      }
    } catch (error) {
      return refuse(400, `decryption failed: ${(error as Error).message}`);
    }
    record(201, null);
    counters.accepted++;
    if (recording) {
      received.push({
        endpoint: state.endpoint,
        plaintext,
        text: new TextDecoder().decode(plaintext),
        headers,
        claims: verified.claims,
        bodyBytes: bytes.byteLength,
      });
    }
    if (waiters.length > 0) {
      const ready = waiters.filter((w) => counters.accepted >= w.n);
      waiters = waiters.filter((w) => counters.accepted < w.n);
      for (const waiter of ready) waiter.resolve(received.slice());
    }
    return new Response(null, {
      status: 201,
      headers: { Location: `${origin}/message/${randomId(9)}`, TTL: ttl },
    });
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    onError: () => new Response(null, { status: 500 }),
    ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
  }, handle);
  const port = server.addr.port;
  const scheme = options.tls ? "https" : "http";
  const origin = new URL(`${scheme}://${options.hostname ?? "127.0.0.1"}:${port}`).origin;

  const stateOf = (endpoint: string): SubscriptionState => {
    const url = URL.parse(endpoint);
    const state = url === null ? undefined : subscriptions.get(url.pathname);
    if (state === undefined || url!.origin !== origin) {
      throw new Error("not a subscription of this fake push service");
    }
    return state;
  };

  return {
    origin,
    port,
    subscribe(subscribeOptions = {}): FakeSubscription {
      const ecdh = createECDH("prime256v1");
      const given = subscribeOptions.receiverKeys;
      if (given === undefined) ecdh.generateKeys();
      else ecdh.setPrivateKey(Buffer.from(given.privateKey, "base64url"));
      if (given !== undefined && ecdh.getPublicKey("base64url") !== given.publicKey) {
        throw new Error("receiverKeys: the public key is not the private key's");
      }
      const auth = randomId(16);
      // ≥ 160 bits of entropy in the endpoint, as UnifiedPush recommends.
      const path = `${PUSH_PREFIX}${randomId(24)}`;
      const endpoint = `${origin}${path}`;
      const vapidKey = subscribeOptions.vapidKey ?? null;
      subscriptions.set(path, {
        endpoint,
        ecdh,
        auth,
        vapidKey,
        gone: false,
        answers: [],
        delays: [],
        resets: 0,
      });
      return {
        endpoint,
        vapidKey,
        json: {
          endpoint,
          keys: {
            p256dh: ecdh.getPublicKey().toString("base64url"),
            auth,
          },
        },
      };
    },
    unsubscribe(endpoint: string): void {
      stateOf(endpoint).gone = true;
    },
    answerNext(endpoint: string, answer: ScriptedAnswer): void {
      stateOf(endpoint).answers.push(answer);
    },
    delayNext(endpoint: string, delayMs: number): void {
      stateOf(endpoint).delays.push(delayMs);
    },
    resetNext(endpoint: string): void {
      stateOf(endpoint).resets++;
    },
    received,
    requests,
    counters,
    waitForMessages(n: number, timeoutMs: number): Promise<readonly FakePushMessage[]> {
      if (counters.accepted >= n) return Promise.resolve(received.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          reject(
            new Error(
              `fake push service: expected ${n} message(s) within ${timeoutMs} ms, got ${counters.accepted}`,
            ),
          );
        }, timeoutMs);
        const waiter = {
          n,
          resolve: (messages: readonly FakePushMessage[]) => {
            clearTimeout(timer);
            resolve(messages);
          },
        };
        waiters.push(waiter);
      });
    },
    close: closeOnce(server, closing),
    [Symbol.asyncDispose](): Promise<void> {
      return this.close();
    },
  };
}
