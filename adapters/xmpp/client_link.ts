/**
 * Client mode (the original server's design): the push server logs in to an XMPP server as
 * an ordinary account, owns one PEP node per registered account (see `pep_provisioner.ts`),
 * is subscribed to them, and turns the PubSub events it receives for them into calls of the
 * publish use case.
 *
 * The connection: TLS (STARTTLS, or direct TLS for `xmpps://`), certificates always
 * checked, extra CA certificates possible; no password is sent without TLS unless TLS is
 * explicitly not required. XEP-0198 stream management when the server offers it (with
 * the library's stanza counter fixed, see `xmpp_client_patches.ts`): after a dropped
 * connection the session is resumed if the server still holds it, so the events it queued
 * meanwhile are not lost. XEP-0199 pings keep the connection alive and detect a dead one.
 * Reconnects with capped exponential backoff, by itself, until stopped.
 *
 * @module
 */

import { client, xml } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import type { LimitMetrics, XmppLinkMetrics } from "../../domain/ports/metrics.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import type { BackoffOptions } from "./backoff.ts";
import { LinkLifecycle } from "./link_lifecycle.ts";
import { nodeForLog, parsePepEvent } from "./pep_event.ts";
import type { PublishHandler, XmppLink } from "../../domain/ports/xmpp_link.ts";
import {
  type ClientTlsOptions,
  credentialsFor,
  fixStreamManagement,
  useTlsOptions,
  type XmppClient,
} from "./xmpp_client_patches.ts";
import { guardXmlInput } from "./xml_input_guard.ts";
import type { CommandDoor } from "./command_door.ts";
import { NS_COMMANDS } from "./fcm_commands.ts";

const NS_PING = "urn:xmpp:ping";

/** Settings of a client connection. */
export interface ClientLinkOptions {
  /** `xmpp://host:port` (STARTTLS) or `xmpps://host:port` (direct TLS). */
  readonly service: string;
  /** The push account's bare JID, `user@domain`: the `push_bare_jid` devices receive. */
  readonly jid: string;
  readonly password: string;
  readonly tls: ClientTlsOptions;
  readonly logger: Logger;
  /** Called for each PubSub event that carries someone else's push notification. */
  readonly onPublish: PublishHandler;
  /** The resource to bind; a fixed one, so a new session replaces a stale one. */
  readonly resource?: string;
  readonly backoff?: BackoffOptions;
  /** How long one connection attempt may take before it counts as failed. */
  readonly connectTimeoutMs?: number;
  /** Sends an XEP-0199 ping to the server this often while online; 0: never. */
  readonly keepaliveMs?: number;
  /** A ping unanswered for this long means the connection is dead: reconnect. */
  readonly pingTimeoutMs?: number;
  /**
   * Told when the link goes up or down, when it came back after a loss (a resumed session
   * included), and of failed connection attempts.
   */
  readonly metrics?: XmppLinkMetrics & Partial<LimitMetrics>;
  /** The largest stanza accepted; a larger one ends the stream (default: 1 MiB). */
  readonly maxStanzaBytes?: number;
  /**
   * Ad-hoc commands (XEP-0050) sent to the push account's full JID: registrations by
   * command, for the services' default apps (the resource is the link's own, it names no
   * app).
   */
  readonly commands?: CommandDoor;
}

/** A running client connection. */
export class ClientLink implements XmppLink {
  readonly #options: ClientLinkOptions;
  readonly #xmpp: XmppClient;
  readonly #life: LinkLifecycle;
  readonly #domain: string;
  #keepalive: ReturnType<typeof setInterval> | undefined;
  #pinging = false;

  constructor(options: ClientLinkOptions) {
    const at = options.jid.indexOf("@");
    if (at <= 0 || at === options.jid.length - 1 || options.jid.includes("/")) {
      throw new Error(`client mode needs a bare account JID (user@domain), not ${options.jid}`);
    }
    this.#options = options;
    this.#domain = options.jid.slice(at + 1);
    const username = options.jid.slice(0, at);
    const xmpp = client({
      service: options.service,
      domain: this.#domain,
      username,
      resource: options.resource ?? "uwpx-push",
      credentials: credentialsFor(username, options.password, options.tls.required),
    });
    // The library's own reconnect retries at a fixed 1 s forever; ours backs off.
    xmpp.reconnect.stop();
    useTlsOptions(xmpp, options.tls);
    fixStreamManagement(xmpp);
    guardXmlInput(xmpp, {
      maxStanzaBytes: options.maxStanzaBytes,
      onTooLarge: () => options.metrics?.limitHit?.("stanza_size"),
    });
    xmpp.on("error", (error: Error) => {
      options.logger.warn("xmpp link error", { reason: error.message });
    });
    this.#life = new LinkLifecycle({
      service: options.service,
      logger: options.logger,
      metrics: options.metrics,
      backoff: options.backoff,
      connectTimeoutMs: options.connectTimeoutMs,
      connect: () => this.#connect(),
      // Not `stop()`: that would also drop the stream-management state, and with it the
      // chance to resume the session next time.
      cleanUp: () => xmpp.disconnect(),
    });
    xmpp.on("online", () => this.#wentOnline(false));
    xmpp.streamManagement.on("resumed", () => this.#wentOnline(true));
    xmpp.on("disconnect", () => this.#wentOffline());
    const commands = options.commands;
    if (commands) {
      xmpp.iqCallee.set(
        NS_COMMANDS,
        "command",
        (ctx: { stanza: Element }) => commands.answer(ctx.stanza, false),
      );
    }
    xmpp.on("stanza", (stanza: Element) => {
      if (stanza.name === "message") this.#onMessage(stanza);
    });
    this.#xmpp = xmpp;
  }

  /** The push account's bare JID, given to devices as `push_bare_jid`. */
  get pushBareJid(): string {
    return this.#options.jid;
  }

  /** Whether the link to the XMPP server is up. */
  get online(): boolean {
    return this.#life.online;
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
   * Sends an IQ and resolves with the server's `result` IQ. Rejects at once when the link
   * is down, with the library's StanzaError (`condition`, `type`) on an `error` answer, and
   * with a TimeoutError when no answer came within `timeoutMs`.
   */
  async iq(stanza: Element, timeoutMs: number): Promise<Element> {
    if (!this.#life.online) throw new Error("the XMPP link is down");
    return await this.#xmpp.iqCaller.request(stanza, timeoutMs);
  }

  /** Closes the link (cleanly: the server's session ends) and stops reconnecting. */
  async stop(): Promise<void> {
    this.#life.stop();
    this.#stopKeepalive();
    try {
      await this.#xmpp.stop();
    } catch {
      // Already down.
    }
    this.#life.stopped();
  }

  /**
   * Connects and opens a stream (what the library's `start()` does, minus its "must be
   * offline" check); resolves once online or resumed. A dropped connection leaves the
   * entity "disconnect", not "offline", with its stream-management state: the server's
   * session is then resumed if it still holds it, with the stanzas it queued meanwhile.
   */
  async #connect(): Promise<void> {
    const xmpp = this.#xmpp;
    const up = new Promise<void>((resolve, reject) => {
      const done = (error?: unknown) => {
        xmpp.off("online", onUp);
        xmpp.streamManagement.off("resumed", onUp);
        xmpp.off("error", onError);
        xmpp.off("disconnect", onDown);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onUp = () => done();
      const onError = (error: unknown) => done(error ?? new Error("error"));
      const onDown = () => done(new Error("disconnected while connecting"));
      xmpp.on("online", onUp);
      xmpp.streamManagement.on("resumed", onUp);
      xmpp.on("error", onError);
      xmpp.on("disconnect", onDown);
    });
    const { service, domain, lang } = xmpp.options;
    const opened = (async () => {
      await xmpp.connect(service);
      await xmpp.open({ domain, lang });
    })();
    // Whichever fails first fails the attempt (a connection closed during the stream
    // opening would otherwise only show after the opening's own timeout).
    await Promise.all([opened, up]);
  }

  #wentOnline(resumed: boolean): void {
    if (!resumed) {
      // Initial presence: the server delivers the PEP events (messages to the bare JID)
      // only to available resources. A resumed session kept its presence.
      this.#xmpp.send(xml("presence", {}, xml("priority", {}, "1"))).catch(() => {});
    }
    this.#startKeepalive();
    this.#life.wentOnline({ jid: this.#options.jid, resumed });
  }

  #wentOffline(): void {
    this.#stopKeepalive();
    this.#life.wentOffline();
  }

  #startKeepalive(): void {
    const { keepaliveMs = 60_000 } = this.#options;
    this.#stopKeepalive();
    if (keepaliveMs > 0) this.#keepalive = setInterval(() => this.#ping(), keepaliveMs);
  }

  #stopKeepalive(): void {
    clearInterval(this.#keepalive);
    this.#keepalive = undefined;
  }

  async #ping(): Promise<void> {
    if (this.#pinging || !this.#life.online) return;
    this.#pinging = true;
    const { pingTimeoutMs = 20_000, logger } = this.#options;
    try {
      await this.#xmpp.iqCaller.get(xml("ping", { xmlns: NS_PING }), this.#domain, pingTimeoutMs);
    } catch (error) {
      // An error answer still proves the connection works; silence does not.
      if ((error as Error).name === "TimeoutError" && this.#life.online) {
        logger.warn("xmpp server does not answer pings: reconnecting", {
          timeoutMs: pingTimeoutMs,
        });
        this.#xmpp.disconnect().catch(() => {});
      }
    } finally {
      this.#pinging = false;
    }
  }

  async #onMessage(message: Element): Promise<void> {
    const { logger, onPublish } = this.#options;
    const event = parsePepEvent(message, this.#options.jid);
    switch (event.kind) {
      case "not-an-event":
        return;
      case "ignored":
        logger.debug("pubsub event ignored", {
          reason: event.reason,
          node: event.node === undefined ? undefined : nodeForLog(event.node),
        });
        return;
      case "publish":
        try {
          // The use case logs the outcome; an event has no answer to send.
          await onPublish(event.request);
        } catch (error) {
          logger.error("pubsub event failed", { reason: String(error) });
        }
    }
  }
}
