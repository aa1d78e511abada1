/**
 * What every operator command shares: the flags, where output goes, the two failure kinds
 * (wrong usage, failed command), reading the configuration, and masking secrets.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ConsoleLogger } from "../../adapters/logging/console_logger.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import { type Config, loadConfig } from "../config.ts";
import { errorText } from "../readiness.ts";
import { withTimeout } from "../../lib/timeout.ts";

/** Where the CLI writes; replaceable in tests. */
export interface CliOutput {
  /** A result line (standard output). */
  out(line: string): void;
  /** A progress or error line (standard error). */
  err(line: string): void;
}

/** Standard output and standard error. */
export const consoleOutput: CliOutput = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/** Thrown for wrong usage: exit code 2. */
export class UsageError extends Error {}

/** Thrown for a failed command: exit code 1, message printed. */
export class Failure extends Error {}

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

/** The parsed flags. */
export type Flags = ReturnType<typeof parse>["values"];

/** Parses the command line; wrong flags are a {@link UsageError}. */
export function parse(args: readonly string[]) {
  try {
    return parseArgs({ args: [...args], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(errorText(error));
  }
}

/** One command: its flags, its positional arguments, where it writes. */
export type Command = (flags: Flags, args: string[], output: CliOutput) => Promise<void>;

/** The configuration `--config` names, validated; a missing file is a failure. */
export async function readConfig(flags: Flags): Promise<Config> {
  const path = flags.config ?? "configuration.json";
  // loadConfig would write a template for a missing file: not for a read-only command.
  if (!(await exists(path))) throw new Failure(`no configuration at ${path} (see --config)`);
  const loaded = await loadConfig(path);
  if (!loaded.ok) {
    throw new Failure(`configuration ${path} is not usable: ${loaded.problems.join("; ")}`);
  }
  return loaded.config;
}

/** Adapter log lines on standard error: errors only, everything with `--verbose`. */
export function cliLogger(flags: Flags): Logger {
  return new ConsoleLogger(flags.verbose ? "debug" : "error", "logfmt");
}

/** Refuses positional arguments. */
export function noArguments(args: string[]): void {
  if (args.length > 0) throw new UsageError(`unexpected arguments: ${args.join(" ")}`);
}

/** The one positional argument; `missing` when there is none. */
export function oneArgument(args: string[], missing: string): string {
  if (args.length === 0) throw new UsageError(missing);
  if (args.length > 1) throw new UsageError(`unexpected arguments: ${args.slice(1).join(" ")}`);
  return args[0];
}

/** A file the command needs; unreadable is a failure naming `what`. */
export async function readFile(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new Failure(`${what}: cannot read ${path}: ${errorText(error)}`);
  }
}

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
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
export function channel(uri: string, show: boolean): string {
  if (show) return uri;
  try {
    const url = new URL(uri);
    return `${url.origin}${url.pathname}${url.search ? "?token=****" : ""}`;
  } catch {
    return "(not a URL)";
  }
}

/** An expiry, with how far off it is. */
export function when(epochMs: number): string {
  const days = Math.round((epochMs - Date.now()) / 8_640_000) / 10;
  return `${new Date(epochMs).toISOString()} (in ${days} days)`;
}

/** 32 random bytes as hex (a new device or account id). */
export function randomHex(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toHex();
}

/** `work`, or a failure saying what got no answer within `seconds`. */
export function within<T>(work: Promise<T>, seconds: number, what: string): Promise<T> {
  return withTimeout(
    work,
    seconds * 1000,
    () => new Error(`${what}: no answer within ${seconds} s`),
  );
}
