/**
 * Sends pushes to APNs for one app (one key/team and environment) over ONE HTTP/2
 * connection, kept open and multiplexed, as Apple asks (apns.md §1).
 *
 * Over our own HTTP/2 client ({@link Http2ClientSession}, `adapters/push/http2/`), not
 * Deno's `node:http2`: the sender must control the connection itself (opened once, replaced
 * on GOAWAY / error / idle, counted), follow the server's SETTINGS_MAX_CONCURRENT_STREAMS
 * (APNs raises it after the first authenticated request), time each stream out and bound
 * its answer, which `fetch` does not allow; and `node:http2`'s JavaScript layer cost about
 * 65 µs of CPU per request under Deno 2.9.6, against 28 for the lean client, which kept
 * APNs below 10,000 pushes/s on two cores (README of adapters/push/apns, "Why our own
 * HTTP/2 client"). The npm APNs clients (`apns2`, `@parse/node-apn`) sit on `node:http2`,
 * sign JWTs with Node's `crypto`, bring their own retry policy and hide the session.
 *
 * Retries inside this sender are connection housekeeping only, at most one per push: a
 * stream the server refused or never answered before GOAWAY, IdleTimeout / Shutdown
 * (reconnect), ExpiredProviderToken (renew the JWT once). Everything else is an outcome.
 * Never throws; never logs.
 *
 * @module
 */

import type { ApnsHeaders } from "../../../domain/payloads/apns_headers.ts";
import { apnsOutcome, type PushOutcome, RECONNECT_REASONS } from "./push_outcome.ts";
import {
  type HeaderField,
  type Http2Answer,
  Http2ClientSession,
} from "../http2/http2_client_session.ts";

/** APNs hosts (apns.md §1). */
export const APNS_HOSTS = {
  production: "https://api.push.apple.com",
  sandbox: "https://api.sandbox.push.apple.com",
} as const;

/** Which APNs an app's tokens belong to. */
export type ApnsEnvironment = keyof typeof APNS_HOSTS;

/** What the sender needs of the provider token ({@link ApnsProviderToken} has it). */
export interface ProviderTokenSource {
  current(): Promise<string>;
  renewAfterExpired(rejectedJwt: string): Promise<string | null>;
}

/** Settings of an {@link Http2ApnsSender}. */
export interface Http2ApnsSenderOptions {
  readonly environment: ApnsEnvironment;
  readonly providerToken: ProviderTokenSource;
  /** Replaces the environment's host (`https://127.0.0.1:PORT` for a fake). */
  readonly baseUrl?: string;
  /** PEM CA certificates to trust instead of the built-in roots (a fake's test CA). */
  readonly caCerts?: readonly string[];
  /** TLS server name to check, when `baseUrl` is an address (default: its host). */
  readonly serverName?: string;
  /**
   * Concurrent streams at most on the current connection, below the server's own limit.
   * Streams still running on a retired one (after GOAWAY) do not count. Default 1000.
   */
  readonly maxConcurrentStreams?: number;
  /** Pushes waiting for a stream at most; more fail at once (retryable). Default 10,000. */
  readonly maxQueued?: number;
  /** One request, from stream open to the end of the answer. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** Connecting (TCP, TLS, SETTINGS). Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** A connection unused this long is closed (and reopened on the next push). Default 10 min. */
  readonly idleTimeoutMs?: number;
  /** How long to leave a token alone after 429 TooManyRequests. Default 10 min (fpush's). */
  readonly tokenThrottleMs?: number;
  /** How long to pause after 429 TooManyProviderTokenUpdates. Default 20 min. */
  readonly providerTokenPauseMs?: number;
  /**
   * Told when APNs closes a connection with GOAWAY: its HTTP/2 error code and Apple's reason
   * (`Shutdown`, `IdleTimeout`, ...: letters only, from the GOAWAY's JSON; null when absent).
   * For the operator's log: the sender itself never logs.
   */
  readonly onGoaway?: (code: number, reason: string | null) => void;
}

/** What the sender did, for metrics. */
export interface Http2ApnsSenderCounters {
  /** Connections opened, reconnects included. */
  readonly connections: number;
  /** GOAWAY frames received. */
  readonly goaways: number;
  /** Streams opened (a housekeeping retry opens a second one). */
  readonly requests: number;
  /** Housekeeping retries. */
  readonly retries: number;
  /** Requests that timed out. */
  readonly timeouts: number;
  /** Connections dropped because they stopped answering (a PING after a timeout went unanswered). */
  readonly deadConnections: number;
  /** Streams open now. */
  readonly inFlight: number;
  /** Pushes waiting for a stream now. */
  readonly queued: number;
}

/** Answers longer than this are cut off: APNs sends at most a small JSON object. */
const MAX_RESPONSE_BYTES = 4096;
const DEVICE_TOKEN = /^[0-9a-fA-F]{2,1024}$/;

/** A stream outcome plus what housekeeping needs to know. */
interface Attempt {
  readonly outcome: PushOutcome;
  /** The server never processed the stream (refused, or cut by GOAWAY): safe to resend. */
  readonly unprocessed?: boolean;
}

/** One connection and whether new streams may use it. */
interface Connection {
  readonly session: Http2ClientSession;
  usable: boolean;
  /** A PING is out to check the connection after a request timed out. */
  checking: boolean;
  /** Requests running on it now; once it is retired, they are counted in `#detached`. */
  streams: number;
}

/** How long a PING may go unanswered before the connection is taken for dead. */
const MAX_PING_WAIT_MS = 5000;

/** The provider token is a credential: the server must never keep it in its HPACK table. */
const SENSITIVE: ReadonlySet<string> = new Set(["authorization"]);
const encoder = new TextEncoder();

/** The APNs sender of one app: one multiplexed HTTP/2 connection. */
export class Http2ApnsSender {
  readonly #options: Required<
    Omit<Http2ApnsSenderOptions, "caCerts" | "serverName" | "onGoaway">
  >;
  readonly #onGoaway: ((code: number, reason: string | null) => void) | undefined;
  readonly #origin: string;
  readonly #hostname: string;
  readonly #port: number;
  readonly #serverName: string | undefined;
  readonly #caCerts: readonly string[] | undefined;
  #connection: Connection | null = null;
  #connecting: Promise<Connection> | null = null;
  /** Every connection not closed yet, retired ones with streams still running included. */
  readonly #open = new Set<Connection>();
  #closed = false;
  #inFlight = 0;
  /**
   * Of those, the requests still running on retired connections: they take no stream of the
   * current connection, so they must not keep pushes from it (after a GOAWAY, a slow stream
   * on the old connection held every new push back until it ended).
   */
  #detached = 0;
  readonly #waiters = new WaitQueue();
  #connections = 0;
  #goaways = 0;
  #requests = 0;
  #retries = 0;
  #timeouts = 0;
  #deadConnections = 0;
  /** Every request's deadline: one timer for all of them, not one per stream. */
  readonly #deadlines = new DeadlineQueue();

  constructor(options: Http2ApnsSenderOptions) {
    this.#onGoaway = options.onGoaway;
    this.#options = {
      environment: options.environment,
      providerToken: options.providerToken,
      baseUrl: options.baseUrl ?? APNS_HOSTS[options.environment],
      maxConcurrentStreams: options.maxConcurrentStreams ?? 1000,
      maxQueued: options.maxQueued ?? 10_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 10 * 60_000,
      tokenThrottleMs: options.tokenThrottleMs ?? 10 * 60_000,
      providerTokenPauseMs: options.providerTokenPauseMs ?? 20 * 60_000,
    };
    if (!(this.#options.maxConcurrentStreams >= 1)) {
      throw new RangeError("maxConcurrentStreams must be at least 1");
    }
    const url = new URL(this.#options.baseUrl);
    if (url.protocol !== "https:") throw new RangeError("APNs is reached over https only");
    this.#origin = url.origin;
    // An IPv6 literal comes bracketed in a URL, not in a socket address.
    this.#hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
    this.#port = url.port === "" ? 443 : Number(url.port);
    this.#serverName = options.serverName;
    this.#caCerts = options.caCerts;
  }

  /** The APNs origin this sender talks to (the environment's host, or the override). */
  get origin(): string {
    return this.#origin;
  }

  /** Counters for metrics. */
  get counters(): Http2ApnsSenderCounters {
    return {
      connections: this.#connections,
      goaways: this.#goaways,
      requests: this.#requests,
      retries: this.#retries,
      timeouts: this.#timeouts,
      deadConnections: this.#deadConnections,
      inFlight: this.#inFlight,
      queued: this.#waiters.size,
    };
  }

  /**
   * Pushes `payload` (JSON) with `headers` to the device `token` (hex). Resolves with the
   * outcome; never rejects.
   */
  async send(token: string, payload: string, headers: ApnsHeaders): Promise<PushOutcome> {
    if (!DEVICE_TOKEN.test(token)) {
      return { kind: "token-gone", status: null, reason: "BadDeviceToken" };
    }
    if (this.#closed) return failed(true, "sender closed");
    if (!(await this.#acquire())) {
      return failed(true, this.#closed ? "sender closed" : "too many pushes waiting for APNs");
    }
    try {
      let jwt = await this.#options.providerToken.current();
      let first = await this.#attempt(token, payload, headers, jwt);
      const outcome = first.outcome;
      if (outcome.kind !== "failed" || this.#closed) return outcome;
      if (outcome.reason === "ExpiredProviderToken") {
        const renewed = await this.#options.providerToken.renewAfterExpired(jwt);
        // No new JWT allowed yet (a clock off by an hour): sending again, now or after a
        // backoff, would send the same one. Not retryable; the publish is still a wait.
        if (renewed === null) return { ...outcome, retryable: false };
        jwt = renewed;
      } else if (!first.unprocessed && !RECONNECT_REASONS.has(outcome.reason)) {
        return outcome;
      }
      this.#retries++;
      first = await this.#attempt(token, payload, headers, jwt);
      return first.outcome;
    } catch {
      // Signing failed (never expected once the key imported): not the push's fault.
      return failed(true, "provider token unavailable");
    } finally {
      this.#release();
    }
  }

  /** Closes every connection (streams running get a second to finish); later pushes fail. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake();
    await this.#connecting?.catch(() => null);
    this.#connection = null;
    this.#deadlines.stop();
    await Promise.all([...this.#open].map(({ session }) => {
      // A peer that never finishes its streams must not hold the close up for long.
      const timer = setTimeout(() => session.destroy("sender closed"), 1000);
      return session.close().finally(() => clearTimeout(timer));
    }));
  }

  async #attempt(
    token: string,
    payload: string,
    headers: ApnsHeaders,
    jwt: string,
  ): Promise<Attempt> {
    let connection: Connection;
    try {
      connection = await this.#connect();
    } catch (error) {
      return { outcome: failed(true, `cannot connect to APNs: ${describe(error)}`) };
    }
    const attempt = await this.#request(connection, token, payload, headers, jwt);
    const outcome = attempt.outcome;
    if (
      outcome.kind === "failed" &&
      (RECONNECT_REASONS.has(outcome.reason) || outcome.reason === "TooManyProviderTokenUpdates")
    ) {
      // Apple: that connection is done (IdleTimeout, Shutdown) or unusable for a while.
      this.#retire(connection);
    }
    return attempt;
  }

  #request(
    connection: Connection,
    token: string,
    payload: string,
    headers: ApnsHeaders,
    jwt: string,
  ): Promise<Attempt> {
    this.#requests++;
    const fields: HeaderField[] = [
      [":method", "POST"],
      [":path", `/3/device/${token}`],
      ["authorization", `bearer ${jwt}`],
      ["content-type", "application/json"],
      ["apns-topic", headers["apns-topic"]],
      ["apns-push-type", headers["apns-push-type"]],
      ["apns-priority", headers["apns-priority"]],
      ["apns-expiration", headers["apns-expiration"]],
    ];
    const collapseId = headers["apns-collapse-id"];
    if (collapseId !== undefined) fields.push(["apns-collapse-id", collapseId]);
    return new Promise<Attempt>((resolve) => {
      let streamId = 0;
      const timed: TimedRequest = {
        deadline: performance.now() + this.#options.requestTimeoutMs,
        settled: false,
        expire: () => {
          this.#timeouts++;
          connection.session.cancel(streamId);
          finish({ outcome: failed(true, "APNs did not answer in time") });
          this.#checkAlive(connection);
        },
      };
      const finish = (attempt: Attempt) => {
        if (timed.settled) return;
        timed.settled = true;
        connection.streams--;
        if (!connection.usable) this.#detached--;
        this.#deadlines.remove(timed);
        resolve(attempt);
      };
      connection.streams++;
      // Retired between #connect and here (another push's IdleTimeout, say): detached at once.
      if (!connection.usable) this.#detached++;
      streamId = connection.session.request(
        fields,
        encoder.encode(payload),
        (answer) => finish(this.#attemptOf(answer, connection)),
        SENSITIVE,
      );
      if (streamId === 0) {
        // The connection stopped taking streams between the check and the request.
        this.#retire(connection);
        finish({ outcome: failed(true, "APNs connection closing"), unprocessed: true });
        return;
      }
      this.#deadlines.add(timed);
    });
  }

  /**
   * After a timeout: is the connection itself dead? Then every push on it would time out too,
   * until TCP noticed, hours later. A PING tells; without its ACK the connection is dropped
   * (its streams fail, retryable) and the next push opens a new one.
   */
  #checkAlive(connection: Connection): void {
    if (connection.checking || !connection.usable) return;
    connection.checking = true;
    const wait = Math.min(this.#options.requestTimeoutMs, MAX_PING_WAIT_MS);
    connection.session.ping(wait).then((alive) => {
      connection.checking = false;
      if (alive || !connection.usable) return;
      this.#deadConnections++;
      this.#retire(connection);
      connection.session.destroy("APNs stopped answering");
    });
  }

  #attemptOf(answer: Http2Answer, connection: Connection): Attempt {
    if (answer.kind === "error") {
      return {
        outcome: failed(true, `APNs ${answer.reason}`),
        // A stream left unanswered by a connection that was going away (GOAWAY, then the
        // socket closed) is sent again too: a rare duplicate beats a lost push.
        unprocessed: answer.unprocessed || !connection.usable,
      };
    }
    let apnsId: string | null = null;
    for (const [name, value] of answer.headers) {
      if (name === "apns-id") apnsId = value;
    }
    return { outcome: this.#outcome(answer.status, answer.body, apnsId) };
  }

  #outcome(status: number, bytes: Uint8Array, apnsId: string | null): PushOutcome {
    let body: unknown = null;
    if (bytes.length > 0) {
      try {
        body = JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        body = null;
      }
    }
    return apnsOutcome(status, body, apnsId, this.#options);
  }

  /** The usable connection, opening one when there is none. */
  #connect(): Promise<Connection> {
    const current = this.#connection;
    if (current !== null && current.usable) return Promise.resolve(current);
    this.#connecting ??= this.#openConnection().finally(() => this.#connecting = null);
    return this.#connecting;
  }

  async #openConnection(): Promise<Connection> {
    this.#connections++;
    let connection: Connection | null = null;
    const session = await Http2ClientSession.connect({
      hostname: this.#hostname,
      port: this.#port,
      serverName: this.#serverName,
      caCerts: this.#caCerts,
      connectTimeoutMs: this.#options.connectTimeoutMs,
      maxResponseBytes: MAX_RESPONSE_BYTES,
      idleTimeoutMs: this.#options.idleTimeoutMs,
      onSettings: () => this.#wake(),
      onGoaway: (code, debugData) => {
        this.#goaways++;
        this.#onGoaway?.(code, goawayReason(debugData));
      },
      onRetired: () => {
        if (connection !== null) this.#retire(connection);
      },
      onClosed: () => {
        if (connection !== null) this.#open.delete(connection);
      },
    });
    connection = { session, usable: session.usable, checking: false, streams: 0 };
    if (this.#closed || !session.usable) {
      session.destroy("sender closed");
      throw new Error(this.#closed ? "sender closed" : "connection closed at once");
    }
    this.#open.add(connection);
    this.#connection = connection;
    return connection;
  }

  /** No new streams on `connection`; the ones running finish. */
  #retire(connection: Connection): void {
    if (connection.usable) {
      connection.usable = false;
      this.#detached += connection.streams;
    }
    if (this.#connection === connection) this.#connection = null;
    this.#wake();
  }

  /**
   * The stream limit of the current connection: ours, or the server's when lower; compared
   * with the pushes not running on a retired connection. 1 while no connection is open
   * (its limit is not known yet; the first push opens it and the rest follow its SETTINGS).
   */
  #limit(): number {
    const connection = this.#connection;
    if (connection === null) return 1;
    const remote = connection.session.maxConcurrentStreams;
    return Math.max(1, Math.min(this.#options.maxConcurrentStreams, remote));
  }

  /** Waits for a stream slot; false when the queue is full or the sender closed. */
  #acquire(): Promise<boolean> {
    if (this.#inFlight - this.#detached < this.#limit() && this.#waiters.size === 0) {
      this.#inFlight++;
      return Promise.resolve(true);
    }
    if (this.#waiters.size >= this.#options.maxQueued) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      this.#waiters.push(() => {
        if (this.#closed) return resolve(false);
        this.#inFlight++;
        resolve(true);
      });
    });
  }

  #release(): void {
    this.#inFlight--;
    this.#wake();
  }

  #wake(): void {
    while (
      this.#waiters.size > 0 && (this.#closed || this.#inFlight - this.#detached < this.#limit())
    ) {
      this.#waiters.shift()!();
    }
  }
}

/** A request that gives up at its deadline unless settled before. */
interface TimedRequest {
  readonly deadline: number;
  settled: boolean;
  readonly expire: () => void;
}

/**
 * The deadlines of running requests, under one timer. Every request gets the same timeout,
 * so insertion order is deadline order: the timer waits for the oldest only. A timer per
 * stream cost a Timeout object, its async id and a clearTimeout on every push.
 */
class DeadlineQueue {
  /** Insertion-ordered, O(1) removal when a request settles. */
  readonly #requests = new Set<TimedRequest>();
  #timer: ReturnType<typeof setTimeout> | null = null;

  add(request: TimedRequest): void {
    this.#requests.add(request);
    if (this.#timer === null) this.#arm(request.deadline);
  }

  remove(request: TimedRequest): void {
    this.#requests.delete(request);
    // Nothing left to time: no timer holding the event loop (or a test's sanitizer) up.
    if (this.#requests.size === 0) this.stop();
  }

  /** Clears the timer; the next {@link add} arms it again. */
  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(deadline: number): void {
    this.stop(); // never two timers, whatever an expiry started
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, deadline - performance.now()));
  }

  #expire(): void {
    this.#timer = null;
    const now = performance.now();
    for (const request of this.#requests) {
      if (request.deadline > now) return this.#arm(request.deadline);
      this.#requests.delete(request);
      request.expire();
    }
  }
}

/** A FIFO of waiters with O(1) shift (an array shift is O(n) on a 10,000-long queue). */
class WaitQueue {
  #items: Array<(() => void) | undefined> = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(item: () => void): void {
    this.#items.push(item);
  }

  shift(): (() => void) | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

/** Apple's reason in a GOAWAY's debug data (`{"reason":"Shutdown"}`), letters only, or null. */
export function goawayReason(debugData: Uint8Array): string | null {
  try {
    const reason = JSON.parse(new TextDecoder().decode(debugData))?.reason;
    return typeof reason === "string" && /^[A-Za-z]{1,64}$/.test(reason) ? reason : null;
  } catch {
    return null;
  }
}

function failed(retryable: boolean, reason: string, status: number | null = null): PushOutcome {
  return { kind: "failed", retryable, status, reason };
}

function describe(error: unknown): string {
  return error instanceof Error ? (error as { code?: string }).code ?? error.message : "error";
}
