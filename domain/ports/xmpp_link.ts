/**
 * The XMPP side, as the use cases and the wiring see it: the link (component or client),
 * the node provisioner behind it, and the publish handler the link calls. `adapters/xmpp/`
 * implements them.
 *
 * @module
 */

import type { PublishOutcome, PublishRequest } from "../publish.ts";

/**
 * Thrown by a {@link NodeProvisioner} when a node could not be set up for a reason that may
 * pass (the XMPP link is down, an answer timed out, the server said `wait` or had an
 * internal error): the whole request should be tried again later, not answered as final.
 */
export class NodeSetupUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NodeSetupUnavailableError";
  }
}

/**
 * Sets up and tears down the nodes behind accounts on the XMPP side. A component needs
 * nothing (nodes are virtual); a client account creates and deletes PEP nodes.
 */
export interface NodeProvisioner {
  /**
   * Makes `added` nodes ready, then removes `removed` ones; returns the added nodes that are
   * ready (the others failed for good: the server refused them). Rejects with
   * {@link NodeSetupUnavailableError}, having removed nothing and undone what it set up,
   * when an added node failed for a reason that may pass.
   */
  provision(added: readonly string[], removed: readonly string[]): Promise<ReadonlySet<string>>;
}

/**
 * Lists the nodes the push account owns (client mode: its PEP nodes, every one of them,
 * not only the push server's). Rejects when the link is down or the server refused.
 */
export interface OwnNodeLister {
  listOwnNodes(): Promise<string[]>;
}

/** The XMPP side, in either mode: a component connection or a client account. */
export interface XmppLink {
  /** The JID devices give their XMPP servers as the push service (`push_bare_jid`). */
  readonly pushBareJid: string;
  /** Whether the link to the XMPP server is up. */
  readonly online: boolean;
  /** Resolves once the link is up. */
  whenOnline(): Promise<void>;
  /** Starts connecting; keeps reconnecting in the background until `stop`. */
  start(): void;
  /**
   * Closes the link and stops reconnecting; publishes being answered get up to
   * `answerWaitMs` to get their answers out first.
   */
  stop(answerWaitMs?: number): Promise<void>;
}

/** The publish use case, as the XMPP adapters see it. */
export type PublishHandler = (request: PublishRequest) => Promise<PublishOutcome>;
