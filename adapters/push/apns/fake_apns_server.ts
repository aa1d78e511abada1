/**
 * A fake APNs on 127.0.0.1 for tests and benchmarks: HTTP/2 over TLS (`node:http2`) with a
 * leaf certificate signed by a generated test CA (rustls, under Deno's TLS, refuses a CA
 * certificate used as the server's own). It checks a push the way APNs does (apns.md §3–5):
 * method, path, the provider JWT (verified with `jose`: ES256 with the key's public half,
 * `kid`, `iss`, `iat` no older than an hour, renewals no closer than 20 minutes on one
 * connection), topic, push type against the payload, priority, expiration, collapse id,
 * payload size; it records every request; and it can be told per device token to answer any
 * status and reason, late, by resetting the stream, or by sending GOAWAY.
 *
 * Stricter than Apple in two places, to catch our own bugs: a background push must be
 * priority 5 and carry `content-available` only-style payloads, and a non-zero
 * `apns-expiration` in the past is refused (BadExpirationDate) — fpush's "1970" bug.
 *
 * Quiet: it never logs.
 *
 * @module
 */

import http2 from "node:http2";
import { importSPKI, jwtVerify } from "jose";
import selfsigned from "selfsigned";
import type { Clock } from "../../../domain/ports.ts";

/** A provider key the fake trusts. */
export interface FakeApnsKey {
  readonly keyId: string;
  readonly teamId: string;
  /** The public half of the `.p8`, SPKI PEM. */
  readonly publicKeyPem: string;
}

/** A test CA and the fake's leaf certificate, PEM. */
export interface FakeApnsCertificates {
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
}

/** A scripted answer for one device token. */
export type FakeApnsAnswer =
  | {
    readonly status: number;
    readonly reason?: string;
    /** 410: when the token became invalid, epoch ms. */
    readonly timestamp?: number;
    /** Wait this long before answering. */
    readonly delayMs?: number;
  }
  /** Reset the stream with REFUSED_STREAM (the push was not processed). */
  | { readonly reset: "refused" }
  /** Send GOAWAY, leave this stream unanswered and drop the connection. */
  | { readonly goaway: true };

/** Options of {@link startFakeApns}. */
export interface FakeApnsOptions {
  readonly keys: readonly FakeApnsKey[];
  /** Accepted `apns-topic` values; anything else is 400 TopicDisallowed. */
  readonly topics: readonly string[];
  /** The time used for JWT ages and expirations; default the system clock. */
  readonly clock?: Clock;
  /** SETTINGS_MAX_CONCURRENT_STREAMS announced to clients. Default 1000. */
  readonly maxConcurrentStreams?: number;
  /** Certificates to serve; default: a new test CA and leaf for 127.0.0.1/localhost. */
  readonly certificates?: FakeApnsCertificates;
  /** Keep every request in {@link FakeApns.requests}. Default true; false: counters only. */
  readonly record?: boolean;
  /** Port; default an ephemeral one. */
  readonly port?: number;
}

/** One request the fake received and how it answered. */
export interface FakeApnsRequest {
  /** Which connection it came on (1, 2, ... in order of opening). */
  readonly connection: number;
  readonly method: string;
  readonly path: string;
  /** The device token from the path, or null. */
  readonly token: string | null;
  /** Request headers, names lower-case (pseudo-headers and authorization left out). */
  readonly headers: Readonly<Record<string, string>>;
  /** The verified JWT's header and claims, or null when it did not verify. */
  readonly jwt: { readonly kid: string; readonly iss: string; readonly iat: number } | null;
  readonly body: string;
  readonly status: number | null;
  readonly reason: string | null;
}

/** What the fake counted, recording or not. */
export interface FakeApnsCounters {
  readonly requests: number;
  /** Answered 200. */
  readonly delivered: number;
  /** Connections accepted. */
  readonly connections: number;
  /** Most streams open at once on one connection. */
  readonly maxConcurrentStreamsSeen: number;
  /** JWT signature verifications done (the fake caches verified tokens). */
  readonly jwtVerifications: number;
}

/** A running fake APNs. */
export interface FakeApns {
  /** `https://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** The CA to trust. */
  readonly caCert: string;
  readonly requests: readonly FakeApnsRequest[];
  readonly counters: FakeApnsCounters;
  /** Answer pushes to `token` with `answer`, the next `times` times (default: always). */
  script(token: string, answer: FakeApnsAnswer, times?: number): void;
  /** Sends GOAWAY on every open connection. */
  goawayAll(): void;
  /** Connections open now. */
  readonly openConnections: number;
  close(): Promise<void>;
}

const PAYLOAD_LIMIT = 4096;
const PUSH_TYPES = new Set([
  "alert",
  "background",
  "voip",
  "location",
  "complication",
  "fileprovider",
  "mdm",
  "liveactivity",
  "pushtotalk",
]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HOUR_S = 3600;
const MIN_RENEWAL_S = 20 * 60;

/** A new test CA and a leaf certificate (not a CA) for `localhost` and `127.0.0.1`. */
export async function generateFakeApnsCertificates(): Promise<FakeApnsCertificates> {
  const day = 24 * 3600 * 1000;
  const ca = await selfsigned.generate([{ name: "commonName", value: "Fake APNs test CA" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 2 * day),
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const leaf = await selfsigned.generate([{ name: "commonName", value: "localhost" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 2 * day),
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: "basicConstraints", cA: false, critical: true },
      { name: "keyUsage", digitalSignature: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }],
      },
    ],
  });
  return { caCert: ca.cert, cert: leaf.cert, key: leaf.private };
}

/** A new provider key as Apple would hand it out: the `.p8` text and its public half. */
export async function generateApnsTestKey(): Promise<{ p8: string; publicKeyPem: string }> {
  const pair = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["sign", "verify"],
  );
  const pem = (label: string, der: ArrayBuffer) => {
    const base64 = btoa(String.fromCharCode(...new Uint8Array(der)));
    return `-----BEGIN ${label}-----\n${
      base64.match(/.{1,64}/g)!.join("\n")
    }\n-----END ${label}-----\n`;
  };
  return {
    p8: pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", pair.privateKey)),
    publicKeyPem: pem("PUBLIC KEY", await crypto.subtle.exportKey("spki", pair.publicKey)),
  };
}

interface Script {
  readonly answer: FakeApnsAnswer;
  remaining: number;
}

interface SessionState {
  readonly id: number;
  active: number;
  /** iat of the last JWT seen on this connection. */
  lastIat: number | null;
  lastJwt: string | null;
}

type Verified = { readonly kid: string; readonly iss: string; readonly iat: number };

/** Starts a fake APNs on 127.0.0.1. */
export async function startFakeApns(options: FakeApnsOptions): Promise<FakeApns> {
  const certificates = options.certificates ?? await generateFakeApnsCertificates();
  const clock = options.clock ?? { now: () => Date.now() };
  const record = options.record ?? true;
  const topics = new Set(options.topics);
  const keys = new Map<string, { teamId: string; key: CryptoKey }>();
  for (const key of options.keys) {
    keys.set(key.keyId, {
      teamId: key.teamId,
      key: await importSPKI(key.publicKeyPem, "ES256") as CryptoKey,
    });
  }
  const scripts = new Map<string, Script[]>();
  const requests: FakeApnsRequest[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  /** Verified JWTs, so a benchmark does not measure ECDSA verification 10,000 times. */
  const verifiedJwts = new Map<string, Verified>();
  const counters = {
    requests: 0,
    delivered: 0,
    connections: 0,
    maxConcurrentStreamsSeen: 0,
    jwtVerifications: 0,
  };
  const states = new WeakMap<http2.Http2Session, SessionState>();

  const server = http2.createSecureServer({
    cert: certificates.cert,
    key: certificates.key,
    allowHTTP1: false,
    settings: { maxConcurrentStreams: options.maxConcurrentStreams ?? 1000 },
  });
  server.on("session", (session) => {
    counters.connections++;
    sessions.add(session);
    states.set(session, { id: counters.connections, active: 0, lastIat: null, lastJwt: null });
    session.on("close", () => sessions.delete(session));
    session.on("error", () => {});
  });
  server.on("stream", (stream, headers) => {
    const session = stream.session!;
    const state = states.get(session)!;
    state.active++;
    counters.maxConcurrentStreamsSeen = Math.max(counters.maxConcurrentStreamsSeen, state.active);
    stream.on("close", () => state.active--);
    stream.on("error", () => {});
    const chunks: Uint8Array[] = [];
    let size = 0;
    stream.on("data", (chunk: Uint8Array) => {
      size += chunk.length;
      if (size <= PAYLOAD_LIMIT + 1) chunks.push(chunk);
    });
    stream.on("end", () => {
      const body = new TextDecoder().decode(concat(chunks));
      handle(stream, headers, state, body, size).catch(() => {
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      });
    });
  });

  async function handle(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    state: SessionState,
    body: string,
    size: number,
  ): Promise<void> {
    counters.requests++;
    const method = String(headers[":method"]);
    const path = String(headers[":path"]);
    const token = /^\/3\/device\/([^/?]*)$/.exec(path)?.[1] ?? null;
    const plain: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (name.startsWith(":") || name === "authorization" || value === undefined) continue;
      plain[name] = Array.isArray(value) ? value.join(",") : String(value);
    }
    const entry = {
      connection: state.id,
      method,
      path,
      token,
      headers: plain,
      jwt: null as Verified | null,
      body,
      status: null as number | null,
      reason: null as string | null,
    };
    if (record) requests.push(entry);
    const answer = (status: number, reason: string | null, extra: object = {}) => {
      entry.status = status;
      entry.reason = reason;
      if (status === 200) counters.delivered++;
      if (stream.closed) return;
      stream.respond({ ":status": status, "apns-id": plain["apns-id"] ?? crypto.randomUUID() });
      stream.end(reason === null ? undefined : JSON.stringify({ reason, ...extra }));
    };

    if (method !== "POST") return answer(405, "MethodNotAllowed");
    if (token === null) return answer(404, "BadPath");
    if (token === "") return answer(400, "MissingDeviceToken");
    const authorization = headers.authorization;
    if (typeof authorization !== "string" || !authorization.startsWith("bearer ")) {
      return answer(403, "MissingProviderToken");
    }
    const jwt = authorization.slice("bearer ".length);
    const verified = await verify(jwt);
    if (verified === null) return answer(403, "InvalidProviderToken");
    entry.jwt = verified;
    const nowS = Math.floor(clock.now() / 1000);
    if (nowS - verified.iat > HOUR_S) return answer(403, "ExpiredProviderToken");
    if (jwt !== state.lastJwt) {
      if (state.lastIat !== null && verified.iat - state.lastIat < MIN_RENEWAL_S) {
        return answer(429, "TooManyProviderTokenUpdates");
      }
      state.lastJwt = jwt;
      state.lastIat = verified.iat;
    }
    const topic = plain["apns-topic"];
    if (topic === undefined) return answer(400, "MissingTopic");
    if (!topics.has(topic)) return answer(400, "TopicDisallowed");
    const pushType = plain["apns-push-type"] ?? "alert";
    if (!PUSH_TYPES.has(pushType)) return answer(400, "InvalidPushType");
    const priority = plain["apns-priority"] ?? "10";
    if (!["10", "5", "1"].includes(priority)) return answer(400, "BadPriority");
    if (pushType === "background" && priority !== "5") return answer(400, "BadPriority");
    const expiration = plain["apns-expiration"];
    if (expiration !== undefined) {
      if (!/^\d{1,12}$/.test(expiration)) return answer(400, "BadExpirationDate");
      if (expiration !== "0" && Number(expiration) < nowS) {
        return answer(400, "BadExpirationDate");
      }
    }
    const collapseId = plain["apns-collapse-id"];
    if (collapseId !== undefined && new TextEncoder().encode(collapseId).length > 64) {
      return answer(400, "BadCollapseId");
    }
    if (plain["apns-id"] !== undefined && !UUID.test(plain["apns-id"])) {
      return answer(400, "BadMessageId");
    }
    if (size === 0) return answer(400, "PayloadEmpty");
    if (size > PAYLOAD_LIMIT) return answer(413, "PayloadTooLarge");
    if (!/^[0-9a-f]{64,512}$/i.test(token)) return answer(400, "BadDeviceToken");
    if (!payloadMatches(pushType, body)) return answer(400, "InvalidPushType");

    const scripted = nextScript(token);
    if (scripted === null) return answer(200, null);
    if ("reset" in scripted) {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if ("goaway" in scripted) {
      // GOAWAY, then the connection drops with this stream unanswered (Deno's HTTP/2 server
      // does not send a last stream id below the streams it has seen, so closing is the
      // reliable way to leave the stream unprocessed).
      const session = stream.session;
      session?.goaway(http2.constants.NGHTTP2_NO_ERROR, Math.max(0, (stream.id ?? 1) - 2));
      setTimeout(() => session?.destroy(), 20);
      return;
    }
    if (scripted.delayMs) await new Promise((resolve) => setTimeout(resolve, scripted.delayMs));
    answer(
      scripted.status,
      scripted.reason ?? null,
      scripted.timestamp === undefined ? {} : { timestamp: scripted.timestamp },
    );
  }

  async function verify(jwt: string): Promise<Verified | null> {
    const cached = verifiedJwts.get(jwt);
    if (cached !== undefined) return cached;
    try {
      counters.jwtVerifications++;
      const [headerPart] = jwt.split(".");
      const header = JSON.parse(atob(headerPart.replaceAll("-", "+").replaceAll("_", "/")));
      const key = typeof header.kid === "string" ? keys.get(header.kid) : undefined;
      if (key === undefined) return null;
      const { payload, protectedHeader } = await jwtVerify(jwt, key.key, {
        algorithms: ["ES256"],
        issuer: key.teamId,
        // Ages are checked against the fake's own clock, not jose's.
        currentDate: new Date(clock.now()),
        clockTolerance: HOUR_S * 24 * 365,
      });
      if (typeof payload.iat !== "number" || protectedHeader.kid !== header.kid) return null;
      const verified = { kid: header.kid, iss: key.teamId, iat: payload.iat };
      if (verifiedJwts.size > 100) verifiedJwts.clear();
      verifiedJwts.set(jwt, verified);
      return verified;
    } catch {
      return null;
    }
  }

  function nextScript(token: string): FakeApnsAnswer | null {
    const list = scripts.get(token.toLowerCase());
    const first = list?.[0];
    if (first === undefined) return null;
    if (--first.remaining <= 0) list!.shift();
    return first.answer;
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  return {
    url: `https://127.0.0.1:${port}`,
    port,
    caCert: certificates.caCert,
    requests,
    get counters() {
      return { ...counters };
    },
    script(token, answer, times = Infinity) {
      const key = token.toLowerCase();
      const list = scripts.get(key) ?? [];
      list.push({ answer, remaining: times });
      scripts.set(key, list);
    },
    goawayAll() {
      for (const session of sessions) session.goaway(http2.constants.NGHTTP2_NO_ERROR);
    },
    get openConnections() {
      return sessions.size;
    },
    close() {
      return new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      });
    },
  };
}

/** Whether the JSON payload fits the push type: alerts show something, background is silent. */
function payloadMatches(pushType: string, body: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return false;
  }
  const aps = (parsed as { aps?: Record<string, unknown> } | null)?.aps;
  if (typeof aps !== "object" || aps === null) return false;
  if (pushType === "alert") return "alert" in aps || "sound" in aps || "badge" in aps;
  if (pushType === "background") return aps["content-available"] === 1 && !("alert" in aps);
  return true;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
