/**
 * A loopback TCP proxy that tests can break: cut every connection (as a dropped network
 * would, without a clean stream close) and refuse new ones, or freeze the traffic of the
 * open ones (as a dead peer would), then restore it. TLS passes through untouched.
 *
 * @module
 */

/** A running proxy from {@link startTcpProxy}. */
export interface TcpProxy {
  /** The port to connect to instead of the target's. */
  readonly port: number;
  /** Closes every open connection at once and refuses new ones until {@link restore}. */
  cut(): void;
  /** Stops forwarding bytes on open connections (they stay open) until {@link restore}. */
  freeze(): void;
  /** Forwards again and accepts new connections. */
  restore(): void;
  /** How many connections were accepted (and forwarded) so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 to `127.0.0.1:targetPort`. */
export function startTcpProxy(targetPort: number): TcpProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const pipes = new Set<Promise<unknown>>();
  let state = "up" as "up" | "cut" | "frozen";
  let thaw: (() => void) | undefined;
  let thawed = Promise.resolve();
  let accepted = 0;

  const closeConn = (conn: Deno.Conn) => {
    open.delete(conn);
    try {
      conn.close();
    } catch {
      // already closed
    }
  };

  /** Copies `from` to `to` until either ends, honouring freeze; then closes both. */
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(16 * 1024);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        await thawed;
        if (!open.has(to)) break;
        let offset = 0;
        while (offset < n) offset += await to.write(buffer.subarray(offset, n));
      }
    } catch {
      // a side went away
    } finally {
      closeConn(from);
      closeConn(to);
    }
  };

  const accepting = (async () => {
    for await (const client of listener) {
      if (state === "cut") {
        client.close();
        continue;
      }
      let server: Deno.Conn;
      try {
        server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      } catch {
        client.close();
        continue;
      }
      accepted++;
      open.add(client);
      open.add(server);
      for (const p of [pipe(client, server), pipe(server, client)]) {
        pipes.add(p);
        p.finally(() => pipes.delete(p));
      }
    }
  })();

  const unfreeze = () => {
    thaw?.();
    thaw = undefined;
    thawed = Promise.resolve();
  };

  return {
    port: (listener.addr as Deno.NetAddr).port,
    get accepted() {
      return accepted;
    },
    cut() {
      state = "cut";
      unfreeze();
      for (const conn of [...open]) closeConn(conn);
    },
    freeze() {
      state = "frozen";
      thawed = new Promise((resolve) => (thaw = resolve));
    },
    restore() {
      state = "up";
      unfreeze();
    },
    async close() {
      state = "cut";
      unfreeze();
      listener.close();
      for (const conn of [...open]) closeConn(conn);
      await accepting.catch(() => {});
      await Promise.allSettled([...pipes]);
    },
  };
}
