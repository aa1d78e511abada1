/**
 * The device port: TLS speaking the NUL-framed JSON protocol. Several requests per
 * connection are answered in order. Every defence lives here: caps on concurrent
 * connections (in all, per address and per network prefix), handshake, idle and frame
 * timeouts and a frame size limit, so that no client can stall or crash the server or
 * another client. A connection earns its slot: when all are taken, the one that went
 * longest without a request gives its slot to the newcomer.
 *
 * Built on `node:net` and `node:tls` rather than `Deno.listenTls`, for two reasons measured
 * here: a `Deno.TlsConn` cannot be closed while its handshake is pending (a client that
 * connects and says nothing would hold its socket forever), and it offers no way to turn
 * Nagle's algorithm off, so every answer after the handshake waited 40 ms for a delayed ACK.
 *
 * @module
 */

import { settlesWithin } from "../../lib/timeout.ts";
import type { DeviceRequestLimiter, DeviceUseCases } from "../../domain/ports/device_use_cases.ts";
import type { DeviceMetrics, LimitName } from "../../domain/ports/metrics.ts";
import type { LogFields, Logger } from "../../domain/ports/logging.ts";
import {
  accountsResponse,
  type DeviceRequest,
  errorResponse,
  requestParser,
  successResponse,
} from "./device_protocol.ts";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { ConnectionSources, prefixOf, sourceOf } from "./connection_sources.ts";
import { encodeFrame, FrameDecoder, FrameTooLargeError } from "./frame_decoder.ts";

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
  /** Concurrent connections from one IPv4 /24 or IPv6 /56; 0: no such limit. */
  readonly maxConnectionsPerPrefix?: number;
  /** A frame must be complete this long after its first byte, or the connection closes. */
  readonly frameTimeoutMs?: number;
  /**
   * When every slot is taken, a connection without a request for at least this long is
   * closed to admit a new one (the one idle longest); 0: never, the new one is refused.
   */
  readonly evictIdleAfterMs?: number;
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
  maxConnectionsPerPrefix: 0,
  frameTimeoutMs: 10_000,
  evictIdleAfterMs: 5_000,
  maxAccounts: 64,
  maxFrameBytes: 64 * 1024,
  idleTimeoutMs: 60_000,
  handshakeTimeoutMs: 10_000,
} as const;

/** An open device connection: busy while a request is arriving or being answered. */
interface Connection {
  /** The TCP socket; destroying it ends everything. */
  readonly socket: Socket;
  readonly decoder: FrameDecoder;
  /** Set once the TLS handshake is done. */
  tls?: TLSSocket;
  answering: boolean;
  /** Ended on our side (close_notify and FIN sent); the socket goes once the peer closes. */
  ending: boolean;
  /** What it counts against in the per-address and per-prefix caps. */
  readonly source: string;
  readonly prefix: string;
  /** When it was accepted or last sent a request (epoch ms). */
  lastRequestAt: number;
  /** Still counted in the connection caps (false once closed or evicted). */
  counted: boolean;
}

/** A running device port. */
export class DeviceServer {
  readonly #server: Server;
  readonly #options: Required<DeviceServerOptions>;
  readonly #parse: ReturnType<typeof requestParser>;
  readonly #addr: Deno.NetAddr;
  readonly #sources: ConnectionSources;
  readonly #prefixes: ConnectionSources;
  #context: SecureContext;
  /** In order of their last request: the first is the one idle longest. */
  readonly #connections = new Set<Connection>();
  readonly #tasks = new Set<Promise<void>>();
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(
    server: Server,
    context: SecureContext,
    options: Required<DeviceServerOptions>,
  ) {
    this.#server = server;
    this.#context = context;
    this.#options = options;
    this.#parse = requestParser(options.maxAccounts);
    this.#sources = new ConnectionSources(options.maxConnectionsPerAddress);
    this.#prefixes = new ConnectionSources(options.maxConnectionsPerPrefix);
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("not a TCP listener");
    this.#addr = { transport: "tcp", hostname: address.address, port: address.port };
    server.on("connection", (socket: Socket) => this.#accept(socket));
    // Accept failures (out of file descriptors, say) must not end the process.
    server.on("error", (error: Error) => {
      options.logger.warn("device accept failed", { reason: String(error) });
    });
  }

  /**
   * Binds the port and starts serving. Rejects if the certificate or key is unusable or the
   * port cannot be bound.
   */
  static async listen(options: DeviceServerOptions): Promise<DeviceServer> {
    const full = { ...DEVICE_SERVER_DEFAULTS, ...options } as Required<DeviceServerOptions>;
    const context = secureContextOf(full.cert, full.key);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: full.hostname, port: full.port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return new DeviceServer(server, context, full);
  }

  /** The public address devices connect to. */
  get addr(): Deno.NetAddr {
    return this.#addr;
  }

  /** Open device connections, those still in their TLS handshake included. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Serves new connections with a new certificate chain and key (PEM); open connections
   * keep theirs. Throws, and keeps the old certificate, if the new one is not usable.
   */
  reloadCertificate(cert: string, key: string): void {
    if (this.#closed) throw new Error("the device port is closed");
    this.#context = secureContextOf(cert, key);
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
    const deadline = Date.now() + graceMs;
    const listenerClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const connection of this.#connections) {
      if (!connection.tls) connection.socket.destroy();
      else if (!isBusy(connection)) endConnection(connection);
    }
    if (graceMs > 0) {
      await settledWithin([...this.#tasks], graceMs);
      // The last answers may still be on their way out.
      await this.#allClosedWithin(deadline - Date.now());
    }
    for (const connection of this.#connections) connection.socket.destroy();
    await settledWithin([listenerClosed], ABANDON_AFTER_MS);
    // A handler still waiting for a use case past the deadline is left to finish alone: it
    // will find its connection closed.
    await settledWithin([...this.#tasks], ABANDON_AFTER_MS);
  }

  /** Resolves once every connection has closed, or after `ms`. */
  async #allClosedWithin(ms: number): Promise<void> {
    const closes = [...this.#connections].map(({ socket }) =>
      new Promise<void>((resolve) => {
        if (socket.destroyed) resolve();
        else socket.once("close", () => resolve());
      })
    );
    await settledWithin(closes, ms);
  }

  #accept(socket: Socket): void {
    // Resets and the like; the "close" that follows does the cleaning up.
    socket.on("error", ignore);
    const { maxConnections, maxConnectionsPerAddress, maxConnectionsPerPrefix } = this.#options;
    if (this.#closed) {
      socket.destroy();
      return;
    }
    // The per-source caps first: a refused newcomer must not cost anyone else a slot.
    const source = sourceOf(socket.remoteAddress ?? "");
    const prefix = prefixOf(socket.remoteAddress ?? "");
    if (!this.#sources.tryAdd(source)) {
      this.#reportLimit("connections_per_address", { max: maxConnectionsPerAddress });
      socket.destroy();
      return;
    }
    if (!this.#prefixes.tryAdd(prefix)) {
      this.#sources.remove(source);
      this.#reportLimit("connections_per_prefix", { max: maxConnectionsPerPrefix });
      socket.destroy();
      return;
    }
    if (this.#connections.size >= maxConnections && !this.#evictIdlest()) {
      this.#sources.remove(source);
      this.#prefixes.remove(prefix);
      this.#reportLimit("connections", { max: maxConnections });
      socket.destroy();
      return;
    }
    // Answers go out at once: with Nagle's algorithm, the answer following the server's
    // handshake flight waited for the client's delayed ACK.
    socket.setNoDelay(true);
    const connection: Connection = {
      socket,
      decoder: new FrameDecoder(this.#options.maxFrameBytes),
      answering: false,
      ending: false,
      source,
      prefix,
      lastRequestAt: Date.now(),
      counted: true,
    };
    this.#connections.add(connection);
    socket.once("close", () => this.#forget(connection));
    const task = this.#serve(connection)
      .catch((error) => {
        // A write to a peer that went away; nothing to do but drop the connection.
        this.#options.logger.debug("device connection ended", { reason: String(error) });
      })
      .finally(() => {
        if (!connection.ending) socket.destroy();
        this.#tasks.delete(task);
      });
    this.#tasks.add(task);
  }

  /** Takes a closed or evicted connection out of the caps; idempotent. */
  #forget(connection: Connection): void {
    if (!connection.counted) return;
    connection.counted = false;
    this.#connections.delete(connection);
    this.#sources.remove(connection.source);
    this.#prefixes.remove(connection.prefix);
  }

  /** A request arrived on `connection`: it moves to the end of the eviction order. */
  #touch(connection: Connection): void {
    if (!connection.counted) return;
    connection.lastRequestAt = Date.now();
    this.#connections.delete(connection);
    this.#connections.add(connection);
  }

  /**
   * Closes the connection idle longest, if it has been for `evictIdleAfterMs`, to make room;
   * false when none may go. One being answered is never closed.
   */
  #evictIdlest(): boolean {
    const { evictIdleAfterMs } = this.#options;
    if (evictIdleAfterMs <= 0) return false;
    const now = Date.now();
    for (const connection of this.#connections) {
      if (connection.answering) continue;
      // The set is ordered by last request: if this one is too recent, so are the rest.
      if (now - connection.lastRequestAt < evictIdleAfterMs) return false;
      this.#options.reportLimit?.("connection_evicted", {
        idleMs: now - connection.lastRequestAt,
      });
      connection.socket.destroy();
      this.#forget(connection);
      return true;
    }
    return false;
  }

  async #serve(connection: Connection): Promise<void> {
    const { socket, decoder } = connection;
    const { idleTimeoutMs, handshakeTimeoutMs, frameTimeoutMs } = this.#options;
    const tls = new TLSSocket(socket, { isServer: true, secureContext: this.#context });
    tls.on("error", () => socket.destroy());
    const deadline = setTimeout(() => {
      this.#reportLimit("handshake_timeout", { timeoutMs: handshakeTimeoutMs });
      socket.destroy();
    }, handshakeTimeoutMs);
    const secured = await new Promise<boolean>((resolve) => {
      tls.once("secure", () => resolve(true));
      socket.once("close", () => resolve(false));
    });
    clearTimeout(deadline);
    if (!secured || this.#closed || socket.destroyed) return;
    connection.tls = tls;
    // Always armed, reset by every read: also bounds a write to a peer that stopped reading.
    const onIdle = () => {
      this.#options.reportLimit?.("idle_timeout", { timeoutMs: idleTimeoutMs });
      socket.destroy();
    };
    let idle = setTimeout(onIdle, idleTimeoutMs);
    // Armed by a frame's first byte: a frame trickled in byte by byte must still end in time.
    let frameDeadline: ReturnType<typeof setTimeout> | undefined;
    const onFrameTimeout = () => {
      this.#options.reportLimit?.("frame_timeout", { timeoutMs: frameTimeoutMs });
      socket.destroy();
    };
    try {
      while (true) {
        const chunk = await nextChunk(tls);
        if (chunk === null) return;
        clearTimeout(idle);
        idle = setTimeout(onIdle, idleTimeoutMs);
        let frames: Uint8Array[];
        try {
          frames = decoder.push(chunk);
        } catch (error) {
          if (!(error instanceof FrameTooLargeError)) throw error;
          this.#options.metrics?.deviceRequest("invalid", "refused");
          this.#options.reportLimit?.("frame_size", { max: this.#options.maxFrameBytes });
          await write(tls, encodeFrame(errorResponse(2, error.message)));
          endConnection(connection);
          return;
        }
        if (frames.length > 0) {
          clearTimeout(frameDeadline);
          frameDeadline = undefined;
        }
        if (decoder.pendingBytes > 0 && frameDeadline === undefined) {
          frameDeadline = setTimeout(onFrameTimeout, frameTimeoutMs);
        }
        connection.answering = frames.length > 0;
        for (const frame of frames) {
          const answer = await this.#answer(frame, connection);
          if (socket.destroyed) return;
          await write(tls, encodeFrame(answer.text));
          if (answer.close) {
            // Told to slow down too often: the connection ends, after its answer.
            endConnection(connection);
            return;
          }
        }
        connection.answering = false;
        // Shutting down: this connection's requests are answered; nothing new is taken.
        if (this.#closed && !isBusy(connection)) {
          endConnection(connection);
          return;
        }
      }
    } finally {
      clearTimeout(idle);
      clearTimeout(frameDeadline);
    }
  }

  /** Tells the configured reporter of a limit hit, or logs it. */
  #reportLimit(
    limit:
      | "connections"
      | "connections_per_address"
      | "connections_per_prefix"
      | "handshake_timeout",
    fields: LogFields,
  ): void {
    const { reportLimit, logger } = this.#options;
    if (reportLimit) reportLimit(limit, fields);
    else if (limit === "handshake_timeout") logger.debug(FALLBACK_MESSAGES[limit]);
    else logger.warn(FALLBACK_MESSAGES[limit], fields);
  }

  /** Answers one frame received on `connection`; never throws. */
  async #answer(
    frame: Uint8Array,
    connection: Connection,
  ): Promise<{ text: string; close: boolean }> {
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
      // Not a request: it earns the connection no slot (see #evictIdlest).
      metrics?.deviceRequest("invalid", "refused");
      if (parsed.limit) this.#options.reportLimit?.(parsed.limit);
      this.#options.logger.info("device request rejected", { reason: parsed.error });
      return { text: errorResponse(parsed.version, parsed.error), close: false };
    }
    this.#touch(connection);
    try {
      const address = connection.socket.remoteAddress;
      return { text: await this.#dispatch(parsed.request, address), close: false };
    } catch (error) {
      this.#options.logger.error("device request failed", { reason: String(error) });
      return { text: errorResponse(parsed.request.version, "internal error"), close: false };
    }
  }

  async #dispatch(request: DeviceRequest, address: string | undefined): Promise<string> {
    const { useCases } = this.#options;
    const { version } = request;
    switch (request.action) {
      case "set_channel_uri": {
        const result = await useCases.setChannelUri(
          request.deviceId,
          request.channelUri,
          version,
          address,
        );
        return result.ok ? successResponse(version) : errorResponse(version, result.error);
      }
      case "set_push_accounts": {
        const result = await useCases.setPushAccounts(
          request.deviceId,
          request.accountIds,
          address,
        );
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
  await settlesWithin(Promise.allSettled(promises), ms);
}

/** What is logged of a connection limit when nobody is told of them. */
const FALLBACK_MESSAGES = {
  connections: "device connection refused: too many connections",
  connections_per_address: "device connection refused: too many connections from its address",
  connections_per_prefix: "device connection refused: too many connections from its network",
  handshake_timeout: "device connection closed: no TLS handshake in time",
} as const;

/** How long a connection we ended may wait for the peer to close its side. */
const LINGER_MS = 2000;

/**
 * A TLS context for the certificate chain and key (PEM). Throws if either does not parse
 * or the key is not the certificate's: `node:tls` would only fail at the first handshake.
 */
function secureContextOf(cert: string, key: string): SecureContext {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`unusable TLS certificate: ${messageOf(error)}`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new Error(`unusable TLS private key: ${messageOf(error)}`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new Error("the TLS private key is not the certificate's key");
  }
  return createSecureContext({ cert, key, minVersion: "TLSv1.2" });
}

/** A request is arriving (part of a frame is buffered) or being answered. */
function isBusy(connection: Connection): boolean {
  return connection.answering || connection.decoder.pendingBytes > 0;
}

/**
 * Sends close_notify and FIN after what is queued; the socket closes when the peer closes
 * its side, or {@link LINGER_MS} later.
 */
function endConnection(connection: Connection): void {
  if (connection.ending) return;
  connection.ending = true;
  const { socket, tls } = connection;
  if (!tls) {
    socket.destroy();
    return;
  }
  tls.end();
  const linger = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once("close", () => clearTimeout(linger));
}

/** The next chunk the peer sent, or null once the stream has ended or was destroyed. */
async function nextChunk(stream: TLSSocket): Promise<Uint8Array | null> {
  while (true) {
    const chunk: Uint8Array | null = stream.read();
    if (chunk !== null) return chunk;
    if (stream.readableEnded || stream.destroyed) return null;
    await new Promise<void>((resolve) => {
      const done = () => {
        stream.off("readable", done);
        stream.off("end", done);
        stream.off("close", done);
        resolve();
      };
      stream.on("readable", done);
      stream.on("end", done);
      stream.on("close", done);
    });
  }
}

/** Queues `bytes`; when the peer is not reading, waits until it drains or the socket goes. */
async function write(stream: TLSSocket, bytes: Uint8Array): Promise<void> {
  if (stream.write(bytes)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function ignore(): void {}
