/**
 * An in-memory XMPP link for tests and flow checks: stanzas are handed in as elements and
 * the IQ answers come back, with the same parsing and answers as the component link but no
 * socket.
 *
 * @module
 */

import { xml } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import type { Logger } from "../../domain/ports/logging.ts";
import { answerPublish, discoInfo, NS_DISCO_INFO } from "./publish_iq.ts";
import type { PublishHandler, XmppLink } from "../../domain/ports/xmpp_link.ts";
import { stanzaError } from "./iq_answers.ts";
import { NS_PUBSUB } from "./publish_parser.ts";
import { type CommandDoor, commandsDiscoInfo, NS_DISCO_ITEMS } from "./command_door.ts";
import { NS_COMMANDS } from "./fcm_commands.ts";

/**
 * A push service's XMPP side without a network: an {@link XmppLink} that is always up
 * (nothing to connect or close), plus {@link MemoryXmppLink.receive} to hand it stanzas.
 */
export class MemoryXmppLink implements XmppLink {
  constructor(
    readonly pushBareJid: string,
    readonly onPublish: PublishHandler,
    readonly logger: Logger,
    readonly commands?: CommandDoor,
  ) {}

  /** Always up. */
  get online(): boolean {
    return true;
  }

  /** Up from the start. */
  whenOnline(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to connect. */
  start(): void {}

  /** Nothing to close: stanzas are only handled while {@link receive} is called. */
  stop(): Promise<void> {
    return Promise.resolve();
  }

  /** Handles an IQ sent to the push service and returns the IQ it answers with. */
  async receive(iq: Element): Promise<Element> {
    const child = iq.getChildElements()[0];
    let payload: Element;
    if (iq.attrs.type === "set" && child?.is("pubsub", NS_PUBSUB)) {
      payload = await answerPublish(child, iq.attrs.from, this.onPublish, this.logger);
    } else if (iq.attrs.type === "set" && this.commands && child?.is("command", NS_COMMANDS)) {
      payload = await this.commands.answer(iq);
    } else if (iq.attrs.type === "get" && child?.is("query", NS_DISCO_INFO)) {
      payload = this.commands ? commandsDiscoInfo(child, this.commands) : discoInfo();
    } else if (iq.attrs.type === "get" && this.commands && child?.is("query", NS_DISCO_ITEMS)) {
      payload = this.commands.discoItems(child, this.pushBareJid);
    } else {
      payload = stanzaError("cancel", "service-unavailable");
    }
    const type = payload.is("error") ? "error" : "result";
    return xml("iq", { type, id: iq.attrs.id, from: iq.attrs.to, to: iq.attrs.from }, payload);
  }
}
