/**
 * A fake APNs on 127.0.0.1 for tests and benchmarks: HTTP/2 over TLS (`node:http2`) with a
 * leaf certificate signed by a generated test CA (rustls, under Deno's TLS, refuses a CA
 * certificate used as the server's own). It judges every push like APNs
 * ({@link FakeApnsChecker}: the JWT verified with `jose`, headers, payload), records every
 * request, and can be told per device token to answer any status and reason of apns.md,
 * late, by resetting the stream, or with GOAWAY.
 *
 * Quiet: it never logs.
 *
 * @module
 */

import http2 from "node:http2";
import selfsigned from "selfsigned";
import type { Clock } from "../../../domain/ports/clock.ts";
import {
  type ConnectionTokenState,
  FakeApnsChecker,
  type FakeApnsKey,
  type VerifiedJwt,
} from "./fake_apns_checks.ts";

export type { FakeApnsKey } from "./fake_apns_checks.ts";

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
  /** Send GOAWAY, leave this stream unanswered and drop the connection soon after. */
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
  readonly jwt: VerifiedJwt | null;
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
  /** Sends GOAWAY on every open connection and closes it once its streams are done. */
  goawayAll(): void;
  /** Connections open now. */
  readonly openConnections: number;
  close(): Promise<void>;
}

/** Request bodies are kept up to this size (APNs's limit is 4096; more is refused anyway). */
const MAX_BODY_KEPT = 8192;

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

interface SessionState extends ConnectionTokenState {
  readonly id: number;
  active: number;
}

/** Starts a fake APNs on 127.0.0.1. */
export async function startFakeApns(options: FakeApnsOptions): Promise<FakeApns> {
  const certificates = options.certificates ?? await generateFakeApnsCertificates();
  const clock = options.clock ?? { now: () => Date.now() };
  const record = options.record ?? true;
  const checker = await FakeApnsChecker.create(options.keys, options.topics, clock);
  const scripts = new Map<string, Script[]>();
  const requests: FakeApnsRequest[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  const counters = {
    requests: 0,
    delivered: 0,
    connections: 0,
    maxConcurrentStreamsSeen: 0,
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
      if (size <= MAX_BODY_KEPT) chunks.push(chunk);
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
    const plain: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (name.startsWith(":") || value === undefined) continue;
      plain[name] = Array.isArray(value) ? value.join(",") : String(value);
    }
    const verdict = await checker.check(
      { method, path, headers: plain, body, bytes: size },
      state,
    );
    const { authorization: _secret, ...recorded } = plain;
    const entry = {
      connection: state.id,
      method,
      path,
      token: verdict.token,
      headers: recorded,
      jwt: verdict.jwt,
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
    if (verdict.status !== 200) return answer(verdict.status, verdict.reason);
    const token = verdict.token!;

    const scripted = nextScript(token);
    if (scripted === null) return answer(200, null);
    if ("reset" in scripted) {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if ("goaway" in scripted) {
      // GOAWAY (see goawayAll), then the connection drops with this stream unanswered.
      const session = stream.session;
      session?.close();
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
      return { ...counters, jwtVerifications: checker.verifications };
    },
    script(token, answer, times = Infinity) {
      const key = token.toLowerCase();
      const list = scripts.get(key) ?? [];
      list.push({ answer, remaining: times });
      scripts.set(key, list);
    },
    goawayAll() {
      // session.close() sends the GOAWAY: with a client in the same process, an explicit
      // session.goaway() makes Deno 2.9.6's nghttp2 abort now and then (assertion in
      // find_stream_on_goaway_func); close() never did in thousands of tries.
      for (const session of sessions) session.close();
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

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
