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

import type { LogFields, Logger } from "../../domain/ports.ts";

/** Settings of the front. */
export interface TcpFrontOptions {
  readonly hostname: string;
  readonly port: number;
  /** Where the TLS listener is (loopback); {@link TcpFront.setBackendPort} moves it. */
  readonly backendPort: number;
  readonly maxConnections: number;
  /**
   * Concurrent connections from one source (an IPv4 address, an IPv6 /64: see
   * {@link sourceOf}); more are refused. 0: no such limit.
   */
  readonly maxConnectionsPerSource?: number;
  /** A connection not marked ready this soon after accept is closed. */
  readonly readyTimeoutMs: number;
  readonly logger: Logger;
  /** Told of refused connections and handshake deadlines; without it, they are logged. */
  readonly reportLimit?: (
    limit: "connections" | "connections_per_address" | "handshake_timeout",
    fields?: LogFields,
  ) => void;
}

interface Relay {
  readonly front: Deno.Conn;
  /** The source it counts against. */
  readonly source: string;
  back?: Deno.Conn;
  deadline?: ReturnType<typeof setTimeout>;
}

/** Accepts public connections and relays them to the backend. */
export class TcpFront {
  readonly #options: TcpFrontOptions;
  readonly #listener: Deno.Listener;
  readonly #relays = new Set<Relay>();
  /** Open connections per source. */
  readonly #perSource = new Map<string, number>();
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
        this.#report("connections", { max: maxConnections });
        closeQuietly(front);
        continue;
      }
      const source = sourceOf((front.remoteAddr as Deno.NetAddr).hostname);
      const fromSource = this.#perSource.get(source) ?? 0;
      const perSource = this.#options.maxConnectionsPerSource ?? 0;
      if (perSource > 0 && fromSource >= perSource) {
        this.#report("connections_per_address", { max: perSource });
        closeQuietly(front);
        continue;
      }
      this.#perSource.set(source, fromSource + 1);
      const relay: Relay = { front, source };
      this.#relays.add(relay);
      relay.deadline = setTimeout(() => {
        this.#report("handshake_timeout", { timeoutMs: this.#options.readyTimeoutMs });
        this.#drop(relay);
      }, this.#options.readyTimeoutMs);
      const task = this.#relay(relay).finally(() => {
        this.#drop(relay);
        this.#relays.delete(relay);
        const left = (this.#perSource.get(source) ?? 1) - 1;
        if (left > 0) this.#perSource.set(source, left);
        else this.#perSource.delete(source);
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
      await Promise.race([pump(relay.front, back), pump(back, relay.front)]);
    } catch {
      // A reset or a close from the other side.
    } finally {
      this.#byBackend.delete(key);
    }
  }

  #report(
    limit: "connections" | "connections_per_address" | "handshake_timeout",
    fields: LogFields,
  ): void {
    if (this.#options.reportLimit) this.#options.reportLimit(limit, fields);
    else if (limit === "handshake_timeout") this.#options.logger.debug(FALLBACK_MESSAGES[limit]);
    else this.#options.logger.warn(FALLBACK_MESSAGES[limit], fields);
  }

  #drop(relay: Relay): void {
    clearTimeout(relay.deadline);
    closeQuietly(relay.front);
    if (relay.back) closeQuietly(relay.back);
  }
}

/** What is logged of a limit when nobody is told of them. */
const FALLBACK_MESSAGES = {
  connections: "device connection refused: too many connections",
  connections_per_address: "device connection refused: too many connections from its address",
  handshake_timeout: "device connection closed: no TLS handshake in time",
} as const;

/**
 * The source a connection counts against for the per-address limit: an IPv4 address
 * (IPv4-mapped IPv6 ones included), or an IPv6 address's /64 prefix, since one host
 * commonly holds a whole /64.
 */
export function sourceOf(hostname: string): string {
  const address = hostname.replace(/^\[|\]$/g, "").replace(/%.*$/, "").toLowerCase();
  if (!address.includes(":")) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (mapped) return mapped[1];
  const [head, tail = ""] = address.split("::", 2);
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = address.includes("::") && tail !== "" ? tail.split(":") : [];
  const groups = address.includes("::")
    ? [
      ...headGroups,
      ...Array(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill("0"),
      ...tailGroups,
    ]
    : headGroups;
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/**
 * Bytes copied per read in each direction. Each open connection holds one such buffer per
 * direction for as long as it is open; `readable.pipeTo` held a 64 KiB one per direction
 * (128 KiB per connection: 128 MB at the default 1,024 connections, before any TLS).
 */
const RELAY_BUFFER_BYTES = 16 * 1024;

/** Copies `from` to `to` until `from` ends; throws when either side fails or is closed. */
async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(RELAY_BUFFER_BYTES);
  while (true) {
    const n = await from.read(buffer);
    if (n === null) return;
    for (let sent = 0; sent < n;) sent += await to.write(buffer.subarray(sent, n));
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
