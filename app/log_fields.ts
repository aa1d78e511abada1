/**
 * A logger that adds fixed fields to every line (an app's `service` and `app`), so that the
 * shared delivery policy's lines say which app they are about.
 *
 * @module
 */

import type { LogFields, Logger } from "../domain/ports/logging.ts";

/** `logger`, with `fields` on every line (a line's own fields win). */
export function withLogFields(logger: Logger, fields: LogFields): Logger {
  const merged = (extra?: LogFields) => extra === undefined ? fields : { ...fields, ...extra };
  return {
    debug: (message, extra) => logger.debug(message, merged(extra)),
    info: (message, extra) => logger.info(message, merged(extra)),
    warn: (message, extra) => logger.warn(message, merged(extra)),
    error: (message, extra) => logger.error(message, merged(extra)),
  };
}
