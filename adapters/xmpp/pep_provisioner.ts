/**
 * Client mode's node provisioner: each registered account gets a PEP node on the push
 * account, created and configured by publishing a setup item with publish-options (as the
 * original server did: open access and publish models, so users' servers may publish;
 * notifications with payloads; persistent items), and subscribed to by the push account,
 * whose server then delivers every publish as a PubSub event. Removed accounts' nodes are
 * unsubscribed from and deleted.
 *
 * A node counts as ready only when the server answered both IQs with a result. Every IQ
 * has a fresh id and a bounded wait; nothing here throws.
 *
 * @module
 */

import { xml } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import type { Logger, NodeProvisioner } from "../../domain/ports.ts";
import { NODE_SETUP_ITEM_ID, nodeForLog } from "./pep_event.ts";
import { NS_DATA, NS_PUBSUB, NS_PUSH } from "./publish_stanza.ts";

const NS_PUBSUB_OWNER = "http://jabber.org/protocol/pubsub#owner";
const PUBLISH_OPTIONS_FORM = "http://jabber.org/protocol/pubsub#publish-options";

/**
 * The node configuration, as publish-options: the server creates the node with it, or
 * refuses the publish if an existing node is configured otherwise.
 */
export const NODE_CONFIG: readonly (readonly [string, string])[] = [
  // Anyone may subscribe and publish: the users' servers publish, and know only the node.
  ["pubsub#access_model", "open"],
  ["pubsub#publish_model", "open"],
  ["pubsub#deliver_notifications", "1"],
  ["pubsub#deliver_payloads", "1"],
  ["pubsub#persist_items", "1"],
  // Not in the original: never replay the last item (on subscribing, on presence), which
  // would turn an old notification into a new push.
  ["pubsub#send_last_published_item", "never"],
];

/** What the provisioner needs of the client link. */
export interface IqChannel {
  /** The push account's bare JID: the subscriber. */
  readonly pushBareJid: string;
  /**
   * Sends an IQ; resolves with the `result` IQ, rejects on an `error` answer (with
   * `condition`), a timeout, or when the link is down.
   */
  iq(stanza: Element, timeoutMs: number): Promise<Element>;
}

/** Settings of {@link PepProvisioner}. */
export interface PepProvisionerOptions {
  readonly link: IqChannel;
  readonly logger: Logger;
  /** How long to wait for each answer. */
  readonly iqTimeoutMs?: number;
}

/** Creates, subscribes, unsubscribes and deletes the push account's PEP nodes. */
export class PepProvisioner implements NodeProvisioner {
  readonly #options: PepProvisionerOptions;

  constructor(options: PepProvisionerOptions) {
    this.#options = options;
  }

  async provision(
    added: readonly string[],
    removed: readonly string[],
  ): Promise<ReadonlySet<string>> {
    try {
      const [ready] = await Promise.all([
        Promise.all(added.map((node) => this.#setUp(node))),
        Promise.all(removed.map((node) => this.#tearDown(node))),
      ]);
      const nodes = new Set(added.filter((_, i) => ready[i]));
      this.#options.logger.info("pep nodes provisioned", {
        ready: nodes.size,
        failed: added.length - nodes.size,
        removed: removed.length,
      });
      return nodes;
    } catch (error) {
      // Not expected (each step catches its own failures), but never throw.
      this.#options.logger.error("pep provisioning failed", { reason: String(error) });
      return new Set();
    }
  }

  /** Creates and configures the node, then subscribes to it; true when both succeeded. */
  async #setUp(node: string): Promise<boolean> {
    const { link } = this.#options;
    const published = await this.#send(node, "create", setupPublish(node), (answer) => {
      const publish = answer.getChild("pubsub", NS_PUBSUB)?.getChild("publish");
      return publish === undefined || publish.attrs.node === node;
    });
    if (!published) return false;
    return await this.#send(node, "subscribe", subscribe(node, link.pushBareJid), (answer) => {
      const subscription = answer.getChild("pubsub", NS_PUBSUB)?.getChild("subscription");
      if (subscription === undefined) return true; // a bare result is a success
      const state = subscription.attrs.subscription;
      const sameNode = subscription.attrs.node === undefined || subscription.attrs.node === node;
      return sameNode && (state === undefined || state === "subscribed");
    });
  }

  /** Unsubscribes from and deletes the node; failures are only logged. */
  async #tearDown(node: string): Promise<void> {
    const { link } = this.#options;
    await this.#send(node, "unsubscribe", unsubscribe(node, link.pushBareJid), () => true);
    await this.#send(node, "delete", deleteNode(node), () => true);
  }

  /** Sends one IQ; true when the server answered with a result that `accept` accepts. */
  async #send(
    node: string,
    step: string,
    payload: Element,
    accept: (answer: Element) => boolean,
  ): Promise<boolean> {
    const { link, logger, iqTimeoutMs = 10_000 } = this.#options;
    const iq = xml("iq", { type: "set", id: `uwpx-${crypto.randomUUID()}` }, payload);
    try {
      const answer = await link.iq(iq, iqTimeoutMs);
      if (answer.attrs.type === "result" && accept(answer)) return true;
      logger.warn("pep node step refused", { node: nodeForLog(node), step, answer: "unexpected" });
    } catch (error) {
      const { name, condition, type } = error as {
        name?: string;
        condition?: string;
        type?: string;
      };
      logger.warn("pep node step failed", {
        node: nodeForLog(node),
        step,
        reason: condition === undefined ? `${name}: ${(error as Error).message}` : condition,
        errorType: type,
      });
    }
    return false;
  }
}

/** The publish that creates the node with {@link NODE_CONFIG} (or checks an existing one). */
export function setupPublish(node: string): Element {
  const fields = [["FORM_TYPE", PUBLISH_OPTIONS_FORM], ...NODE_CONFIG].map(([name, value]) =>
    xml(
      "field",
      name === "FORM_TYPE" ? { var: name, type: "hidden" } : { var: name },
      xml("value", {}, value),
    )
  );
  return xml(
    "pubsub",
    { xmlns: NS_PUBSUB },
    xml(
      "publish",
      { node },
      xml("item", { id: NODE_SETUP_ITEM_ID }, xml("notification", { xmlns: NS_PUSH })),
    ),
    xml("publish-options", {}, xml("x", { xmlns: NS_DATA, type: "submit" }, ...fields)),
  );
}

function subscribe(node: string, jid: string): Element {
  return xml("pubsub", { xmlns: NS_PUBSUB }, xml("subscribe", { node, jid }));
}

function unsubscribe(node: string, jid: string): Element {
  return xml("pubsub", { xmlns: NS_PUBSUB }, xml("unsubscribe", { node, jid }));
}

function deleteNode(node: string): Element {
  return xml("pubsub", { xmlns: NS_PUBSUB_OWNER }, xml("delete", { node }));
}
