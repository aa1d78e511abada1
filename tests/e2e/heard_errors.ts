/**
 * What the users' servers log when a push is answered with an error, read back by the
 * end-to-end tests: the proof that the user's server heard the answer the push server gave.
 *
 * @module
 */

import { PUSH_DOMAIN, type XmppServerKind } from "./push_stack.ts";

/** An error answer to the push for `user`'s registration. */
export interface HeardError {
  readonly user: string;
  /** The registration's node; absent: any of the user's registrations (Prosody: any). */
  readonly node?: string;
  readonly type: string;
  /** Absent: any condition. */
  readonly condition?: string;
}

/** The lines of a `kind` server's `log` saying it got `error` for a push. */
export function heardErrorLines(kind: XmppServerKind, log: string, error: HeardError): number {
  return log.split("\n").filter((line) => saysHeard(kind, line.trimEnd(), error)).length;
}

/** Whether a `kind` server's `log` says it got `error` for a push. */
export function heardError(kind: XmppServerKind, log: string, error: HeardError): boolean {
  return heardErrorLines(kind, log, error) > 0;
}

function saysHeard(kind: XmppServerKind, line: string, error: HeardError): boolean {
  const { user, node, type, condition } = error;
  if (kind === "prosody") {
    // mod_cloud_notify: "Got error <type:condition:text> for identifier '<jid><<node>'"
    // (a `wait` at debug level).
    return line.includes(`Got error <${type}:${condition === undefined ? "" : `${condition}:`}`) &&
      (node === undefined || line.includes(`for identifier '${PUSH_DOMAIN}<${node}'`));
  }
  // mod_push: a `wait` is "rejected ... temporarily: <text> (<condition>)"; anything else
  // drops the session: "disabling push: <condition> (<type>)".
  if (!line.includes(`${PUSH_DOMAIN} rejected notification for ${user}@localhost (`)) return false;
  return type === "wait"
    ? line.includes("temporarily: ") && (condition === undefined || line.endsWith(`(${condition})`))
    : line.includes(
      condition === undefined ? "disabling push: " : `disabling push: ${condition} (${type})`,
    );
}
