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
  /** Where the TLS listener is (loopback); {@link TcpFront.setBackendPort} moves it. */
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
  /**
   * Relays by backend port and the backend connection's local port (`port/localPort`): how
   * the backend names a connection.
   */
  readonly #byBackend = new Map<string, Relay>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #backendPort: number;
  #accepts = true;
  #closed = false;

  constructor(options: TcpFrontOptions) {
    this.#options = options;
    this.#backendPort = options.backendPort;
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
   * The backend listening on `backendPort` completed the TLS handshake of the connection
   * whose backend side has local port `backendPeerPort` (the backend sees it as its remote
   * port): lift its deadline.
   */
  markReady(backendPort: number, backendPeerPort: number): void {
    const relay = this.#byBackend.get(`${backendPort}/${backendPeerPort}`);
    if (relay) clearTimeout(relay.deadline);
  }

  /** New connections go to `port` from now on; open ones stay where they are. */
  setBackendPort(port: number): void {
    this.#backendPort = port;
  }

  /** Stops accepting new connections; open ones go on until they end or {@link close}. */
  stopAccepting(): void {
    if (!this.#accepts) return;
    this.#accepts = false;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
  }

  /** Resolves once every connection has ended by itself, or after `timeoutMs`. */
  async drained(timeoutMs: number): Promise<void> {
    if (this.#tasks.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.#tasks]),
      new Promise((resolve) => timer = setTimeout(resolve, Math.max(0, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.stopAccepting();
    for (const relay of this.#relays) this.#drop(relay);
    await this.#accepting;
    await Promise.allSettled([...this.#tasks]);
  }

  async #acceptLoop(): Promise<void> {
    const { logger, maxConnections } = this.#options;
    while (this.#accepts) {
      let front: Deno.Conn;
      try {
        front = await this.#listener.accept();
      } catch (error) {
        if (!this.#accepts) return;
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
    const backendPort = this.#backendPort;
    try {
      back = await Deno.connect({ hostname: "127.0.0.1", port: backendPort });
    } catch (error) {
      this.#options.logger.error("device relay failed", { reason: String(error) });
      return;
    }
    relay.back = back;
    // A relay must not hold bytes back: with Nagle's algorithm on either side, each request
    // after the TLS handshake waited for a delayed ACK (40 ms) on loopback.
    setNoDelay(relay.front);
    setNoDelay(back);
    const key = `${backendPort}/${(back.localAddr as Deno.NetAddr).port}`;
    this.#byBackend.set(key, relay);
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
      this.#byBackend.delete(key);
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

/** Turns Nagle's algorithm off on a TCP connection (it may already be closed). */
function setNoDelay(conn: Deno.Conn): void {
  try {
    (conn as Deno.TcpConn).setNoDelay(true);
  } catch {
    // Closed meanwhile: the relay ends on its own.
  }
}
