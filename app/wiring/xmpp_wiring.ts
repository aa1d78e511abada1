/**
 * The XMPP side from the configuration: the link `xmpp.mode` names (a component connection
 * or a client account; the schema has applied each mode's defaults), and the node
 * provisioner that goes with it.
 *
 * @module
 */

import { ClientLink } from "../../adapters/xmpp/client_link.ts";
import { ComponentLink } from "../../adapters/xmpp/component_link.ts";
import { PepProvisioner } from "../../adapters/xmpp/pep_provisioner.ts";
import type { CommandDoor } from "../../adapters/xmpp/command_door.ts";
import type { Element } from "@xmpp/xml";
import type { Logger } from "../../domain/ports/logging.ts";
import type { LimitMetrics, PublishMetrics, XmppLinkMetrics } from "../../domain/ports/metrics.ts";
import type {
  NodeProvisioner,
  OwnNodeLister,
  PublishHandler,
  XmppLink,
} from "../../domain/ports/xmpp_link.ts";
import type { Config } from "../config.ts";
import type { SampledLog } from "../sampled_log.ts";

/** What the link needs besides the configuration. */
export interface XmppLinkDeps {
  readonly logger: Logger;
  readonly onPublish: PublishHandler;
  readonly metrics: XmppLinkMetrics & Pick<PublishMetrics, "publish"> & LimitMetrics;
  readonly maxStanzaBytes: number;
  readonly malformedLog: SampledLog;
  /** The XEP-0050 door (registrations by command), when the server takes commands. */
  readonly commands?: CommandDoor;
  /** Messages to the component (Push 2.0 notifications); component mode only. */
  readonly onMessage?: (message: Element) => Promise<Element | null>;
}

/**
 * Checks the mode's settings and reads what it needs from disk (client mode's CA file), so
 * that a bad setting fails the start, before any port opens.
 */
export async function prepareXmpp(xmpp: Config["xmpp"]): Promise<{ ca: string[] }> {
  if (xmpp.mode === "client" && !/^[^@/\s]+@[^@/\s]+$/.test(xmpp.bareJid)) {
    throw new Error("xmpp.bareJid: client mode needs the push account's bare JID (user@domain)");
  }
  const caFile = xmpp.mode === "client" ? xmpp.tls.caFile : undefined;
  return { ca: caFile === undefined ? [] : [await Deno.readTextFile(caFile)] };
}

/**
 * The link `xmpp.mode` names, the provisioner that goes with it, and (client mode) the
 * lister of the push account's PEP nodes.
 */
export function createXmppLink(
  xmpp: Config["xmpp"],
  ca: string[],
  deps: XmppLinkDeps,
): { link: XmppLink; provisioner: NodeProvisioner; ownNodes: OwnNodeLister | null } {
  const { logger, onPublish, metrics, maxStanzaBytes, malformedLog, commands, onMessage } = deps;
  const { host, port } = xmpp;
  if (xmpp.mode === "component") {
    const link = new ComponentLink({
      service: `xmpp://${hostPart(host)}:${port}`,
      domain: xmpp.bareJid,
      password: xmpp.password,
      logger,
      onPublish,
      metrics,
      maxStanzaBytes,
      malformedLog,
      commands,
      onMessage,
    });
    // Component nodes are virtual: every node is ready as soon as it is stored.
    return {
      link,
      provisioner: { provision: (added) => Promise.resolve(new Set(added)) },
      ownNodes: null,
    };
  }
  const link = new ClientLink({
    service: `${xmpp.tls.direct ? "xmpps" : "xmpp"}://${hostPart(host)}:${port}`,
    jid: xmpp.bareJid,
    password: xmpp.password,
    tls: { required: xmpp.tls.required, ca },
    logger,
    onPublish,
    metrics,
    maxStanzaBytes,
    commands,
  });
  const pep = new PepProvisioner({ link, logger });
  return { link, provisioner: pep, ownNodes: pep };
}

/** A host for a service URI: IPv6 literals in brackets. */
function hostPart(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
