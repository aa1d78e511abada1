/**
 * XEP-0114 component mode: the push server is a component of an XMPP server (e.g.
 * `push.example.org`), and users' servers send it publish IQs directly. This adapter owns
 * the connection (with its own reconnect loop: capped exponential backoff) and turns
 * publish IQs into calls of the publish use case.
 *
 * @module
 */

import { component } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import type { LimitMetrics, PublishMetrics, XmppLinkMetrics } from "../../app/metrics.ts";
import type { Logger } from "../../domain/ports.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { answerPublish, discoInfo, NS_DISCO_INFO, type PublishHandler } from "./publish_iq.ts";
import { NS_PUBSUB } from "./publish_stanza.ts";
import { guardXmlInput } from "./xml_input_guard.ts";

/** Settings of a component connection. */
export interface ComponentLinkOptions {
  /** The XMPP server's component port, as `xmpp://host:port`. */
  readonly service: string;
  /** The component's domain: the push server's JID. */
  readonly domain: string;
  /** The shared component secret. */
  readonly password: string;
  readonly logger: Logger;
  /** Called for each well-formed publish; its outcome becomes the IQ answer. */
  readonly onPublish: PublishHandler;
  readonly backoff?: BackoffOptions;
  /** How long one connection attempt may take before it counts as failed. */
  readonly connectTimeoutMs?: number;
  /**
   * Told when the link goes up or down, of failed attempts, and of malformed publishes (the
   * others are counted by whoever handles them).
   */
  readonly metrics?: XmppLinkMetrics & Pick<PublishMetrics, "publish"> & Partial<LimitMetrics>;
  /** The largest stanza accepted; a larger one ends the stream (default: 1 MiB). */
  readonly maxStanzaBytes?: number;
}

/** A running component connection. */
export class ComponentLink {
  readonly #options: ComponentLinkOptions;
  // deno-lint-ignore no-explicit-any
  readonly #xmpp: any;
  readonly #backoff: Backoff;
  #running = false;
  #online = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #attempting = false;
  #wasOnline = false;
  /** Publish IQs being answered: `stop` lets their answers out first. */
  readonly #answering = new Set<Promise<unknown>>();
  #onlineWaiters: (() => void)[] = [];

  constructor(options: ComponentLinkOptions) {
    this.#options = options;
    this.#backoff = new Backoff(options.backoff ?? { initialMs: 1000, maxMs: 60_000 });
    const xmpp = component({
      service: options.service,
      domain: options.domain,
      password: options.password,
    });
    // The library's own reconnect retries at a fixed 1 s forever; ours backs off.
    xmpp.reconnect.stop();
    guardXmlInput(xmpp, {
      maxStanzaBytes: options.maxStanzaBytes,
      onTooLarge: () => options.metrics?.limitHit?.("stanza_size"),
    });
    xmpp.on("error", (error: Error) => {
      options.logger.warn("xmpp link error", { reason: error.message });
    });
    xmpp.on("online", () => this.#wentOnline());
    xmpp.on("disconnect", () => this.#wentOffline());
    xmpp.iqCallee.set(
      NS_PUBSUB,
      "pubsub",
      (ctx: { element: Element; stanza: Element }) => {
        let handled = false;
        const onPublish: PublishHandler = (request) => {
          handled = true;
          return options.onPublish(request);
        };
        return this.#tracked(
          answerPublish(ctx.element, ctx.stanza.attrs.from, onPublish, options.logger).then(
            (answer) => {
              // Not handed on: it was malformed, and answered bad-request.
              if (!handled) options.metrics?.publish("bad-request");
              return answer;
            },
          ),
        );
      },
    );
    xmpp.iqCallee.get(NS_DISCO_INFO, "query", () => discoInfo());
    this.#xmpp = xmpp;
  }

  /** The push server's JID, given to devices as `push_bare_jid`. */
  get pushBareJid(): string {
    return this.#options.domain;
  }

  /** Whether the link to the XMPP server is up. */
  get online(): boolean {
    return this.#online;
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

  /**
   * Closes the link and stops reconnecting. Publishes being answered get their answers out
   * first (waiting at most `answerWaitMs`, default 1 s).
   */
  async stop(answerWaitMs = 1000): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    if (this.#answering.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...this.#answering]),
        new Promise((resolve) => timer = setTimeout(resolve, answerWaitMs)),
      ]);
      clearTimeout(timer);
    }
    // The library sends an answer a few promise steps after our handler returns it.
    await new Promise((resolve) => setTimeout(resolve, 0));
    try {
      await this.#xmpp.stop();
    } catch {
      // Already down.
    }
    if (this.#online) this.#options.metrics?.xmppLinkState(false);
    this.#online = false;
  }

  #tracked<T>(answer: Promise<T>): Promise<T> {
    this.#answering.add(answer);
    const done = () => this.#answering.delete(answer);
    answer.then(done, done);
    return answer;
  }

  async #attempt(): Promise<void> {
    if (!this.#running || this.#attempting) return;
    this.#attempting = true;
    const { logger, service, connectTimeoutMs = 15_000 } = this.#options;
    try {
      if (this.#xmpp.status !== "offline") await this.#xmpp.stop().catch(() => {});
      await withTimeout(this.#xmpp.start(), connectTimeoutMs, "connection attempt timed out");
    } catch (error) {
      this.#options.metrics?.xmppConnectFailed();
      const delay = this.#backoff.next();
      logger.warn("xmpp link down, retrying", {
        service,
        reason: (error as Error).message,
        retryInMs: delay,
      });
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

  #wentOnline(): void {
    this.#online = true;
    this.#options.metrics?.xmppLinkState(true);
    if (this.#wasOnline) this.#options.metrics?.xmppReconnected();
    this.#wasOnline = true;
    this.#backoff.reset();
    this.#options.logger.info("xmpp link up", { jid: this.#options.domain });
    for (const resolve of this.#onlineWaiters.splice(0)) resolve();
  }

  #wentOffline(): void {
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
}

function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
