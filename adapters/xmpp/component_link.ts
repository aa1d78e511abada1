/**
 * XEP-0114 component mode: the push server is a component of an XMPP server (e.g.
 * `push.example.org`), and users' servers send it publish IQs directly. This adapter owns
 * the connection (with its own reconnect loop: capped exponential backoff) and turns
 * publish IQs into calls of the publish use case.
 *
 * @module
 */

import { settlesWithin } from "../../lib/timeout.ts";
import type { XmppLink } from "../../domain/ports/xmpp_link.ts";
import { component, xml } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import type { LimitMetrics, PublishMetrics, XmppLinkMetrics } from "../../domain/ports/metrics.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import type { BackoffOptions } from "./backoff.ts";
import { LinkLifecycle } from "./link_lifecycle.ts";
import { answerPublish, discoInfo, type MalformedPublishLog, NS_DISCO_INFO } from "./publish_iq.ts";
import { type PublishHandler } from "../../domain/ports/xmpp_link.ts";
import { NS_PUBSUB } from "./publish_parser.ts";
import { batchWrites, WRITE_WINDOW_MS } from "./write_batching.ts";
import { guardXmlInput } from "./xml_input_guard.ts";
import { type CommandDoor, commandsDiscoInfo, NS_DISCO_ITEMS } from "./command_door.ts";
import { NS_COMMANDS } from "./fcm_commands.ts";

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
  /** Where malformed publishes are logged; default: one info line each. */
  readonly malformedLog?: MalformedPublishLog;
  /**
   * After this long without input, an XEP-0199 ping goes to the component's own domain (the
   * server routes it back: the whole path is checked); 0: never. Default 30 s.
   */
  readonly pingIntervalMs?: number;
  /**
   * A ping with no input at all for this long means the server is not answering: the link
   * counts as down (readiness says so) and reconnects. Default 10 s.
   */
  readonly pingTimeoutMs?: number;
  /**
   * Ad-hoc commands (XEP-0050) to the component's JID or any resource of it: registrations
   * by command. Without it commands are answered `service-unavailable`.
   */
  readonly commands?: CommandDoor;
}

const NS_PING = "urn:xmpp:ping";
/** How long the server may take to close its side after we ended a closed stream. */
const CLOSE_GRACE_MS = 1000;

/** A running component connection. */
export class ComponentLink implements XmppLink {
  readonly #options: ComponentLinkOptions;
  // deno-lint-ignore no-explicit-any
  readonly #xmpp: any;
  readonly #life: LinkLifecycle;
  /** Publish IQs being answered: `stop` lets their answers out first. */
  readonly #answering = new Set<Promise<unknown>>();
  /** When the server last sent anything (epoch ms). */
  #lastInputAt = Date.now();
  /** When the unanswered ping went out, or null. */
  #pingSentAt: number | null = null;
  #pingTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: ComponentLinkOptions) {
    this.#options = options;
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
    xmpp.on("input", () => {
      this.#lastInputAt = Date.now();
      this.#pingSentAt = null;
    });
    // The server closed its stream (`</stream:stream>`) without closing TCP: the library
    // only detaches its parser, and every later publish would go unread. End the link.
    let previousStatus = "offline";
    xmpp.on("status", (status: string) => {
      if (status === "close" && previousStatus !== "closing") this.#endClosedStream(xmpp);
      previousStatus = status;
    });
    batchWrites(xmpp);
    xmpp.on("error", (error: Error) => {
      options.logger.warn("xmpp link error", { reason: error.message });
    });
    this.#life = new LinkLifecycle({
      service: options.service,
      logger: options.logger,
      metrics: options.metrics,
      backoff: options.backoff,
      connectTimeoutMs: options.connectTimeoutMs,
      connect: async () => {
        if (xmpp.status !== "offline") await xmpp.stop().catch(() => {});
        await xmpp.start();
      },
      cleanUp: () => Promise.resolve(),
    });
    xmpp.on("online", () => {
      this.#startPings();
      this.#life.wentOnline({ jid: options.domain });
    });
    xmpp.on("disconnect", () => {
      this.#stopPings();
      this.#life.wentOffline();
    });
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
          answerPublish(
            ctx.element,
            ctx.stanza.attrs.from,
            onPublish,
            options.logger,
            options.malformedLog,
          ).then(
            (answer) => {
              // Not handed on: it was malformed, and answered bad-request.
              if (!handled) options.metrics?.publish("bad-request");
              return answer;
            },
          ),
        );
      },
    );
    const commands = options.commands;
    if (commands) {
      xmpp.iqCallee.set(
        NS_COMMANDS,
        "command",
        (ctx: { stanza: Element }) => this.#tracked(commands.answer(ctx.stanza)),
      );
      xmpp.iqCallee.get(
        NS_DISCO_ITEMS,
        "query",
        (ctx: { element: Element }) => commands.discoItems(ctx.element, options.domain),
      );
      xmpp.iqCallee.get(
        NS_DISCO_INFO,
        "query",
        (ctx: { element: Element }) => commandsDiscoInfo(ctx.element, commands),
      );
    } else {
      xmpp.iqCallee.get(NS_DISCO_INFO, "query", () => discoInfo());
    }
    // Our own pings come back here through the server; the server's pings too.
    xmpp.iqCallee.get(NS_PING, "ping", () => true);
    this.#xmpp = xmpp;
  }

  /** The push server's JID, given to devices as `push_bare_jid`. */
  get pushBareJid(): string {
    return this.#options.domain;
  }

  /** Whether the link to the XMPP server is up and answering. */
  get online(): boolean {
    return this.#life.online && !this.#pingOverdue(Date.now());
  }

  /** Starts connecting; keeps trying in the background until `stop`. */
  start(): void {
    this.#life.start();
  }

  /** Resolves once the link is up. */
  whenOnline(): Promise<void> {
    return this.#life.whenOnline();
  }

  /**
   * Closes the link and stops reconnecting. Publishes being answered get their answers out
   * first (waiting at most `answerWaitMs`, default 1 s).
   */
  async stop(answerWaitMs = 1000): Promise<void> {
    this.#life.stop();
    this.#stopPings();
    if (this.#answering.size > 0) {
      await settlesWithin(Promise.allSettled([...this.#answering]), answerWaitMs);
    }
    // The library sends an answer a few promise steps after our handler returns it, and the
    // socket holds it for up to the write window.
    await new Promise((resolve) => setTimeout(resolve, WRITE_WINDOW_MS + 1));
    try {
      await this.#xmpp.stop();
    } catch {
      // Already down.
    }
    this.#life.stopped();
  }

  /** Replies to the server's stream close and makes sure the connection goes. */
  // deno-lint-ignore no-explicit-any
  #endClosedStream(xmpp: any): void {
    const socket = xmpp.socket;
    if (!socket || !this.#life.running) return;
    this.#options.logger.warn("xmpp server closed the stream: reconnecting");
    socket.end("</stream:stream>");
    // A peer that keeps TCP open after that is not waited for.
    const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
    socket.once("close", () => clearTimeout(timer));
  }

  #pingOverdue(now: number): boolean {
    const { pingTimeoutMs = 10_000 } = this.#options;
    return this.#pingSentAt !== null && now - this.#pingSentAt >= pingTimeoutMs;
  }

  #startPings(): void {
    const { pingIntervalMs = 30_000, pingTimeoutMs = 10_000 } = this.#options;
    this.#stopPings();
    this.#lastInputAt = Date.now();
    this.#pingSentAt = null;
    if (pingIntervalMs <= 0) return;
    const tick = Math.max(10, Math.min(pingIntervalMs, pingTimeoutMs) / 4);
    this.#pingTimer = setInterval(() => this.#checkAnswering(), tick);
  }

  #stopPings(): void {
    clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
    this.#pingSentAt = null;
  }

  /** Pings after a silence; reconnects when a ping goes unanswered. */
  #checkAnswering(): void {
    const { pingIntervalMs = 30_000, pingTimeoutMs = 10_000, logger, domain } = this.#options;
    const now = Date.now();
    if (this.#pingOverdue(now)) {
      logger.warn("xmpp server does not answer pings: reconnecting", { timeoutMs: pingTimeoutMs });
      this.#stopPings();
      this.#xmpp.socket?.destroy();
      return;
    }
    if (this.#pingSentAt !== null || now - this.#lastInputAt < pingIntervalMs) return;
    this.#pingSentAt = now;
    const ping = xml(
      "iq",
      { type: "get", id: `ping-${now}`, from: domain, to: domain },
      xml("ping", { xmlns: NS_PING }),
    );
    this.#xmpp.send(ping).catch(() => {});
  }

  #tracked<T>(answer: Promise<T>): Promise<T> {
    this.#answering.add(answer);
    const done = () => this.#answering.delete(answer);
    answer.then(done, done);
    return answer;
  }
}
