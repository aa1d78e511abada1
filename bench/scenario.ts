/**
 * What every scenario module exports, and the command-line flags they read.
 *
 * @module
 */

import type { LogLevel } from "../adapters/logging/console_logger.ts";
import type { Row } from "./table.ts";

/** Flags as given: `--name=value` (or `--name` alone for "true"). */
export class Flags {
  readonly #values: Map<string, string>;
  readonly #read = new Set<string>();

  constructor(values: Map<string, string>) {
    this.#values = values;
  }

  /** Splits arguments into scenario names and flags. */
  static parse(args: readonly string[]): { names: string[]; flags: Flags } {
    const names: string[] = [];
    const values = new Map<string, string>();
    for (const arg of args) {
      if (!arg.startsWith("--")) {
        names.push(arg);
        continue;
      }
      const eq = arg.indexOf("=");
      if (eq === -1) values.set(arg.slice(2), "true");
      else values.set(arg.slice(2, eq), arg.slice(eq + 1));
    }
    return { names, flags: new Flags(values) };
  }

  /** A positive integer flag (`_` and `k`/`m` suffixes allowed: 100k, 1m, 1_000_000). */
  int(name: string, fallback: number): number {
    const text = this.#get(name);
    if (text === undefined) return fallback;
    const value = parseCount(text);
    if (value === null) throw new Error(`--${name}: expected a positive integer, got ${text}`);
    return value;
  }

  /** A comma-separated list of positive integers. */
  ints(name: string, fallback: readonly number[]): number[] {
    const text = this.#get(name);
    if (text === undefined) return [...fallback];
    return text.split(",").map((part) => {
      const value = parseCount(part.trim());
      if (value === null) throw new Error(`--${name}: expected integers, got ${text}`);
      return value;
    });
  }

  /** A comma-separated list of words, each one of `allowed`. */
  choices<T extends string>(name: string, allowed: readonly T[], fallback: readonly T[]): T[] {
    const text = this.#get(name);
    if (text === undefined) return [...fallback];
    const values = text.split(",").map((part) => part.trim());
    for (const value of values) {
      if (!allowed.includes(value as T)) {
        throw new Error(`--${name}: ${value} is not one of ${allowed.join(", ")}`);
      }
    }
    return values as T[];
  }

  /** A string flag. */
  string(name: string, fallback: string): string {
    return this.#get(name) ?? fallback;
  }

  /** Flags given that no one read: typos. */
  unread(): string[] {
    return [...this.#values.keys()].filter((name) => !this.#read.has(name));
  }

  /** Marks flags as known without reading them. */
  markRead(...names: string[]): void {
    for (const name of names) this.#read.add(name);
  }

  #get(name: string): string | undefined {
    this.#read.add(name);
    return this.#values.get(name);
  }
}

function parseCount(text: string): number | null {
  const match = /^(\d[\d_]*)([kKmM]?)$/.exec(text);
  if (!match) return null;
  const base = Number(match[1].replaceAll("_", ""));
  const scale = { "": 1, k: 1000, K: 1000, m: 1_000_000, M: 1_000_000 }[match[2]] ?? 1;
  const value = base * scale;
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

/** What a scenario gets to run. */
export interface ScenarioContext {
  readonly flags: Flags;
  /** A temporary directory for databases and certificates, removed afterwards. */
  readonly dir: string;
  /** The server's log level (`--log`, default info as in the configuration). */
  readonly logLevel: LogLevel;
  /** Progress messages, to stderr. */
  progress(message: string): void;
}

/** What a scenario measured. */
export interface ScenarioOutput {
  /** The sizes and settings it ran with. */
  readonly sizes: Record<string, unknown>;
  /** Its figures: one row per configuration measured. */
  readonly rows: readonly Row[];
  /** Anything a reader needs to read the figures right. */
  readonly notes: readonly string[];
}

/** A benchmark scenario. */
export interface Scenario {
  readonly name: string;
  /** One line for `--help`. */
  readonly summary: string;
  /** Its flags and their defaults, for `--help`. */
  readonly flagsHelp: string;
  run(context: ScenarioContext): Promise<ScenarioOutput>;
}
