/**
 * A logger writing one line per event to stderr: JSON lines (for log shippers) or logfmt
 * (for people). Callers pass only log-safe fields: see `app/log_ids.ts`.
 *
 * @module
 */

import type { LogFields, Logger } from "../../domain/ports/logging.ts";

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";
/** Line formats. */
export type LogFormat = "json" | "logfmt";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Writes log lines at or above `level` to `write` (stderr by default). */
export class ConsoleLogger implements Logger {
  readonly #min: number;

  constructor(
    readonly level: LogLevel = "info",
    readonly format: LogFormat = "logfmt",
    readonly write: (line: string) => void = (line) => console.error(line),
    readonly clock: () => Date = () => new Date(),
  ) {
    this.#min = RANK[level];
  }

  debug(message: string, fields?: LogFields): void {
    this.#log("debug", message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.#log("info", message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.#log("warn", message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.#log("error", message, fields);
  }

  #log(level: LogLevel, message: string, fields: LogFields = {}): void {
    if (RANK[level] < this.#min) return;
    const time = this.clock().toISOString();
    if (this.format === "json") {
      this.write(JSON.stringify({ time, level, msg: message, ...fields }));
      return;
    }
    const parts = [`time=${time}`, `level=${level}`, `msg=${logfmtValue(message)}`];
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) parts.push(`${key}=${logfmtValue(String(value))}`);
    }
    this.write(parts.join(" "));
  }
}

function logfmtValue(value: string): string {
  return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}
