/**
 * The logging port. `adapters/logging/console_logger.ts` implements it.
 *
 * @module
 */

/** Structured fields of a log line. Never put secrets, tokens or message content here. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** A leveled logger. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}
