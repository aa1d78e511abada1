/**
 * The XEP-0050 door: ad-hoc command IQ sets to the push JID are routed to handlers
 * registered by command node (`register-push-fcm`, `unregister-push-fcm`, ... and whatever
 * other branches plug in, e.g. `register-push-webpush`). It also answers what service
 * discovery asks about commands: disco#info lists the commands feature, disco#items on the
 * commands node lists every node served. A flood is bounded per sending server before any
 * handler runs. Transport-free: the component and client links hand it IQs and send back the
 * payload it answers (a `<command/>` for a result, an `<error/>` for an error).
 *
 * @module
 */

import { xml } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import type { Logger } from "../../domain/ports/logging.ts";
import { stanzaError } from "./iq_answers.ts";
import { NS_COMMANDS } from "./fcm_commands.ts";
import { discoInfo, jidDomain, NS_DISCO_INFO } from "./publish_iq.ts";

export const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";

/** One command IQ, as a handler gets it. */
export interface CommandContext {
  /** The whole IQ set. */
  readonly iq: Element;
  /** Its `<command/>`. */
  readonly command: Element;
  /** The IQ's `from` (the registering account's full JID). */
  readonly from: string;
  /**
   * The resource of the IQ's `to` (`push.example.org/<app>`): the app the client asks for;
   * null without one, or where the resource does not name apps (client mode).
   */
  readonly requestedApp: string | null;
}

/** Answers one command: a `<command/>` for a result, or an `<error/>`. Never throws. */
export type CommandHandler = (context: CommandContext) => Promise<Element>;

/** Settings of a {@link CommandDoor}. */
export interface CommandDoorOptions {
  readonly logger: Logger;
  /**
   * Whether a command from this sending server (its domain) may go on now: the flood bound,
   * like the publishes' per-server rate. Absent: no bound.
   */
  readonly admit?: (server: string) => boolean;
}

interface Registered {
  readonly name: string;
  readonly handler: CommandHandler;
}

/** Routes command IQs by node. */
export class CommandDoor {
  readonly #options: CommandDoorOptions;
  readonly #handlers = new Map<string, Registered>();

  constructor(options: CommandDoorOptions) {
    this.#options = options;
  }

  /** Serves `node` with `handler`; `name` is what disco#items shows. One handler per node. */
  register(node: string, name: string, handler: CommandHandler): void {
    if (this.#handlers.has(node)) throw new Error(`command node ${node} is served already`);
    this.#handlers.set(node, { name, handler });
  }

  /** The command nodes served, in registration order. */
  get nodes(): readonly string[] {
    return [...this.#handlers.keys()];
  }

  /**
   * The payload answering a command IQ set. `appFromResource`: whether the resource of the
   * IQ's `to` names an app (component mode), or is the link's own (client mode).
   */
  async answer(iq: Element, appFromResource = true): Promise<Element> {
    const command = iq.getChild("command", NS_COMMANDS);
    if (iq.attrs.type !== "set" || command === undefined) {
      return stanzaError("modify", "bad-request", "not a command");
    }
    const from = typeof iq.attrs.from === "string" ? iq.attrs.from : "";
    if (from === "") return stanzaError("modify", "bad-request", "no sender");
    const registered = this.#handlers.get(String(command.attrs.node ?? ""));
    if (registered === undefined) return stanzaError("cancel", "item-not-found", "unknown command");
    const { admit, logger } = this.#options;
    if (admit && !admit(jidDomain(from))) {
      return stanzaError("wait", "resource-constraint", "too many commands from your server");
    }
    const to = typeof iq.attrs.to === "string" ? iq.attrs.to : "";
    const slash = to.indexOf("/");
    const requestedApp = appFromResource && slash !== -1 ? to.slice(slash + 1) : null;
    try {
      return await registered.handler({ iq, command, from, requestedApp });
    } catch (error) {
      // Left to the library, a throw is `cancel`: a `wait` instead, it may pass.
      logger.error("command failed unexpectedly", { reason: String(error) });
      return stanzaError("wait", "internal-server-error", "push server error, try later");
    }
  }

  /** disco#items on the commands node (XEP-0050 §2.2); other nodes have no items. */
  discoItems(query: Element, jid: string): Element {
    const node = query.attrs.node;
    if (node !== NS_COMMANDS) {
      return xml("query", { xmlns: NS_DISCO_ITEMS, ...(node ? { node } : {}) });
    }
    return xml(
      "query",
      { xmlns: NS_DISCO_ITEMS, node: NS_COMMANDS },
      ...[...this.#handlers].map(([commandNode, { name }]) =>
        xml("item", { jid, node: commandNode, name })
      ),
    );
  }
}

/**
 * disco#info of an XEP-0357 app server that takes commands: the push identity and features,
 * plus XEP-0050's (and, for a command node, that command's identity).
 */
export function commandsDiscoInfo(query: Element, door: CommandDoor | undefined): Element {
  const node = typeof query.attrs.node === "string" ? query.attrs.node : undefined;
  if (node !== undefined && door?.nodes.includes(node)) {
    return xml(
      "query",
      { xmlns: NS_DISCO_INFO, node },
      xml("identity", { category: "automation", type: "command-node" }),
      xml("feature", { var: NS_COMMANDS }),
      xml("feature", { var: "jabber:x:data" }),
    );
  }
  return door ? discoInfo(NS_DISCO_ITEMS, NS_COMMANDS) : discoInfo();
}
