/**
 * Throwaway Prosody servers for end-to-end tests.
 *
 * Each instance gets its own temp dir (config, data, log, pidfile) and its own free
 * loopback ports, so several can run at once. Prosody listens on 127.0.0.1 only, with
 * c2s and component listeners and nothing else (no s2s, no http). By default there is no
 * TLS, no stream management and a stock mod_pep; {@link ProsodyOptions} turns on what the
 * client-mode tests need (c2s TLS with a generated certificate, mod_smacks, the seed's
 * mod_pep patch).
 *
 * @module
 */

import { testCertificate } from "./tls_cert.ts";

/** Host all users live on. */
const DOMAIN = "localhost";
const LOOPBACK = "127.0.0.1";
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const PROSODYCTL_TIMEOUT_MS = 15_000;

/** A Prosody started by {@link startProsody}. */
export interface RunningProsody {
  /** The user host: always "localhost". */
  domain: string;
  /**
   * Client-to-server port on 127.0.0.1: plain TCP, or STARTTLS (required) with
   * {@link ProsodyOptions.tls}.
   */
  c2sPort: number;
  /** Direct-TLS (`xmpps://`) c2s port on 127.0.0.1 with {@link ProsodyOptions.tls}, else null. */
  c2sDirectTlsPort: number | null;
  /** The PEM certificate c2s TLS uses (self-signed: clients trust it as their CA), or null. */
  caCert: string | null;
  /** XEP-0114 component port on 127.0.0.1. */
  componentPort: number;
  /** Prosody's data_path (kept across {@link RunningProsody.restart}). */
  dataDir: string;
  /** Creates an account with `prosodyctl register`; throws if prosodyctl fails. */
  registerUser(user: string, password: string): Promise<void>;
  /** Stops Prosody and starts it again on the same ports with the same data. */
  restart(): Promise<void>;
  /** Stops Prosody (SIGTERM, then SIGKILL after a timeout) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Last lines of Prosody's log and console output, for error messages. */
  logTail(): Promise<string>;
}

/** Options for {@link startProsody}. */
export interface ProsodyOptions {
  /** The XEP-0114 component's domain, e.g. "push.localhost". */
  componentDomain: string;
  /** The component's shared secret. */
  componentSecret: string;
  /**
   * c2s TLS with a generated certificate for localhost/127.0.0.1: STARTTLS on `c2sPort`
   * (c2s_require_encryption = true) and direct TLS on `c2sDirectTlsPort`. Default false.
   */
  tls?: boolean;
  /** Loads mod_smacks (XEP-0198 stream management). Default false. */
  smacks?: boolean;
  /**
   * Loads a copy of mod_pep whose `is_item_stanza` returns true, placed first in
   * plugin_paths (the seed's patch: stock 0.12 refuses mod_cloud_notify's publish to a PEP
   * node with modify/bad-request "invalid item"). Default false.
   */
  patchPep?: boolean;
  /**
   * The lowest level Prosody logs to its log file. Default "debug" (tests read the log when
   * they fail); benchmarks take "warn", as a debug line per stanza slows Prosody down.
   */
  logLevel?: "debug" | "info" | "warn" | "error";
}

/** Returns the absolute path of `name` found on PATH (or `name` itself if it is a path), else undefined. */
function findBinary(name: string): string | undefined {
  const candidates = name.includes("/")
    ? [name]
    : (Deno.env.get("PATH") ?? "").split(":").filter(Boolean).map((dir) => `${dir}/${name}`);
  for (const path of candidates) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not there: try the next one
    }
  }
  return undefined;
}

/** True when both `prosody` and `prosodyctl` are on PATH. Never runs them. */
export function prosodyInstalled(): boolean {
  return findBinary("prosody") !== undefined && findBinary("prosodyctl") !== undefined;
}

/**
 * Decides whether a test needing `binary` runs. Spread the result into Deno.test's options.
 * Missing binary: under CI (env `CI` set, not "false"/"0") this throws, so the suite fails
 * instead of silently skipping; elsewhere the test is ignored.
 */
export function serverTestGate(binary: string): { ignore: boolean } {
  if (findBinary(binary) !== undefined) return { ignore: false };
  const ci = Deno.env.get("CI");
  if (ci && ci !== "false" && ci !== "0") {
    throw new Error(
      `${binary} is not installed, but CI=${ci}: end-to-end tests must run in CI. ` +
        `Install it (e.g. apt-get install prosody prosody-modules).`,
    );
  }
  console.warn(`${binary} not found on PATH: ignoring tests that need it`);
  return { ignore: true };
}

/** Asks the kernel for a free loopback port for each listener; all held open together so they differ. */
function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: LOOPBACK, port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

/** Lua string literal (paths and secrets come from us, but quote them properly anyway). */
function lua(value: string): string {
  return JSON.stringify(value);
}

interface Ports {
  c2s: number;
  component: number;
  directTls: number | null;
}

function configText(dir: string, ports: Ports, o: ProsodyOptions) {
  const modules = ["roster", "saslauth", "disco", "ping", "pep", "cloud_notify"];
  if (o.tls) modules.push("tls");
  if (o.smacks) modules.push("smacks");
  const tls = o.tls
    ? `-- c2s TLS with the generated certificate; nothing without it.
ssl = { certificate = ${lua(`${dir}/tls/server.cert`)}, key = ${lua(`${dir}/tls/server.key`)} }
c2s_require_encryption = true
c2s_direct_tls_ports = { ${ports.directTls} }
c2s_direct_tls_interfaces = { ${lua(LOOPBACK)} }`
    : `c2s_direct_tls_ports = {}
-- No TLS at all: SCRAM-SHA-1 (offered because internal_hashed keeps SCRAM hashes) is
-- allowed on the plain connection; PLAIN stays refused.
c2s_require_encryption = false`;
  return `-- Generated by tests/support/prosody.ts
run_as_root = true
${o.patchPep ? `plugin_paths = { ${lua(`${dir}/plugins`)} }\n` : ""}pidfile = ${
    lua(`${dir}/prosody.pid`)
  }
data_path = ${lua(`${dir}/data`)}
log = { { levels = { min = ${lua(o.logLevel ?? "debug")} }, to = "file", filename = ${
    lua(`${dir}/prosody.log`)
  } } }

-- Loopback only; every listener not named here stays off.
interfaces = { ${lua(LOOPBACK)} }
local_interfaces = { ${lua(LOOPBACK)} }
c2s_ports = { ${ports.c2s} }
c2s_interfaces = { ${lua(LOOPBACK)} }
component_ports = { ${ports.component} }
component_interfaces = { ${lua(LOOPBACK)} }
legacy_ssl_ports = {}

${tls}
s2s_require_encryption = false
authentication = "internal_hashed"
-- xmpp.js computes SCRAM's PBKDF2 in slow JavaScript: 4096 (RFC 5802's minimum) instead of
-- Prosody's 10000 cuts a login from ~600 ms to ~250 ms.
default_iteration_count = 4096
storage = "internal"

-- mod_smacks is not loaded unless asked for: a cleanly disconnected user is then truly
-- offline, and a message to them takes mod_offline's path (which mod_cloud_notify pushes).
modules_enabled = { ${modules.map(lua).join(", ")} }
modules_disabled = { "s2s", "s2s_auth_certs" }

VirtualHost ${lua(DOMAIN)}

Component ${lua(o.componentDomain)}
  component_secret = ${lua(o.componentSecret)}
`;
}

/** Where Debian's prosody package keeps the stock mod_pep. */
const STOCK_MOD_PEP = "/usr/lib/prosody/modules/mod_pep.lua";

/**
 * The stock mod_pep with `is_item_stanza` made to return true (the seed's patch). Throws if
 * the function is not found, so a changed mod_pep fails loudly instead of running unpatched.
 */
async function patchedModPep(): Promise<string> {
  const source = await Deno.readTextFile(STOCK_MOD_PEP);
  const pattern = /function is_item_stanza\(item\)\n[^\n]*\nend/;
  if (!pattern.test(source)) throw new Error(`no is_item_stanza in ${STOCK_MOD_PEP}`);
  return source.replace(
    pattern,
    "function is_item_stanza(item) -- luacheck: ignore 212/item\n" +
      "\t-- patched by tests/support/prosody.ts, as the seed's README asks\n\treturn true;\nend",
  );
}

/** Rejects after `ms` unless `promise` settles first; the timer is always cleared (no leaked ops). */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let id: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    id = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(id);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function tailOf(path: string, lines: number): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch (err) {
    return `(no ${path}: ${err instanceof Error ? err.message : err})`;
  }
}

async function portAccepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: LOOPBACK, port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** One `prosody` process, with stdout/stderr copied to a file in the temp dir. */
class ProsodyProcess {
  readonly #child: Deno.ChildProcess;
  readonly #output: Promise<unknown>;
  readonly exited: Promise<Deno.CommandStatus>;
  #hasExited = false;

  constructor(prosody: string, configPath: string, outputPath: string) {
    this.#child = new Deno.Command(prosody, {
      // -F: stay in the foreground (0.12 deprecates the daemonize option in favour of -F/-D).
      args: ["--config", configPath, "-F"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.exited = this.#child.status.then((status) => {
      this.#hasExited = true;
      return status;
    });
    // Both streams append to one file; each pipeTo closes its own handle at EOF.
    const copy = async (stream: ReadableStream<Uint8Array>) => {
      const file = await Deno.open(outputPath, { append: true, create: true });
      await stream.pipeTo(file.writable);
    };
    this.#output = Promise.allSettled([copy(this.#child.stdout), copy(this.#child.stderr)]);
  }

  get hasExited(): boolean {
    return this.#hasExited;
  }

  /** SIGTERM, SIGKILL after STOP_TIMEOUT_MS; resolves once the process and its output are done. */
  async stop(): Promise<void> {
    if (!this.#hasExited) {
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // exited in the meantime
      }
      try {
        await withTimeout(this.exited, STOP_TIMEOUT_MS, "prosody SIGTERM");
      } catch {
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // exited in the meantime
        }
      }
    }
    await this.exited;
    await this.#output;
  }
}

/**
 * Starts a Prosody on fresh loopback ports in a fresh temp dir and waits until both its
 * c2s and component ports accept connections. Call `stop()` when done (in a `finally`).
 */
export async function startProsody(opts: ProsodyOptions): Promise<RunningProsody> {
  const prosody = findBinary("prosody");
  const prosodyctl = findBinary("prosodyctl");
  if (!prosody || !prosodyctl) throw new Error("prosody/prosodyctl not found on PATH");

  const dir = await Deno.makeTempDir({ prefix: "prosody-test-" });
  const dataDir = `${dir}/data`;
  const configPath = `${dir}/prosody.cfg.lua`;
  const logPath = `${dir}/prosody.log`;
  const outputPath = `${dir}/console.log`;
  const [c2sPort, componentPort, directTlsPort] = freePorts(3);
  const ports: Ports = {
    c2s: c2sPort,
    component: componentPort,
    directTls: opts.tls ? directTlsPort : null,
  };
  await Deno.mkdir(dataDir);
  await Deno.mkdir(`${dir}/certs`); // empty: only silences "Error indexing certificate directory"
  let caCert: string | null = null;
  if (opts.tls) {
    const { cert, key } = await testCertificate();
    await Deno.mkdir(`${dir}/tls`);
    await Deno.writeTextFile(`${dir}/tls/server.cert`, cert);
    await Deno.writeTextFile(`${dir}/tls/server.key`, key);
    caCert = cert;
  }
  if (opts.patchPep) {
    await Deno.mkdir(`${dir}/plugins`);
    await Deno.writeTextFile(`${dir}/plugins/mod_pep.lua`, await patchedModPep());
  }
  await Deno.writeTextFile(configPath, configText(dir, ports, opts));

  let proc: ProsodyProcess | undefined;
  let stopped = false;

  const logTail = async () =>
    `--- ${logPath} (tail) ---\n${await tailOf(logPath, 40)}\n` +
    `--- ${outputPath} (tail) ---\n${await tailOf(outputPath, 20)}`;

  const launch = async () => {
    const started = Date.now();
    const p = new ProsodyProcess(prosody, configPath, outputPath);
    proc = p;
    const listening = [c2sPort, componentPort];
    if (ports.directTls !== null) listening.push(ports.directTls);
    for (const port of listening) {
      while (!(await portAccepts(port))) {
        if (p.hasExited || Date.now() - started > START_TIMEOUT_MS) {
          const why = p.hasExited
            ? `exited with code ${(await p.exited).code}`
            : `did not open port ${port} within ${START_TIMEOUT_MS} ms`;
          await p.stop();
          throw new Error(`prosody ${why}\n${await logTail()}`);
        }
        await sleep(25);
      }
    }
    // Prosody only logs a failed bind and carries on, and a port freed by freePorts() may
    // have been taken by someone else since: then the port "accepts" but is not ours.
    const log = await Deno.readTextFile(logPath).catch(() => "");
    if (log.includes("Failed to open server port")) {
      await p.stop();
      throw new Error(`prosody could not bind its ports\n${await logTail()}`);
    }
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await proc?.stop();
    await Deno.remove(dir, { recursive: true });
  };

  try {
    await launch();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    domain: DOMAIN,
    c2sPort,
    c2sDirectTlsPort: ports.directTls,
    caCert,
    componentPort,
    dataDir,
    logTail,
    stop,
    async restart() {
      if (stopped) throw new Error("prosody was stopped for good; cannot restart");
      await proc?.stop();
      await launch();
    },
    async registerUser(user, password) {
      const child = new Deno.Command(prosodyctl, {
        args: ["--config", configPath, "register", user, DOMAIN, password],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const output = child.output();
      const out = await withTimeout(output, PROSODYCTL_TIMEOUT_MS, "prosodyctl register").catch(
        async (err) => {
          try {
            child.kill("SIGKILL");
          } catch {
            // exited in the meantime
          }
          await output;
          throw err;
        },
      );
      if (!out.success) {
        const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        throw new Error(
          `prosodyctl register ${user}@${DOMAIN} failed (code ${out.code}, signal ${out.signal}):\n${text}`,
        );
      }
    },
  };
}
