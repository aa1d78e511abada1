/**
 * The life of a connection to an XMPP server, shared by the component and the client link:
 * connect in the background, reconnect with capped exponential backoff after a failed
 * attempt or a lost link, report the link's state (logs, metrics, `whenOnline` waiters), and
 * stop for good on request. The links supply how to connect and how to clean up.
 *
 * @module
 */

import { withTimeout } from "../../lib/timeout.ts";
import type { XmppLinkMetrics } from "../../domain/ports/metrics.ts";
import type { LogFields, Logger } from "../../domain/ports/logging.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";

/** What a link plugs into its lifecycle. */
export interface LinkLifecycleOptions {
  /** The server's address, for logs. */
  readonly service: string;
  readonly logger: Logger;
  readonly metrics?: XmppLinkMetrics;
  readonly backoff?: BackoffOptions;
  /** How long one attempt may take before it counts as failed. */
  readonly connectTimeoutMs?: number;
  /** One connection attempt; resolves once the link is up. */
  readonly connect: () => Promise<void>;
  /** Clears what a failed attempt left behind, before the next one. */
  readonly cleanUp: () => Promise<void>;
}

/** Connection state and the reconnect loop of one link. */
export class LinkLifecycle {
  readonly #options: LinkLifecycleOptions;
  readonly #backoff: Backoff;
  #running = false;
  #online = false;
  #wasOnline = false;
  #attempting = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #onlineWaiters: (() => void)[] = [];

  constructor(options: LinkLifecycleOptions) {
    this.#options = options;
    this.#backoff = new Backoff(options.backoff ?? { initialMs: 1000, maxMs: 60_000 });
  }

  /** Whether the link is up. */
  get online(): boolean {
    return this.#online;
  }

  /** Whether the link should be up (between `start` and `stop`). */
  get running(): boolean {
    return this.#running;
  }

  /** Starts connecting; keeps trying in the background until `stop`. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#attempt();
  }

  /** Resolves once the link is up. */
  whenOnline(): Promise<void> {
    if (this.#online) return Promise.resolve();
    return new Promise((resolve) => this.#onlineWaiters.push(resolve));
  }

  /** Stops reconnecting. The link closes its connection, then calls `stopped`. */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
  }

  /** The connection is closed for good. */
  stopped(): void {
    if (this.#online) this.#options.metrics?.xmppLinkState(false);
    this.#online = false;
  }

  /** The link came up (a new or resumed session). */
  wentOnline(fields: LogFields): void {
    const { metrics, logger } = this.#options;
    if (!this.#online) {
      metrics?.xmppLinkState(true);
      if (this.#wasOnline) metrics?.xmppReconnected();
    }
    this.#online = true;
    this.#wasOnline = true;
    this.#backoff.reset();
    logger.info("xmpp link up", fields);
    for (const resolve of this.#onlineWaiters.splice(0)) resolve();
  }

  /** The connection was lost: reconnect after a pause, unless stopping. */
  wentOffline(): void {
    const wasOnline = this.#online;
    this.#online = false;
    if (wasOnline) this.#options.metrics?.xmppLinkState(false);
    if (!wasOnline || !this.#running) return;
    const delay = this.#backoff.next();
    this.#options.logger.warn("xmpp link lost, reconnecting; device requests are still served", {
      retryInMs: delay,
    });
    this.#schedule(delay);
  }

  async #attempt(): Promise<void> {
    if (!this.#running || this.#attempting) return;
    this.#attempting = true;
    const { logger, service, metrics, connectTimeoutMs = 15_000 } = this.#options;
    try {
      await withTimeout(
        this.#options.connect(),
        connectTimeoutMs,
        () => new Error("connection attempt timed out"),
      );
    } catch (error) {
      if (!this.#running) return;
      metrics?.xmppConnectFailed();
      await this.#options.cleanUp().catch(() => {});
      const delay = this.#backoff.next();
      const reason = (error as Error)?.message || (error as Error)?.name || String(error);
      logger.warn("xmpp link down, retrying", { service, reason, retryInMs: delay });
      this.#schedule(delay);
    } finally {
      this.#attempting = false;
    }
  }

  #schedule(delay: number): void {
    if (!this.#running) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#attempt(), delay);
  }
}
