/**
 * The operator's command line: `deno task cli <command>` (in a compiled binary:
 * `uwpx-push cli <command>`). It talks to a push server as a UWPX device would, and reads
 * the configured storage through the same adapters as the server.
 *
 * Results go to standard output, progress and errors to standard error. Exit codes: 0
 * success, 1 failure, 2 wrong usage. Secrets, channel tokens and whole node names are
 * masked unless `--show-secrets` is given.
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import { parseArgs } from "node:util";
import { z } from "zod";
import { DeviceClient } from "../adapters/device/device_client.ts";
import { ConsoleLogger } from "../adapters/logging/console_logger.ts";
import { MemoryStore } from "../adapters/storage/memory/memory_store.ts";
import type { Logger } from "../domain/ports/logging.ts";
import type { RegistrationStore } from "../domain/ports/storage.ts";
import { type Config, loadConfig } from "./config.ts";
import { shortId } from "./log_ids.ts";
import { errorText } from "./readiness.ts";
import { openStore } from "./open_store.ts";
import { createWnsDelivery } from "./wns_delivery.ts";

export const CLI_USAGE = `UWPX push server: operator commands.

Usage: deno task cli <command> [options]

Commands that talk to a push server as a UWPX device does:
  register      set_channel_uri, then set_push_accounts; prints the answers
  test-push     request_test_push for a registered device
    --host HOST          the push server (default 127.0.0.1)
    --port PORT          its device port (default 1997)
    --ca FILE            trust this CA certificate (PEM) besides the system's
    --insecure           do not check the server's certificate (testing only)
    --device-id ID       register: default a new random id (shown in full only with
                         --show-secrets); test-push: required
    --channel-uri URI    register: the device's WNS channel URI (required)
    --account ID         register: an account id; repeat for several (default: one random)
    --protocol 1|2       protocol version (default 2)
    --timeout SECONDS    for connecting and for each answer (default 15)

Commands that read the configured storage (what a running server uses):
  show-device ID   a device's registration
  show-node NODE   the registration behind a node
  count            live devices and accounts
  purge            delete expired registrations
  check            validate the configuration, then try the TLS certificate, the storage,
                   a WNS access token and the XMPP server's port
    --config FILE        the server's configuration (default configuration.json)

  --show-secrets   print node secrets, channel tokens, whole node names and whole device ids
                   (a device id is its device's only credential; show-device never
                   prints the one it was given)
  --verbose        also print the adapters' log lines (to standard error)
  --help           print this text`;

/** Where the CLI writes; replaceable in tests. */
export interface CliOutput {
  /** A result line (standard output). */
  out(line: string): void;
  /** A progress or error line (standard error). */
  err(line: string): void;
}

const consoleOutput: CliOutput = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/** Thrown for wrong usage: exit code 2. */
class UsageError extends Error {}

/** Thrown for a failed command: exit code 1, message printed. */
class Failure extends Error {}

const OPTIONS = {
  "host": { type: "string" },
  "port": { type: "string" },
  "ca": { type: "string" },
  "insecure": { type: "boolean" },
  "device-id": { type: "string" },
  "channel-uri": { type: "string" },
  "account": { type: "string", multiple: true },
  "protocol": { type: "string" },
  "timeout": { type: "string" },
  "config": { type: "string" },
  "show-secrets": { type: "boolean" },
  "verbose": { type: "boolean" },
  "help": { type: "boolean" },
} as const;

const ServerOptions = z.object({
  host: z.string().min(1).default("127.0.0.1"),
  port: z.coerce.number().int().min(1).max(65535).default(1997),
  protocol: z.enum(["1", "2"]).default("2").transform(Number).pipe(z.union([
    z.literal(1),
    z.literal(2),
  ])),
  timeout: z.coerce.number().positive().max(600).default(15),
});

/** A device-protocol answer, as far as the CLI reads it. */
const Answer = z.object({
  status: z.union([z.literal(0), z.literal(1)]),
  error: z.string().optional(),
  push_bare_jid: z.string().optional(),
  accounts: z.array(z.object({
    account_id: z.string(),
    node: z.string(),
    secret: z.string(),
    success: z.boolean(),
  })).optional(),
});
type Answer = z.infer<typeof Answer>;

type Flags = ReturnType<typeof parse>["values"];

function parse(args: readonly string[]) {
  try {
    return parseArgs({ args: [...args], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(errorText(error));
  }
}

/** Runs a command; returns the exit code. */
export async function cli(
  args: readonly string[],
  output: CliOutput = consoleOutput,
): Promise<number> {
  try {
    const { values, positionals } = parse(args);
    const [command, ...rest] = positionals;
    if (values.help || command === undefined || command === "help") {
      output.out(CLI_USAGE);
      return command === undefined && !values.help ? 2 : 0;
    }
    const run = COMMANDS[command];
    if (!run) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    await run(values, rest, output);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      output.err(`${error.message}\n\n${CLI_USAGE}`);
      return 2;
    }
    output.err(`failed: ${errorText(error)}`);
    return 1;
  }
}

type Command = (flags: Flags, args: string[], output: CliOutput) => Promise<void>;

const COMMANDS: Record<string, Command> = {
  register,
  "test-push": testPush,
  "show-device": showDevice,
  "show-node": showNode,
  count,
  purge,
  check,
};

// --- Commands that talk to a push server -------------------------------------------------

async function register(flags: Flags, args: string[], output: CliOutput): Promise<void> {
  noArguments(args);
  const server = serverOptions(flags);
  const channelUri = flags["channel-uri"];
  if (!channelUri) throw new UsageError("register needs --channel-uri");
  const deviceId = flags["device-id"] ?? randomHex();
  const accountIds = flags.account ?? [randomHex()];
  const show = flags["show-secrets"] ?? false;
  // The device id is the device's only credential: shown in full only when asked for.
  output.out(`device_id: ${show ? deviceId : shortId(deviceId)}`);
  const client = await connect(server, flags, output);
  try {
    output.err("set_channel_uri…");
    const channel = await request(client, server, {
      version: server.protocol,
      action: "set_channel_uri",
      device_id: deviceId,
      channel_uri: channelUri,
    });
    output.out(`set_channel_uri: ${describe(channel)}`);
    if (channel.status !== 1) throw new Failure("the server refused the channel");
    output.err(`set_push_accounts (${accountIds.length} accounts)…`);
    const accounts = await request(client, server, {
      version: server.protocol,
      action: "set_push_accounts",
      device_id: deviceId,
      accounts: accountIds.map((account_id) => ({ account_id })),
    });
    output.out(`set_push_accounts: ${describe(accounts)}`);
    if (accounts.status !== 1) throw new Failure("the server refused the accounts");
    output.out(`push_bare_jid: ${accounts.push_bare_jid ?? "(none)"}`);
    for (const account of accounts.accounts ?? []) {
      output.out(
        `account ${account.account_id}: node ${account.node}` +
          ` secret ${show ? account.secret : mask(account.secret)}` +
          ` ${account.success ? "ready" : "NOT READY"}`,
      );
    }
    if ((accounts.accounts ?? []).some((a) => !a.success)) {
      throw new Failure("some accounts are not ready on the XMPP side");
    }
  } finally {
    client.close();
  }
}

async function testPush(flags: Flags, args: string[], output: CliOutput): Promise<void> {
  noArguments(args);
  const server = serverOptions(flags);
  const deviceId = flags["device-id"];
  if (!deviceId) throw new UsageError("test-push needs --device-id");
  const client = await connect(server, flags, output);
  try {
    output.err("request_test_push…");
    const answer = await request(client, server, {
      version: server.protocol,
      action: "request_test_push",
      device_id: deviceId,
    });
    output.out(`request_test_push: ${describe(answer)}`);
    if (answer.status !== 1) throw new Failure("no test push was sent");
  } finally {
    client.close();
  }
}

function serverOptions(flags: Flags): z.infer<typeof ServerOptions> {
  const parsed = ServerOptions.safeParse({
    host: flags.host,
    port: flags.port,
    protocol: flags.protocol,
    timeout: flags.timeout,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`--${issue.path.join(".")}: ${issue.message}`);
  }
  return parsed.data;
}

async function connect(
  server: z.infer<typeof ServerOptions>,
  flags: Flags,
  output: CliOutput,
): Promise<DeviceClient> {
  const caCerts = flags.ca ? [await readFile(flags.ca, "--ca")] : undefined;
  output.err(`connecting to ${server.host}:${server.port}${flags.insecure ? " (insecure)" : ""}…`);
  try {
    return await within(
      DeviceClient.connect({
        hostname: server.host,
        port: server.port,
        caCerts,
        insecure: flags.insecure ?? false,
      }),
      server.timeout,
      "connecting",
    );
  } catch (error) {
    throw new Failure(`cannot connect to ${server.host}:${server.port}: ${errorText(error)}`);
  }
}

async function request(
  client: DeviceClient,
  server: z.infer<typeof ServerOptions>,
  message: Record<string, unknown>,
): Promise<Answer> {
  const raw = await within(client.request(message), server.timeout, "waiting for the answer");
  const parsed = Answer.safeParse(raw);
  if (!parsed.success) throw new Failure("the server's answer is not a device-protocol answer");
  return parsed.data;
}

function describe(answer: Answer): string {
  return answer.status === 1 ? "ok" : `refused: ${answer.error ?? "(no reason given)"}`;
}

// --- Commands that read the storage ----------------------------------------------------

async function showDevice(flags: Flags, args: string[], output: CliOutput): Promise<void> {
  const deviceId = oneArgument(args, "show-device needs a device id");
  const show = flags["show-secrets"] ?? false;
  await withStore(flags, output, async (store) => {
    const device = await store.findDevice(deviceId, Date.now());
    if (device === null) {
      throw new Failure(`no live registration for device ${shortId(deviceId)}`);
    }
    // Never in full: the operator typed it, and whoever reads this should not learn it.
    output.out(`device: ${shortId(device.deviceId)}`);
    output.out(
      `channel: ${
        device.channelUri === null ? "(gone: WNS said so)" : channel(device.channelUri, show)
      }`,
    );
    output.out(`protocol version: ${device.version}`);
    output.out(`expires: ${when(device.expiresAt)}`);
    output.out(`accounts: ${device.accounts.length}`);
    for (const account of device.accounts) {
      output.out(
        `  ${account.accountId}: node ${show ? account.node : mask(account.node)}` +
          ` secret ${show ? account.secret : mask(account.secret)}`,
      );
    }
  });
}

async function showNode(flags: Flags, args: string[], output: CliOutput): Promise<void> {
  const node = oneArgument(args, "show-node needs a node");
  const show = flags["show-secrets"] ?? false;
  await withStore(flags, output, async (store) => {
    const target = await store.findNode(node, Date.now());
    if (target === null) throw new Failure("no live registration behind this node");
    output.out(`node: ${show ? target.node : mask(target.node)}`);
    output.out(`account: ${target.accountId}`);
    // The device id, or the hash SQLite keeps instead: whole only when asked for.
    output.out(`device: ${show ? target.deviceId : shortId(target.deviceId)}`);
    output.out(`secret: ${show ? target.secret : mask(target.secret)}`);
    output.out(
      `channel: ${
        target.channelUri === null ? "(gone: WNS said so)" : channel(target.channelUri, show)
      }`,
    );
  });
}

async function count(flags: Flags, args: string[], output: CliOutput): Promise<void> {
  noArguments(args);
  await withStore(flags, output, async (store) => {
    output.err("counting…");
    const { devices, accounts } = await store.count(Date.now());
    output.out(`devices: ${devices}`);
    output.out(`accounts: ${accounts}`);
  });
}

async function purge(flags: Flags, args: string[], output: CliOutput): Promise<void> {
  noArguments(args);
  await withStore(flags, output, async (store) => {
    output.err("purging expired registrations…");
    const purged = await store.purgeExpired(Date.now());
    output.out(`purged: ${purged} devices`);
  });
}

/** Opens the configured store, runs `work`, closes the store. */
async function withStore(
  flags: Flags,
  output: CliOutput,
  work: (store: RegistrationStore) => Promise<void>,
): Promise<void> {
  const config = await readConfig(flags);
  const url = config.db.url;
  if (url === "memory:") {
    throw new Failure("db.url is memory:: the server's registrations live in its own process");
  }
  if (url.startsWith("sqlite:")) {
    // Opening would create an empty database: say the path is wrong instead.
    const path = url.slice("sqlite:".length);
    if (!(await exists(path))) throw new Failure(`no SQLite database at ${path}`);
  }
  output.err(`opening ${url.split(":")[0]} storage…`);
  const store = await openStore(url, cliLogger(flags));
  try {
    await work(store);
  } finally {
    await store.close();
  }
}

// --- check -------------------------------------------------------------------------------

async function check(flags: Flags, args: string[], output: CliOutput): Promise<void> {
  noArguments(args);
  const config = await readConfig(flags);
  output.out("configuration: ok");
  const logger = cliLogger(flags);
  const steps: [string, () => Promise<string>][] = [
    ["TLS certificate", () => checkCertificate(config)],
    ["storage", () => checkStorage(config, logger)],
    ["WNS access token", () => checkWns(config, logger)],
    ["XMPP server", () => checkXmpp(config)],
  ];
  let failed = 0;
  for (const [index, [name, step]] of steps.entries()) {
    output.err(`[${index + 1}/${steps.length}] ${name}…`);
    try {
      output.out(`${name}: ok (${await step()})`);
    } catch (error) {
      failed++;
      output.out(`${name}: FAILED: ${errorText(error)}`);
    }
  }
  if (failed > 0) throw new Failure(`${failed} of ${steps.length} checks failed`);
}

/** The certificate and key load together (as the device port would load them). */
async function checkCertificate(config: Config): Promise<string> {
  const cert = await readFile(config.tcp.tls.serverCertPath, "tcp.tls.serverCertPath");
  const key = await readFile(config.tcp.tls.serverKeyPath, "tcp.tls.serverKeyPath");
  Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key }).close();
  const x509 = new X509Certificate(cert);
  const expires = new Date(x509.validTo).getTime();
  const days = Math.floor((expires - Date.now()) / 86_400_000);
  if (days < 0) throw new Failure(`expired on ${new Date(expires).toISOString()}`);
  const soon = days < 14 ? ": renew it soon" : "";
  return `${x509.subject.replaceAll("\n", ", ")}, expires in ${days} days${soon}`;
}

async function checkStorage(config: Config, logger: Logger): Promise<string> {
  if (config.db.url === "memory:") return "memory: nothing to reach";
  const store = await openStore(config.db.url, logger);
  try {
    await store.ping();
    const { devices, accounts } = await store.count(Date.now());
    return `reachable, ${devices} devices, ${accounts} accounts`;
  } finally {
    await store.close();
  }
}

/** Fetches a new token (a private cache, so the credentials are really tried). */
async function checkWns(config: Config, logger: Logger): Promise<string> {
  const delivery = createWnsDelivery(config.wns, new MemoryStore(), { now: Date.now }, logger);
  try {
    const token = await delivery.tokens.get();
    const hours = Math.round((token.expiresAt - Date.now()) / 360_000) / 10;
    return `obtained, valid for ${hours} h`;
  } finally {
    delivery.close();
  }
}

/**
 * The XMPP server's port answers. No login: a second component connection (or client
 * session with the same resource) would replace the running server's.
 */
async function checkXmpp(config: Config): Promise<string> {
  const { xmpp } = config;
  const component = xmpp.mode === "component";
  const host = xmpp.host ?? (component ? "127.0.0.1" : xmpp.bareJid.split("@")[1] ?? "");
  const port = xmpp.port ?? (component ? 5347 : xmpp.tls?.direct ? 5223 : 5222);
  const conn = await within(Deno.connect({ hostname: host, port }), 10, `connecting`);
  conn.close();
  return `${host}:${port} accepts connections; not logged in`;
}

// --- Helpers -----------------------------------------------------------------------------

async function readConfig(flags: Flags): Promise<Config> {
  const path = flags.config ?? "configuration.json";
  // loadConfig would write a template for a missing file: not for a read-only command.
  if (!(await exists(path))) throw new Failure(`no configuration at ${path} (see --config)`);
  const loaded = await loadConfig(path);
  if (!loaded.ok) {
    throw new Failure(`configuration ${path} is not usable: ${loaded.problems.join("; ")}`);
  }
  return loaded.config;
}

function cliLogger(flags: Flags): Logger {
  return new ConsoleLogger(flags.verbose ? "debug" : "error", "logfmt");
}

function noArguments(args: string[]): void {
  if (args.length > 0) throw new UsageError(`unexpected arguments: ${args.join(" ")}`);
}

function oneArgument(args: string[], missing: string): string {
  if (args.length === 0) throw new UsageError(missing);
  if (args.length > 1) throw new UsageError(`unexpected arguments: ${args.slice(1).join(" ")}`);
  return args[0];
}

async function readFile(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new Failure(`${what}: cannot read ${path}: ${errorText(error)}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The first 4 and last 2 characters: enough to compare, not enough to use. */
export function mask(secret: string): string {
  return secret.length <= 8 ? "****" : `${secret.slice(0, 4)}…${secret.slice(-2)}`;
}

/** A channel URI without its token (the query), unless shown. */
function channel(uri: string, show: boolean): string {
  if (show) return uri;
  try {
    const url = new URL(uri);
    return `${url.origin}${url.pathname}${url.search ? "?token=****" : ""}`;
  } catch {
    return "(not a URL)";
  }
}

function when(epochMs: number): string {
  const days = Math.round((epochMs - Date.now()) / 8_640_000) / 10;
  return `${new Date(epochMs).toISOString()} (in ${days} days)`;
}

function randomHex(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toHex();
}

async function within<T>(work: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer within ${seconds} s`)),
      seconds * 1000,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

if (import.meta.main) Deno.exit(await cli(Deno.args));
