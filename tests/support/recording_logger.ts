/**
 * A {@link Logger} that keeps every line, so tests can assert what was (and was not) logged.
 *
 * @module
 */

import type { LogFields, Logger } from "../../domain/ports/logging.ts";

/** The level of a recorded line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** One recorded log line. */
export interface LogLine {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: LogFields;
}

/** Records log lines in {@link RecordingLogger.lines} instead of printing them. */
export class RecordingLogger implements Logger {
  /** Every line, in order. */
  readonly lines: LogLine[] = [];

  debug(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: "debug", message, fields });
  }

  info(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: "info", message, fields });
  }

  warn(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: "warn", message, fields });
  }

  error(message: string, fields: LogFields = {}): void {
    this.lines.push({ level: "error", message, fields });
  }

  /** Every line as one string (message and JSON fields), for "never logs X" checks. */
  text(): string {
    return this.lines.map((l) => `${l.level} ${l.message} ${JSON.stringify(l.fields)}`).join("\n");
  }

  /** The lines at `level`. */
  at(level: LogLevel): LogLine[] {
    return this.lines.filter((l) => l.level === level);
  }

  /** Resolves once a line with `message` (and every field in `fields`) was logged. */
  async waitFor(
    message: string,
    fields: Record<string, unknown> = {},
    timeoutMs = 10_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.lines.some((line) =>
        line.message === message && Object.entries(fields).every(([k, v]) => line.fields[k] === v)
      );
      if (found) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`no log line ${message} ${JSON.stringify(fields)}:\n${this.text()}`);
  }
}
