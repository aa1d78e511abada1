/**
 * The device port: TLS (behind the plain TCP front of `tcp_front.ts`) speaking the
 * NUL-framed JSON protocol. Several requests per connection are answered in order. Every defence lives here: handshake and idle
 * timeouts, a frame size limit and a cap on concurrent connections, so that no client can
 * stall or crash the server or another client.
 *
 * @module
 */

import type { Logger } from "../../domain/ports.ts";
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
  readonly maxAccounts?: number;
  readonly maxFrameBytes?: number;
  readonly idleTimeoutMs?: number;
  readonly handshakeTimeoutMs?: number;
}

/** Defaults, chosen for the UWPX client's one-request-per-connection habit. */
export const DEVICE_SERVER_DEFAULTS = {
  maxConnections: 1024,
  maxAccounts: 32,
  maxFrameBytes: 64 * 1024,
  idleTimeoutMs: 60_000,
  handshakeTimeoutMs: 10_000,
} as const;

/** A running device port. */
export class DeviceServer {
  /** The TLS listener, on loopback only: devices reach it through the front. */
  readonly #listener: Deno.TlsListener;
  readonly #front: TcpFront;
  readonly #options: Required<DeviceServerOptions>;
  readonly #parse: ReturnType<typeof requestParser>;
  readonly #connections = new Set<Deno.TlsConn>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #closed = false;

  private constructor(listener: Deno.TlsListener, options: Required<DeviceServerOptions>) {
    this.#listener = listener;
    this.#options = options;
    this.#parse = requestParser(options.maxAccounts);
    try {
      this.#front = new TcpFront({
        hostname: options.hostname,
        port: options.port,
        backendPort: listener.addr.port,
        maxConnections: options.maxConnections,
        readyTimeoutMs: options.handshakeTimeoutMs,
        logger: options.logger,
      });
    } catch (error) {
      listener.close();
      throw error;
    }
    this.#accepting = this.#acceptLoop();
  }

  /** Binds the port and starts serving. */
  static listen(options: DeviceServerOptions): DeviceServer {
    const full = { ...DEVICE_SERVER_DEFAULTS, ...options } as Required<DeviceServerOptions>;
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: full.cert,
      key: full.key,
    });
    return new DeviceServer(listener, full);
  }

  /** The public address devices connect to. */
  get addr(): Deno.NetAddr {
    return this.#front.addr;
  }

  /** Open device connections. */
  get connectionCount(): number {
    return this.#front.connectionCount;
  }

  /** Stops accepting, closes open connections, and waits for their handlers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#front.close();
    this.#listener.close();
    for (const conn of this.#connections) closeQuietly(conn);
    await this.#accepting;
    await Promise.allSettled([...this.#tasks]);
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.TlsConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed) return;
        this.#options.logger.warn("device accept failed", { reason: String(error) });
        continue;
      }
      this.#connections.add(conn);
      const task = this.#serve(conn).finally(() => {
        this.#connections.delete(conn);
        closeQuietly(conn);
        this.#tasks.delete(task);
      });
      this.#tasks.add(task);
    }
  }

  async #serve(conn: Deno.TlsConn): Promise<void> {
    const { logger, idleTimeoutMs, maxFrameBytes } = this.#options;
    // The front closes the public side at the handshake deadline, which ends this one too.
    try {
      await conn.handshake();
    } catch {
      return; // Timed out or not TLS: nothing to answer.
    }
    this.#front.markReady(conn.remoteAddr.port);
    const decoder = new FrameDecoder(maxFrameBytes);
    const buffer = new Uint8Array(16 * 1024);
    // Always armed, reset by every read: also bounds a write to a peer that stopped reading.
    let idle = setTimeout(() => closeQuietly(conn), idleTimeoutMs);
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
        idle = setTimeout(() => closeQuietly(conn), idleTimeoutMs);
        let frames: Uint8Array[];
        try {
          frames = decoder.push(buffer.subarray(0, n));
        } catch (error) {
          if (!(error instanceof FrameTooLargeError)) throw error;
          await writeAll(conn, encodeFrame(errorResponse(2, error.message)));
          return;
        }
        for (const frame of frames) {
          const answer = await this.#answer(frame);
          await writeAll(conn, encodeFrame(answer));
        }
      }
    } catch (error) {
      // A write to a peer that went away; nothing to do but drop the connection.
      logger.debug("device connection ended", { reason: String(error) });
    } finally {
      clearTimeout(idle);
    }
  }

  /** Answers one frame; never throws. */
  async #answer(frame: Uint8Array): Promise<string> {
    const parsed = this.#parse(frame);
    if (!parsed.ok) {
      this.#options.logger.info("device request rejected", { reason: parsed.error });
      return errorResponse(parsed.version, parsed.error);
    }
    try {
      return await this.#dispatch(parsed.request);
    } catch (error) {
      this.#options.logger.error("device request failed", { reason: String(error) });
      return errorResponse(parsed.request.version, "internal error");
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
