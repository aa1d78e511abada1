/**
 * The public side of the device port: a plain TCP listener that relays each connection to
 * the TLS listener on loopback.
 *
 * Why: Deno's TLS streams cannot be torn down while a handshake is pending (closing a
 * `TlsConn` mid-handshake leaves its socket open until the peer finishes), so a client that
 * connects and says nothing would hold a socket forever. Plain TCP sockets close at once,
 * so the connection cap and the handshake deadline are enforced here, before TLS.
 *
 * @module
 */

import type { Logger } from "../../domain/ports.ts";

/** Settings of the front. */
export interface TcpFrontOptions {
  readonly hostname: string;
  readonly port: number;
  /** Where the TLS listener is (loopback). */
  readonly backendPort: number;
  readonly maxConnections: number;
  /** A connection not marked ready this soon after accept is closed. */
  readonly readyTimeoutMs: number;
  readonly logger: Logger;
}

interface Relay {
  readonly front: Deno.Conn;
  back?: Deno.Conn;
  deadline?: ReturnType<typeof setTimeout>;
}

/** Accepts public connections and relays them to the backend. */
export class TcpFront {
  readonly #options: TcpFrontOptions;
  readonly #listener: Deno.Listener;
  readonly #relays = new Set<Relay>();
  /** Relays by the backend connection's local port: how the backend names a connection. */
  readonly #byBackendPort = new Map<number, Relay>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #closed = false;

  constructor(options: TcpFrontOptions) {
    this.#options = options;
    this.#listener = Deno.listen({ hostname: options.hostname, port: options.port });
    this.#accepting = this.#acceptLoop();
  }

  /** The public address. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr as Deno.NetAddr;
  }

  /** Open public connections. */
  get connectionCount(): number {
    return this.#relays.size;
  }

  /**
   * The backend completed the TLS handshake of the connection whose backend side has local
   * port `backendPeerPort` (the backend sees it as its remote port): lift its deadline.
   */
  markReady(backendPeerPort: number): void {
    const relay = this.#byBackendPort.get(backendPeerPort);
    if (relay) clearTimeout(relay.deadline);
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    for (const relay of this.#relays) this.#drop(relay);
    await this.#accepting;
    await Promise.allSettled([...this.#tasks]);
  }

  async #acceptLoop(): Promise<void> {
    const { logger, maxConnections } = this.#options;
    while (!this.#closed) {
      let front: Deno.Conn;
      try {
        front = await this.#listener.accept();
      } catch (error) {
        if (this.#closed) return;
        logger.warn("device accept failed", { reason: String(error) });
        continue;
      }
      if (this.#relays.size >= maxConnections) {
        logger.warn("device connection refused: too many connections", { limit: maxConnections });
        closeQuietly(front);
        continue;
      }
      const relay: Relay = { front };
      this.#relays.add(relay);
      relay.deadline = setTimeout(() => this.#drop(relay), this.#options.readyTimeoutMs);
      const task = this.#relay(relay).finally(() => {
        this.#drop(relay);
        this.#relays.delete(relay);
        this.#tasks.delete(task);
      });
      this.#tasks.add(task);
    }
  }

  async #relay(relay: Relay): Promise<void> {
    let back: Deno.Conn;
    try {
      back = await Deno.connect({ hostname: "127.0.0.1", port: this.#options.backendPort });
    } catch (error) {
      this.#options.logger.error("device relay failed", { reason: String(error) });
      return;
    }
    relay.back = back;
    const port = (back.localAddr as Deno.NetAddr).port;
    this.#byBackendPort.set(port, relay);
    if (this.#closed || !this.#relays.has(relay)) return;
    try {
      // Either direction ending ends the connection: the device protocol has no half-close.
      await Promise.race([
        relay.front.readable.pipeTo(back.writable, { preventClose: true }),
        back.readable.pipeTo(relay.front.writable, { preventClose: true }),
      ]);
    } catch {
      // A reset or a close from the other side.
    } finally {
      this.#byBackendPort.delete(port);
    }
  }

  #drop(relay: Relay): void {
    clearTimeout(relay.deadline);
    closeQuietly(relay.front);
    if (relay.back) closeQuietly(relay.back);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
