/**
 * The device port: TLS (behind the plain TCP front of `tcp_front.ts`) speaking the
 * NUL-framed JSON protocol. Several requests per connection are answered in order. Every defence lives here: handshake and idle
 * timeouts, a frame size limit and a cap on concurrent connections, so that no client can
 * stall or crash the server or another client.
 *
 * @module
 */

import type { DeviceMetrics, LimitName } from "../../app/metrics.ts";
import type { LogFields, Logger } from "../../domain/ports.ts";
import {
  type AccountAnswer,
  accountsResponse,
  type DeviceRequest,
  errorResponse,
  requestParser,
  successResponse,
} from "./device_protocol.ts";
import { encodeFrame, FrameDecoder, FrameTooLargeError } from "./frame_decoder.ts";
import { TcpFront } from "./tcp_front.ts";

/** The use cases the device port calls (implemented by `app/device_service.ts`). */
export interface DeviceUseCases {
  setChannelUri(
    deviceId: string,
    channelUri: string,
    version: number,
  ): Promise<{ ok: true } | { ok: false; error: string }>;
  setPushAccounts(deviceId: string, accountIds: readonly string[]): Promise<
    | {
      ok: true;
      value: { pushBareJid: string; accounts: readonly AccountAnswer[] };
    }
    | { ok: false; error: string }
  >;
  requestTestPush(deviceId: string): Promise<{ ok: true } | { ok: false; error: string }>;
}

/** A request over a limit: the error the device is told, and whether its connection ends. */
export interface LimitRefusal {
  readonly error: string;
  readonly close: boolean;
}

/** Request rate limits (implemented by `app/device_limits.ts`). */
export interface DeviceRequestLimiter {
  /**
   * A frame arrived on `connection` (an object standing for it, the same for its whole
   * life): null to answer it, or a refusal.
   */
  admitFrame(connection: object): LimitRefusal | null;
  /** A valid request for `deviceId` arrived on `connection`: null to answer it. */
  admitRequest(connection: object, deviceId: string): LimitRefusal | null;
}

/** Settings of the device port. */
export interface DeviceServerOptions {
  readonly hostname: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** PEM certificate chain and private key. */
  readonly cert: string;
  readonly key: string;
  readonly useCases: DeviceUseCases;
  readonly logger: Logger;
  readonly maxConnections?: number;
  /** Concurrent connections from one address (IPv6: one /64); 0: no such limit. */
  readonly maxConnectionsPerAddress?: number;
  readonly maxAccounts?: number;
  readonly maxFrameBytes?: number;
  readonly idleTimeoutMs?: number;
  readonly handshakeTimeoutMs?: number;
  /** Counts requests refused before they reach the use cases (unparsable frames). */
  readonly metrics?: Pick<DeviceMetrics, "deviceRequest">;
  /** Request rates; none by default. */
  readonly requestLimiter?: DeviceRequestLimiter;
  /** Told when a connection, a frame or a request hits a limit; without it, nothing is. */
  readonly reportLimit?: (limit: LimitName, fields?: LogFields) => void;
}

/** Defaults, chosen for the UWPX client's one-request-per-connection habit. */
export const DEVICE_SERVER_DEFAULTS = {
  maxConnections: 1024,
  maxConnectionsPerAddress: 0,
  maxAccounts: 32,
  maxFrameBytes: 64 * 1024,
  idleTimeoutMs: 60_000,
  handshakeTimeoutMs: 10_000,
} as const;

/** One TLS listener on loopback, behind the front. A certificate reload adds one. */
interface Backend {
  readonly listener: Deno.TlsListener;
  readonly port: number;
  accepting?: Promise<void>;
  /** Closes a replaced listener once the front can no longer hand it connections. */
  retireTimer?: ReturnType<typeof setTimeout>;
  retired: boolean;
}

/** An open device connection: busy while a request is arriving or being answered. */
interface Connection {
  readonly decoder: FrameDecoder;
  answering: boolean;
}

/** A running device port. */
export class DeviceServer {
  readonly #front: TcpFront;
  readonly #options: Required<DeviceServerOptions>;
  readonly #parse: ReturnType<typeof requestParser>;
  /** TLS listeners still accepting: the current one, and replaced ones for a short while. */
  readonly #backends = new Set<Backend>();
  #current: Backend;
  readonly #connections = new Map<Deno.TlsConn, Connection>();
  readonly #tasks = new Set<Promise<void>>();
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(listener: Deno.TlsListener, options: Required<DeviceServerOptions>) {
    this.#options = options;
    this.#parse = requestParser(options.maxAccounts);
    try {
      this.#front = new TcpFront({
        hostname: options.hostname,
        port: options.port,
        backendPort: listener.addr.port,
        maxConnections: options.maxConnections,
        maxConnectionsPerSource: options.maxConnectionsPerAddress,
        readyTimeoutMs: options.handshakeTimeoutMs,
        logger: options.logger,
        reportLimit: options.reportLimit,
      });
    } catch (error) {
      listener.close();
      throw error;
    }
    this.#current = this.#addBackend(listener);
  }

  /** Binds the port and starts serving. */
  static listen(options: DeviceServerOptions): DeviceServer {
    const full = { ...DEVICE_SERVER_DEFAULTS, ...options } as Required<DeviceServerOptions>;
    return new DeviceServer(listenLoopbackTls(full.cert, full.key), full);
  }

  /** The public address devices connect to. */
  get addr(): Deno.NetAddr {
    return this.#front.addr;
  }

  /** Open device connections. */
  get connectionCount(): number {
    return this.#front.connectionCount;
  }

  /**
   * Serves new connections with a new certificate chain and key (PEM); open connections
   * keep theirs. Throws, and keeps the old certificate, if the new one is not usable.
   */
  reloadCertificate(cert: string, key: string): void {
    if (this.#closed) throw new Error("the device port is closed");
    const next = this.#addBackend(listenLoopbackTls(cert, key));
    const previous = this.#current;
    this.#current = next;
    this.#front.setBackendPort(next.port);
    // The front may have connected to the old listener an instant ago: keep accepting there
    // for as long as the front would wait for such a connection's handshake.
    previous.retireTimer = setTimeout(
      () => this.#retire(previous),
      this.#options.handshakeTimeoutMs,
    );
  }

  /**
   * Stops accepting, then closes connections: idle ones at once, those with a request
   * arriving or being answered once it is answered, and any left after `graceMs` (default
   * 0: at once). Waits for every handler.
   */
  close(graceMs = 0): Promise<void> {
    this.#closing ??= this.#shutDown(graceMs);
    return this.#closing;
  }

  async #shutDown(graceMs: number): Promise<void> {
    this.#closed = true;
    this.#front.stopAccepting();
    for (const backend of this.#backends) this.#retire(backend);
    for (const [conn, state] of this.#connections) {
      if (!isBusy(state)) closeQuietly(conn);
    }
    if (graceMs > 0) {
      const deadline = Date.now() + graceMs;
      await settledWithin([...this.#tasks], graceMs);
      // The last answers may still be on their way through the front.
      await this.#front.drained(deadline - Date.now());
    }
    await this.#front.close();
    for (const conn of this.#connections.keys()) closeQuietly(conn);
    await Promise.all([...this.#backends].map((backend) => backend.accepting));
    // A handler still waiting for a use case past the deadline is left to finish alone: it
    // will find its connection closed.
    await settledWithin([...this.#tasks], ABANDON_AFTER_MS);
  }

  #addBackend(listener: Deno.TlsListener): Backend {
    const backend: Backend = { listener, port: listener.addr.port, retired: false };
    this.#backends.add(backend);
    backend.accepting = this.#acceptLoop(backend).finally(() => this.#backends.delete(backend));
    return backend;
  }

  /** Closes a listener; the connections it accepted go on. */
  #retire(backend: Backend): void {
    clearTimeout(backend.retireTimer);
    if (backend.retired) return;
    backend.retired = true;
    try {
      backend.listener.close();
    } catch {
      // Already closed.
    }
  }

  async #acceptLoop(backend: Backend): Promise<void> {
    while (!backend.retired) {
      let conn: Deno.TlsConn;
      try {
        conn = await backend.listener.accept();
      } catch (error) {
        if (backend.retired) return;
        this.#options.logger.warn("device accept failed", { reason: String(error) });
        continue;
      }
      const state: Connection = {
        decoder: new FrameDecoder(this.#options.maxFrameBytes),
        answering: false,
      };
      this.#connections.set(conn, state);
      const task = this.#serve(conn, backend.port, state).finally(() => {
        this.#connections.delete(conn);
        closeQuietly(conn);
        this.#tasks.delete(task);
      });
      this.#tasks.add(task);
    }
  }

  async #serve(conn: Deno.TlsConn, backendPort: number, state: Connection): Promise<void> {
    const { logger, idleTimeoutMs } = this.#options;
    // The front closes the public side at the handshake deadline, which ends this one too.
    try {
      await conn.handshake();
    } catch {
      return; // Timed out or not TLS: nothing to answer.
    }
    if (this.#closed) return;
    this.#front.markReady(backendPort, conn.remoteAddr.port);
    const { decoder } = state;
    const buffer = new Uint8Array(16 * 1024);
    // Always armed, reset by every read: also bounds a write to a peer that stopped reading.
    const onIdle = () => {
      this.#options.reportLimit?.("idle_timeout", { timeoutMs: idleTimeoutMs });
      closeQuietly(conn);
    };
    let idle = setTimeout(onIdle, idleTimeoutMs);
    try {
      while (true) {
        let n: number | null;
        try {
          n = await conn.read(buffer);
        } catch {
          return; // Reset, closed by a timeout, or a TLS error.
        }
        if (n === null) return;
        clearTimeout(idle);
        idle = setTimeout(onIdle, idleTimeoutMs);
        let frames: Uint8Array[];
        try {
          frames = decoder.push(buffer.subarray(0, n));
        } catch (error) {
          if (!(error instanceof FrameTooLargeError)) throw error;
          this.#options.metrics?.deviceRequest("invalid", "refused");
          this.#options.reportLimit?.("frame_size", { max: this.#options.maxFrameBytes });
          await writeAll(conn, encodeFrame(errorResponse(2, error.message)));
          return;
        }
        state.answering = frames.length > 0;
        for (const frame of frames) {
          const answer = await this.#answer(frame, state);
          await writeAll(conn, encodeFrame(answer.text));
          if (answer.close) {
            // Told to slow down too often: the connection ends, after its answer.
            await conn.closeWrite().catch(() => {});
            return;
          }
        }
        state.answering = false;
        // Shutting down: this connection's requests are answered; nothing new is taken.
        if (this.#closed && !isBusy(state)) {
          // close_notify first: it flushes the answer, which a bare close may drop.
          await conn.closeWrite().catch(() => {});
          return;
        }
      }
    } catch (error) {
      // A write to a peer that went away; nothing to do but drop the connection.
      logger.debug("device connection ended", { reason: String(error) });
    } finally {
      clearTimeout(idle);
    }
  }

  /** Answers one frame received on `connection`; never throws. */
  async #answer(frame: Uint8Array, connection: object): Promise<{ text: string; close: boolean }> {
    const parsed = this.#parse(frame);
    const { requestLimiter: limiter, metrics } = this.#options;
    const refusal = limiter?.admitFrame(connection) ??
      (parsed.ok ? limiter?.admitRequest(connection, parsed.request.deviceId) : null);
    if (refusal) {
      metrics?.deviceRequest(parsed.ok ? parsed.request.action : "invalid", "refused");
      const version = parsed.ok ? parsed.request.version : parsed.version;
      return { text: errorResponse(version, refusal.error), close: refusal.close };
    }
    if (!parsed.ok) {
      metrics?.deviceRequest("invalid", "refused");
      if (parsed.limit) this.#options.reportLimit?.(parsed.limit);
      this.#options.logger.info("device request rejected", { reason: parsed.error });
      return { text: errorResponse(parsed.version, parsed.error), close: false };
    }
    try {
      return { text: await this.#dispatch(parsed.request), close: false };
    } catch (error) {
      this.#options.logger.error("device request failed", { reason: String(error) });
      return { text: errorResponse(parsed.request.version, "internal error"), close: false };
    }
  }

  async #dispatch(request: DeviceRequest): Promise<string> {
    const { useCases } = this.#options;
    const { version } = request;
    switch (request.action) {
      case "set_channel_uri": {
        const result = await useCases.setChannelUri(
          request.deviceId,
          request.channelUri,
          version,
        );
        return result.ok ? successResponse(version) : errorResponse(version, result.error);
      }
      case "set_push_accounts": {
        const result = await useCases.setPushAccounts(request.deviceId, request.accountIds);
        return result.ok
          ? accountsResponse(version, result.value.pushBareJid, result.value.accounts)
          : errorResponse(version, result.error);
      }
      case "request_test_push": {
        const result = await useCases.requestTestPush(request.deviceId);
        return result.ok ? successResponse(version) : errorResponse(version, result.error);
      }
    }
  }
}

/** How long `close` waits for handlers after closing their connections. */
const ABANDON_AFTER_MS = 1000;

/** Waits until every promise settled, or `ms` passed. */
async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  if (promises.length === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.allSettled(promises),
    new Promise((resolve) => timer = setTimeout(resolve, Math.max(0, ms))),
  ]);
  clearTimeout(timer);
}

/** A TLS listener on a free loopback port; throws if the certificate or key is unusable. */
function listenLoopbackTls(cert: string, key: string): Deno.TlsListener {
  return Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
}

/** A request is arriving (part of a frame is buffered) or being answered. */
function isBusy(state: Connection): boolean {
  return state.answering || state.decoder.pendingBytes > 0;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
