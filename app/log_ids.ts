/**
 * Log-safe forms of identifiers: enough to correlate lines, never a whole node name (which
 * with its secret would allow publishing) or a channel URI's token.
 *
 * @module
 */

/** The first 8 characters of an id, for logs. */
export function shortId(id: string): string {
  return id.length <= 8 ? id : `${id.slice(0, 8)}…`;
}

/** A channel URI's host, for logs: the path and query carry the channel's token. */
export function channelHost(channelUri: string): string {
  try {
    return new URL(channelUri).host;
  } catch {
    return "(invalid)";
  }
}
