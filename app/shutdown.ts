/**
 * The graceful shutdown, in order: say "not ready", stop taking devices and publishes
 * (publishes are answered `wait`), answer what is in progress, then close the XMPP link, the
 * push services' connections, the ops port and the store. What is still in progress at the
 * deadline is cut off.
 *
 * @module
 */

import type { Logger } from "../domain/ports/logging.ts";
import type { RegistrationStore } from "../domain/ports/storage.ts";
import type { XmppLink } from "../domain/ports/xmpp_link.ts";

/** What a running server holds, as the shutdown closes it. */
export interface ShutdownParts {
  readonly logger: Logger;
  /** `/readyz` turns unready first, so load balancers stop sending. */
  readonly markShuttingDown: () => void;
  /** Publishes: refused from now on, then waited for. */
  readonly publishes: {
    drain(): void;
    idle(timeoutMs: number): Promise<boolean>;
    readonly inProgress: number;
  };
  /** Background work that stops at once (timers, counting), awaited before anything closes. */
  readonly stopBackground: () => Promise<void>;
  /** The device port: stops accepting, answers the requests in progress. */
  readonly closeDevices: (timeoutMs: number) => Promise<void>;
  /** Sends the pushes held back for merging now rather than at the end of their window. */
  readonly flushPushes: () => Promise<void>;
  readonly link: Pick<XmppLink, "stop">;
  /** Logs what sampled log lines left out. */
  readonly flushLogs: () => void;
  /** The push services' connections. */
  readonly closeDelivery: () => void;
  readonly closeOps: () => Promise<void>;
  readonly store: Pick<RegistrationStore, "close">;
}

/** Runs the shutdown; whatever is in progress gets until `timeoutMs` from now. */
export async function shutDown(parts: ShutdownParts, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(0, deadline - Date.now());
  parts.markShuttingDown();
  parts.publishes.drain();
  await parts.stopBackground();
  const [, drained] = await Promise.all([
    parts.closeDevices(left()),
    parts.flushPushes().then(() => parts.publishes.idle(left())),
  ]);
  if (!drained) {
    parts.logger.warn("shutdown deadline passed; publishes left unanswered", {
      publishes: parts.publishes.inProgress,
    });
  }
  await parts.link.stop(left());
  parts.flushLogs();
  parts.closeDelivery();
  await parts.closeOps();
  await parts.store.close();
  parts.logger.info("push server stopped");
}
