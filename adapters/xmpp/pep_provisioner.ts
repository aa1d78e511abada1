/**
 * Client mode's node provisioner: each registered account gets a PEP node on the push
 * account, created and configured by publishing a setup item with publish-options (as the
 * original server did: open access and publish models, so users' servers may publish;
 * notifications with payloads; persistent items), and subscribed to by the push account,
 * whose server then delivers every publish as a PubSub event. Removed accounts' nodes are
 * unsubscribed from and deleted.
 *
 * A node counts as ready only when the server answered both IQs with a result. A node the
 * server refused (a `cancel`, `auth` or `modify` error, an odd answer) failed for good; a
 * node that failed for a reason that may pass (the link is down, no answer in time, a
 * `wait` error, `internal-server-error`) fails the whole call with
 * {@link NodeSetupUnavailableError}: for the real client a `success: false` is final, a
 * failed request is retried at its next start. Removed nodes are torn down only once the
 * added ones are set up. Every IQ has a fresh id and a bounded wait.
 *
 * It also lists the account's PEP nodes (a disco#items query to its bare JID), all of
 * them, the account's own included: the stale-node sweep picks ours among them.
 *
 * @module
 */

import { xml } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import { type Logger } from "../../domain/ports/logging.ts";
import {
  type NodeProvisioner,
  NodeSetupUnavailableError,
  type OwnNodeLister,
} from "../../domain/ports/xmpp_link.ts";
import { NODE_SETUP_ITEM_ID, nodeForLog } from "./pep_event.ts";
import { NS_DATA, NS_PUBSUB, NS_PUSH } from "./publish_parser.ts";

const NS_PUBSUB_OWNER = "http://jabber.org/protocol/pubsub#owner";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
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

/** Creates, subscribes, unsubscribes, deletes and lists the push account's PEP nodes. */
export class PepProvisioner implements NodeProvisioner, OwnNodeLister {
  readonly #options: PepProvisionerOptions;

  constructor(options: PepProvisionerOptions) {
    this.#options = options;
  }

  /**
   * The names of every PEP node of the push account, as its server lists them (items of
   * the account's own JID only). Rejects when the link is down, the server answered with an
   * error or nothing in time, or the answer is not a disco#items result.
   */
  async listOwnNodes(): Promise<string[]> {
    const { link, iqTimeoutMs = 10_000 } = this.#options;
    const iq = xml(
      "iq",
      { type: "get", to: link.pushBareJid, id: `uwpx-${crypto.randomUUID()}` },
      xml("query", { xmlns: NS_DISCO_ITEMS }),
    );
    const answer = await link.iq(iq, iqTimeoutMs);
    const query = answer.getChild("query", NS_DISCO_ITEMS);
    if (answer.attrs.type !== "result" || query === undefined) {
      throw new Error("the push account's server answered the node listing oddly");
    }
    const own = link.pushBareJid.toLowerCase();
    return query.getChildren("item").flatMap((item: Element) => {
      const { jid, node } = item.attrs as { jid?: string; node?: string };
      return typeof node === "string" && node !== "" && jid?.toLowerCase() === own ? [node] : [];
    });
  }

  async provision(
    added: readonly string[],
    removed: readonly string[],
  ): Promise<ReadonlySet<string>> {
    const { logger } = this.#options;
    let results: StepResult[];
    try {
      results = await Promise.all(added.map((node) => this.#setUp(node)));
    } catch (error) {
      // Not expected (each step catches its own failures): count it as passing.
      logger.error("pep provisioning failed", { reason: String(error) });
      results = added.map(() => "passing");
    }
    const nodes = new Set(added.filter((_, i) => results[i] === "ready"));
    const passing = results.filter((result) => result === "passing").length;
    if (passing > 0) {
      logger.warn("pep nodes not provisioned, try again later", {
        ready: nodes.size,
        passing,
        refused: added.length - nodes.size - passing,
      });
      // Nothing half-way: the nodes this call created are left to no one; remove them.
      this.#tearDownAll([...nodes]).catch(() => {});
      throw new NodeSetupUnavailableError(
        "the push account's XMPP server could not set up the nodes now",
      );
    }
    await this.#tearDownAll(removed);
    logger.info("pep nodes provisioned", {
      ready: nodes.size,
      failed: added.length - nodes.size,
      removed: removed.length,
    });
    return nodes;
  }

  async #tearDownAll(nodes: readonly string[]): Promise<void> {
    try {
      await Promise.all(nodes.map((node) => this.#tearDown(node)));
    } catch (error) {
      this.#options.logger.error("pep node removal failed", { reason: String(error) });
    }
  }

  /** Creates and configures the node, then subscribes to it. */
  async #setUp(node: string): Promise<StepResult> {
    const { link } = this.#options;
    const published = await this.#send(node, "create", setupPublish(node), (answer) => {
      const publish = answer.getChild("pubsub", NS_PUBSUB)?.getChild("publish");
      return publish === undefined || publish.attrs.node === node;
    });
    if (published !== "ready") return published;
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

  /**
   * Sends one IQ: `ready` when the server answered with a result that `accept` accepts,
   * `passing` when it failed for a reason that may pass, `refused` otherwise.
   */
  async #send(
    node: string,
    step: string,
    payload: Element,
    accept: (answer: Element) => boolean,
  ): Promise<StepResult> {
    const { link, logger, iqTimeoutMs = 10_000 } = this.#options;
    const iq = xml("iq", { type: "set", id: `uwpx-${crypto.randomUUID()}` }, payload);
    try {
      const answer = await link.iq(iq, iqTimeoutMs);
      if (answer.attrs.type === "result" && accept(answer)) return "ready";
      logger.warn("pep node step refused", { node: nodeForLog(node), step, answer: "unexpected" });
      return "refused";
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
      return passes(condition, type) ? "passing" : "refused";
    }
  }
}

/** How setting up a node (or one step of it) ended. */
type StepResult = "ready" | "refused" | "passing";

/**
 * Whether a failed IQ may work later: no error condition at all (the link was down, no
 * answer in time), a `wait` error, or the server's own internal error.
 */
function passes(condition: string | undefined, type: string | undefined): boolean {
  return condition === undefined || type === "wait" || condition === "internal-server-error" ||
    condition === "remote-server-timeout";
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
