/**
 * Sends one Web Push message (RFC 8030): checks the endpoint against the policy, encrypts the
 * payload (RFC 8291), signs (RFC 8292, cached per push service) and POSTs it over node:https
 * with a kept-alive agent, then maps the answer to a {@link PushOutcome}.
 *
 * Why node:https and not fetch: fetch cannot be told which address to connect to, so it
 * would resolve the host a second time after the policy checked it (DNS rebinding). Here the
 * agent's `lookup` hands back the checked address while SNI, certificate check and Host stay
 * the hostname. It is also cheaper: against a fast loopback server (bench/webpush_encrypt.ts,
 * part 4) a POST cost about 95–110 µs of CPU with node:https and 150–165 µs with fetch.
 *
 * A host with several addresses (IPv6 and IPv4, several nodes) is tried address after
 * address while a connection cannot be made, each new connection given its share of the
 * time left, so one unreachable address does not lose the push (RFC 8305's idea, in order).
 *
 * Bounds: one timeout per push (resolving and connecting included); at most `maxResponseBytes` of an
 * answer's body are read (the rest is cut off with the connection); redirects are answers
 * like any other, never followed; at most `maxSocketsPerHost` concurrent connections per
 * push service origin and `maxSockets` in all (further requests queue in the agent). Retry,
 * backoff and per-subscription limits belong to the shared delivery policy, not here.
 *
 * @module
 */

import { valueWithin } from "../../../lib/timeout.ts";
import https from "node:https";
import http from "node:http";
import type { LookupFunction } from "node:net";
import {
  encryptAes128gcm,
  MAX_BODY_BYTES,
  PlaintextTooLargeError,
  type ReceiverKeys,
} from "./aes128gcm.ts";
import {
  type CheckedEndpoint,
  type EndpointPolicy,
  EndpointRefusedError,
  type ResolvedAddress,
} from "./endpoint_policy.ts";
import { outcomeOfStatus, type PushOutcome } from "./push_outcome.ts";
import { parseRetryAfter } from "../retry_after.ts";
import type { WebPushSubscription } from "./subscription.ts";
import { TOPIC_PATTERN } from "./topic.ts";
import type { VapidAuthorizer } from "./vapid_authorizer.ts";

/** RFC 8030 §5.3 urgencies. */
export type Urgency = "very-low" | "low" | "normal" | "high";
const URGENCIES: ReadonlySet<string> = new Set(["very-low", "low", "normal", "high"]);
const NETWORK_FAILURE: PushOutcome = {
  kind: "retryable",
  status: null,
  reason: "network",
  retryAfterMs: null,
};

/** No connection could be made to that address: the next one may do. */
const UNREACHABLE = Symbol("unreachable");

const TIMED_OUT: PushOutcome = {
  kind: "retryable",
  status: null,
  reason: "timeout",
  retryAfterMs: null,
};

/** One message to one subscription. */
export interface WebPushMessage {
  readonly subscription: WebPushSubscription;
  /** The plaintext (small JSON: account id and counts, never message content); ≤ 3993 bytes. */
  readonly payload: Uint8Array;
  /** Seconds the push service may keep the message; 0 = now or never. */
  readonly ttlSeconds: number;
  /** Default "normal" (chat wakeups); "high" for calls. */
  readonly urgency?: Urgency;
  /** Collapse key, ≤ 32 base64url characters; see topic.ts. */
  readonly topic?: string;
}

/** A message encrypted and signed elsewhere (Push 2.0), to relay as it is. */
export interface EncryptedWebPushMessage {
  readonly endpoint: string;
  /** The `aes128gcm` body, 1 to 4096 bytes. */
  readonly body: Uint8Array;
  /** The whole `Authorization` value (`vapid t=..., k=...`). */
  readonly authorization: string;
  readonly ttlSeconds: number;
  readonly urgency?: Urgency;
  readonly topic?: string;
}

interface Prepared {
  readonly body: Uint8Array;
  readonly authorization: string;
}

/** Throws RangeError for a malformed TTL, urgency or topic: a caller bug. */
function checkHeaders(message: Pick<WebPushMessage, "ttlSeconds" | "urgency" | "topic">): void {
  if (!Number.isSafeInteger(message.ttlSeconds) || message.ttlSeconds < 0) {
    throw new RangeError("ttlSeconds must be a non-negative integer");
  }
  if (!URGENCIES.has(message.urgency ?? "normal")) throw new RangeError("unknown urgency");
  if (message.topic !== undefined && !TOPIC_PATTERN.test(message.topic)) {
    throw new RangeError("a topic is 1 to 32 base64url characters");
  }
}

/** Options of {@link WebPushSender}. */
export interface WebPushSenderOptions {
  readonly policy: EndpointPolicy;
  /** Signs our own messages; absent for a relay that only sends others' (Push 2.0). */
  readonly authorizer?: VapidAuthorizer;
  /** Whole request, connecting included. Default 10 s. */
  readonly timeoutMs?: number;
  /** Bytes of an answer's body read at most. Default 8 KiB. */
  readonly maxResponseBytes?: number;
  /** Concurrent connections per push service origin. Default 16. */
  readonly maxSocketsPerHost?: number;
  /** Concurrent connections in all. Default 256. */
  readonly maxSockets?: number;
  /** Extra trusted CA certificates (PEM), for tests against a self-signed fake. */
  readonly caCerts?: readonly string[];
  /** Epoch milliseconds, for Retry-After dates; injectable for tests. */
  readonly now?: () => number;
  /** Encrypts a payload (e.g. on an `EncryptionPool`); default in this thread. */
  readonly encrypt?: (
    plaintext: Uint8Array,
    receiver: ReceiverKeys,
  ) => Promise<Uint8Array<ArrayBuffer>>;
}

/** Sends Web Push messages; see the module comment. */
export class WebPushSender {
  readonly #policy: EndpointPolicy;
  readonly #authorizer: VapidAuthorizer | undefined;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #ca: string[] | undefined;
  readonly #now: () => number;
  readonly #encrypt: NonNullable<WebPushSenderOptions["encrypt"]>;
  readonly #httpsAgent: https.Agent;
  readonly #httpAgent: http.Agent;

  constructor(options: WebPushSenderOptions) {
    this.#policy = options.policy;
    this.#authorizer = options.authorizer;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#maxResponseBytes = options.maxResponseBytes ?? 8 * 1024;
    this.#ca = options.caCerts ? [...options.caCerts] : undefined;
    this.#now = options.now ?? Date.now;
    this.#encrypt = options.encrypt ??
      ((plaintext, receiver) => encryptAes128gcm(plaintext, receiver));
    const agentOptions = {
      keepAlive: true,
      maxSockets: options.maxSocketsPerHost ?? 16,
      maxTotalSockets: options.maxSockets ?? 256,
      maxFreeSockets: options.maxSocketsPerHost ?? 16,
      timeout: 60_000,
    };
    this.#httpsAgent = new https.Agent(agentOptions);
    this.#httpAgent = new http.Agent(agentOptions);
  }

  /**
   * Sends one message. Never throws for what the network or the push service does: every
   * such case is an outcome. Throws RangeError for a malformed message (bad TTL, urgency or
   * topic): a caller bug.
   */
  async send(message: WebPushMessage): Promise<PushOutcome> {
    checkHeaders(message);
    const authorizer = this.#authorizer;
    if (authorizer === undefined) throw new Error("this sender has no VAPID authorizer");
    return await this.#deliver(message.subscription.endpoint, async (target) => {
      let body: Uint8Array;
      try {
        body = await this.#encrypt(message.payload, message.subscription.keys);
      } catch (error) {
        if (error instanceof PlaintextTooLargeError) return null;
        throw error;
      }
      return { body, authorization: await authorizer.authorization(target.origin) };
    }, message);
  }

  /**
   * Relays a message encrypted and signed by someone else (Push 2.0: the user's server did
   * both): the same endpoint policy, bounds and outcomes, no cryptography of ours. The body
   * must be 1 to 4096 bytes (too-large otherwise, nothing sent).
   */
  async sendEncrypted(message: EncryptedWebPushMessage): Promise<PushOutcome> {
    checkHeaders(message);
    if (message.body.byteLength === 0 || message.body.byteLength > MAX_BODY_BYTES) {
      return { kind: "too-large", status: null };
    }
    return await this.#deliver(
      message.endpoint,
      () => Promise.resolve({ body: message.body, authorization: message.authorization }),
      message,
    );
  }

  async #deliver(
    endpoint: string,
    prepare: (target: CheckedEndpoint) => Promise<Prepared | null>,
    message: Pick<WebPushMessage, "ttlSeconds" | "urgency" | "topic">,
  ): Promise<PushOutcome> {
    const started = performance.now();
    let target: CheckedEndpoint | null;
    try {
      // A resolver that never answers must not hold the push: the timeout covers DNS too.
      target = await valueWithin(this.#policy.check(endpoint), this.#timeoutMs, null);
    } catch (error) {
      if (!(error instanceof EndpointRefusedError)) throw error;
      return error.reason === "unresolvable"
        ? { kind: "retryable", status: null, reason: "unresolvable", retryAfterMs: null }
        : { kind: "refused", reason: error.reason };
    }
    if (target === null) return TIMED_OUT;

    const prepared = await prepare(target);
    if (prepared === null) return { kind: "too-large", status: null };
    const headers: Record<string, string> = {
      "TTL": String(message.ttlSeconds),
      "Urgency": message.urgency ?? "normal",
      "Content-Encoding": "aes128gcm",
      "Content-Type": "application/octet-stream",
      "Content-Length": String(prepared.body.byteLength),
      "Authorization": prepared.authorization,
    };
    if (message.topic !== undefined) headers["Topic"] = message.topic;
    const deadline = started + this.#timeoutMs;
    const addresses = target.addresses;
    for (let i = 0; i < addresses.length; i++) {
      const left = deadline - performance.now();
      if (left <= 0) return TIMED_OUT;
      // The last address may take all the time left; the others their share of it.
      const connectMs = i === addresses.length - 1 ? Infinity : left / (addresses.length - i);
      const outcome = await this.#post(
        target,
        addresses[i],
        headers,
        prepared.body,
        Math.max(1, left),
        connectMs,
      );
      if (outcome !== UNREACHABLE) return outcome;
    }
    return NETWORK_FAILURE;
  }

  /** Closes idle kept-alive connections and stops keeping new ones. */
  close(): void {
    this.#httpsAgent.destroy();
    this.#httpAgent.destroy();
  }

  /**
   * One POST to `target` at `address`. {@link UNREACHABLE} when a new connection could not
   * be made (refused, no route, or not within `connectMs`): nothing reached the service.
   */
  #post(
    target: CheckedEndpoint,
    address: ResolvedAddress,
    headers: Record<string, string>,
    body: Uint8Array,
    timeoutMs: number,
    connectMs: number,
  ): Promise<PushOutcome | typeof UNREACHABLE> {
    // Hands the agent the address the policy checked instead of resolving the name again.
    const lookup = ((_hostname: string, options: { all?: boolean }, callback: unknown) => {
      const done = callback as (...args: unknown[]) => void;
      if (options?.all) done(null, [{ address: address.address, family: address.family }]);
      else done(null, address.address, address.family);
    }) as unknown as LookupFunction;
    const module = target.tls ? https : http;
    return new Promise<PushOutcome | typeof UNREACHABLE>((resolve) => {
      let settled = false;
      let connected = false;
      let connectTimer: ReturnType<typeof setTimeout> | undefined;
      const settle = (outcome: PushOutcome | typeof UNREACHABLE) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(connectTimer);
        resolve(outcome);
      };
      const request = module.request({
        method: "POST",
        hostname: target.hostname,
        port: target.port,
        path: target.url.pathname + target.url.search,
        headers,
        agent: target.tls ? this.#httpsAgent : this.#httpAgent,
        lookup,
        ...(target.tls && this.#ca ? { ca: this.#ca } : {}),
      }, (response) => {
        const status = response.statusCode ?? 0;
        const retryAfter = response.headers["retry-after"];
        const outcome = outcomeOfStatus(
          status,
          parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, this.#now()),
        );
        let read = 0;
        response.on("data", (chunk: Uint8Array) => {
          read += chunk.byteLength;
          // An answer body past the bound is not read: the connection is dropped.
          if (read > this.#maxResponseBytes) {
            settle(outcome);
            response.destroy();
          }
        });
        response.on("end", () => settle(outcome));
        // Cut before its end: the answer cannot be trusted. A wakeup sent twice is harmless,
        // a lost one is not, so it counts as a network failure.
        const cut = () => settle(NETWORK_FAILURE);
        response.on("error", cut);
        response.on("close", cut);
      });
      const timer = setTimeout(() => {
        settle(TIMED_OUT);
        request.destroy();
      }, timeoutMs);
      request.on("error", () => settle(connected ? NETWORK_FAILURE : UNREACHABLE));
      request.on("socket", (socket) => {
        // A kept-alive connection is connected already; a new one is timed on its own.
        if (!socket.connecting) {
          connected = true;
          return;
        }
        socket.once("connect", () => {
          connected = true;
          clearTimeout(connectTimer);
        });
        if (Number.isFinite(connectMs)) {
          connectTimer = setTimeout(() => {
            settle(UNREACHABLE);
            request.destroy();
          }, connectMs);
        }
      });
      request.end(body);
    });
  }
}
