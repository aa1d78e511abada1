/**
 * Throwaway redis-server instances for storage tests.
 *
 * Each instance gets its own temp dir (AOF files, log) and a free loopback port, so several
 * can run at once. It listens on 127.0.0.1 only, saves no RDB snapshots, and keeps an
 * append-only file fsynced on every write, so {@link RunningRedis.restart} (and even a
 * restart after {@link RunningRedis.kill}) brings back every acknowledged write.
 *
 * Gate tests on `serverTestGate("redis-server")` from `./prosody.ts`: a missing binary is
 * a failure under CI and a skip elsewhere.
 *
 * @module
 */

import { findBinary, withTimeout } from "./server_kit.ts";

const LOOPBACK = "127.0.0.1";
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/** A redis-server started by {@link startRedis}. */
export interface RunningRedis {
  /** `redis[s]://[:password@]127.0.0.1:port` (the password percent-encoded). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The `--requirepass` password, if any. */
  readonly password: string | undefined;
  /** The server's working dir (AOF files, `redis.log`); kept across restarts. */
  readonly dir: string;
  /** Stops the server (SIGTERM, SIGKILL after a timeout) and removes its dir. Idempotent. */
  stop(): Promise<void>;
  /** Stops the server if it runs and starts it again on the same port with the same data. */
  restart(): Promise<void>;
  /** SIGKILLs the server (a crash) and keeps its dir, so {@link restart} can follow. */
  kill(): Promise<void>;
  /** SIGSTOPs the server: connections stay open but nothing answers. */
  freeze(): void;
  /** SIGCONTs a frozen server. */
  thaw(): void;
  /** The last lines of the server's log, for error messages. */
  logTail(): Promise<string>;
}

/** Options of {@link startRedis}. */
export interface RedisOptions {
  /** Makes the server require this password (`--requirepass`). */
  readonly password?: string;
  /** More redis-server arguments, e.g. `["--replicaof", "127.0.0.1", "6379"]`. */
  readonly args?: readonly string[];
  /** Serve TLS only (no plain port), with this PEM certificate and key; clients need no cert. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** Starts a redis-server on a free loopback port and waits until it answers PING. */
export async function startRedis(options: RedisOptions = {}): Promise<RunningRedis> {
  const dir = await Deno.makeTempDir({ prefix: "redis-test-" });
  const logPath = `${dir}/redis.log`;
  const password = options.password;
  const tls = options.tls;
  if (tls) {
    await Deno.writeTextFile(`${dir}/tls.cert`, tls.cert);
    await Deno.writeTextFile(`${dir}/tls.key`, tls.key);
  }
  let port = 0;
  let child: Deno.ChildProcess | undefined;
  let exited: Promise<Deno.CommandStatus> | undefined;
  let running = false;
  let stopped = false;

  const logTail = async () => {
    try {
      const text = await Deno.readTextFile(logPath);
      return text.trimEnd().split("\n").slice(-30).join("\n");
    } catch (error) {
      return `(no ${logPath}: ${error instanceof Error ? error.message : error})`;
    }
  };

  const launch = async () => {
    const args = tls
      ? ["--port", "0", "--tls-port", String(port), "--tls-auth-clients", "no"]
      : ["--port", String(port)];
    if (tls) args.push("--tls-cert-file", `${dir}/tls.cert`, "--tls-key-file", `${dir}/tls.key`);
    args.push(
      "--bind",
      LOOPBACK,
      "--protected-mode",
      "no",
      "--daemonize",
      "no",
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      "yes",
      // Every acknowledged write is on disk, so a restart after kill() loses nothing.
      "--appendfsync",
      "always",
      "--logfile",
      logPath,
    );
    if (password !== undefined) args.push("--requirepass", password);
    args.push(...(options.args ?? []));
    const proc = new Deno.Command(findBinary("redis-server") ?? "redis-server", {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    child = proc;
    let hasExited = false;
    exited = proc.status.then((status) => {
      hasExited = true;
      running = false;
      return status;
    });
    running = true;
    const started = Date.now();
    while (!(await answersPing(port, password, tls?.cert))) {
      if (hasExited || Date.now() - started > START_TIMEOUT_MS) {
        const why = hasExited
          ? `exited with code ${(await exited).code}`
          : `did not answer PING within ${START_TIMEOUT_MS} ms`;
        await halt("SIGKILL");
        throw new Error(`redis-server on port ${port} ${why}\n${await logTail()}`);
      }
      await sleep(10);
    }
  };

  /** Signals the process and waits for it to exit (SIGKILL if SIGTERM takes too long). */
  const halt = async (signal: Deno.Signal) => {
    if (!child || !exited) return;
    if (running) {
      try {
        child.kill(signal);
      } catch {
        // exited in the meantime
      }
      try {
        await withTimeout(exited, STOP_TIMEOUT_MS, `redis-server ${signal}`);
      } catch {
        try {
          child.kill("SIGKILL");
        } catch {
          // exited in the meantime
        }
      }
    }
    await exited;
  };

  // A port from freePort() may be taken by someone else before redis binds it: try again.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3 && !running; attempt++) {
    port = freePort();
    try {
      await launch();
    } catch (error) {
      lastError = error;
    }
  }
  if (!running) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw lastError;
  }

  const auth = password === undefined ? "" : `:${encodeURIComponent(password)}@`;
  return {
    url: `${tls ? "rediss" : "redis"}://${auth}${LOOPBACK}:${port}`,
    host: LOOPBACK,
    port,
    password,
    dir,
    logTail,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        child?.kill("SIGCONT"); // A frozen server cannot act on SIGTERM.
      } catch {
        // not running
      }
      await halt("SIGTERM");
      await Deno.remove(dir, { recursive: true });
    },
    async restart() {
      if (stopped) throw new Error("redis-server was stopped for good; cannot restart");
      await halt("SIGTERM");
      await launch();
    },
    async kill() {
      await halt("SIGKILL");
    },
    freeze() {
      child?.kill("SIGSTOP");
    },
    thaw() {
      child?.kill("SIGCONT");
    },
  };
}

/** A Sentinel started by {@link startSentinel}. */
export interface RunningSentinel {
  readonly port: number;
  /** Stops the Sentinel and removes its dir. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startSentinel}. */
export interface SentinelOptions {
  /** The port of the master to watch, on 127.0.0.1. */
  readonly masterPort: number;
  /** The name clients ask for. */
  readonly masterName: string;
  /** How long the master may not answer before this (only, quorum 1) Sentinel fails over. */
  readonly downAfterMs?: number;
}

/**
 * Starts a Sentinel (`redis-server <config> --sentinel`) on a free loopback port, watching
 * one master with quorum 1, and waits until it answers PING.
 */
export async function startSentinel(options: SentinelOptions): Promise<RunningSentinel> {
  const dir = await Deno.makeTempDir({ prefix: "redis-sentinel-test-" });
  const port = freePort();
  const config = [
    `port ${port}`,
    `bind ${LOOPBACK}`,
    "protected-mode no",
    "daemonize no",
    `dir ${dir}`,
    `logfile ${dir}/sentinel.log`,
    `sentinel monitor ${options.masterName} ${LOOPBACK} ${options.masterPort} 1`,
    `sentinel down-after-milliseconds ${options.masterName} ${options.downAfterMs ?? 1000}`,
    `sentinel failover-timeout ${options.masterName} 5000`,
    "",
  ].join("\n");
  // Sentinel rewrites its config file, so it must be writable: it lives in the temp dir.
  await Deno.writeTextFile(`${dir}/sentinel.conf`, config);
  const child = new Deno.Command(findBinary("redis-server") ?? "redis-server", {
    args: [`${dir}/sentinel.conf`, "--sentinel"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let running = true;
  const exited = child.status.finally(() => running = false);
  const stop = async () => {
    if (running) {
      try {
        child.kill("SIGKILL");
      } catch {
        // exited in the meantime
      }
    }
    await exited;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const started = Date.now();
  while (!(await answersPing(port, undefined))) {
    if (!running || Date.now() - started > START_TIMEOUT_MS) {
      const log = await Deno.readTextFile(`${dir}/sentinel.log`).catch(() => "(no log)");
      await stop();
      throw new Error(`redis sentinel on port ${port} did not start\n${log}`);
    }
    await sleep(10);
  }
  return { port, stop };
}

/** A free loopback port, as the kernel hands out for port 0. */
function freePort(): number {
  const listener = Deno.listen({ hostname: LOOPBACK, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** One RESP command as bytes (binary-safe, unlike inline commands). */
function resp(...args: string[]): string {
  const encoder = new TextEncoder();
  return `*${args.length}\r\n` +
    args.map((arg) => `$${encoder.encode(arg).byteLength}\r\n${arg}\r\n`).join("");
}

/**
 * True when the server at `port` answers PING with PONG (after AUTH, if a password is set),
 * over TLS trusting `tlsCert` if given.
 */
async function answersPing(
  port: number,
  password: string | undefined,
  tlsCert?: string,
): Promise<boolean> {
  let conn: Deno.Conn;
  try {
    conn = tlsCert === undefined
      ? await Deno.connect({ hostname: LOOPBACK, port })
      : await Deno.connectTls({ hostname: LOOPBACK, port, caCerts: [tlsCert] });
  } catch {
    return false;
  }
  try {
    const request = (password === undefined ? "" : resp("AUTH", password)) + resp("PING");
    await conn.write(new TextEncoder().encode(request));
    const replies = password === undefined ? 1 : 2;
    const buffer = new Uint8Array(4096);
    let text = "";
    const read = async () => {
      while (text.split("\r\n").length <= replies) {
        const n = await conn.read(buffer);
        if (n === null) return;
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
    };
    await withTimeout(read(), 1000, "PING");
    // A server still loading its AOF answers -LOADING: not ready yet.
    return text.split("\r\n")[replies - 1] === "+PONG";
  } catch {
    return false;
  } finally {
    conn.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
