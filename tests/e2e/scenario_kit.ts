/**
 * What the end-to-end scenario files share: a logged-in session of a test user, bob's
 * message to an offline user, polling until something is observed, a metric sample of the
 * push server, and a failure that carries both servers' logs.
 *
 * @module
 */

import { eventually } from "../support/loopback_stack.ts";
import { sample } from "../support/prometheus_text.ts";
import { connectUser, type XmppUser } from "../support/xmpp_user.ts";
import type { PushStack, XmppServer } from "./push_stack.ts";

/** `user` (password `${user}-pw`) logs in, runs `body`, logs out (offline: no stream management). */
export async function userSession<T>(
  stack: PushStack,
  user: string,
  body: (session: XmppUser) => Promise<T>,
): Promise<T> {
  const port = stack.xmppServer.c2sPort;
  const client = await connectUser({ port, username: user, password: `${user}-pw` });
  try {
    return await body(client);
  } finally {
    await client.disconnect();
  }
}

/** bob sends `user` a message (`text`) while `user` is offline. */
export function messageFromBob(stack: PushStack, user: string, text: string): Promise<void> {
  return userSession(stack, "bob", (bob) => bob.sendMessage(`${user}@localhost`, text));
}

/**
 * Polls `done` every 50 ms until it holds; throws naming `what` after `timeoutMs` (the real
 * servers' logs and metrics are read at each poll: not more often).
 */
export function waitUntil(
  done: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  return eventually(done, what, timeoutMs, 50);
}

/** One sample of the push server's metrics (0 when absent). */
export async function metricSample(
  stack: PushStack,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  return sample(await stack.server.metrics.text(), name, labels) ?? 0;
}

/**
 * `error` with the tail of the users' server's log (`kind` names it), the push server's log
 * and any `extra` sections appended: what a failed scenario needs to be understood.
 */
export async function failureWithLogs(
  error: unknown,
  kind: string,
  xmppServer: XmppServer,
  stack: PushStack | undefined,
  extra: Record<string, string> = {},
): Promise<Error> {
  const sections = Object.entries(extra).map(([name, text]) => `\n--- ${name} ---\n${text}`);
  return new Error(
    `${(error as Error).message}\n--- ${kind} log ---\n${await xmppServer
      .logTail()}\n--- push server log ---\n${stack?.logger.text()}${sections.join("")}`,
    { cause: error },
  );
}
