/**
 * Client mode's sweep of stale PEP nodes, wired: the provisioner notes the nodes it sets up
 * (so the sweep leaves them alone for a while), and a round runs after each expiry purge
 * and once when the process is past its first window (before that, it cannot tell a node
 * the previous process was setting up from a stale one).
 *
 * @module
 */

import type { Clock } from "../../domain/ports/clock.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import type { StaleNodeMetrics } from "../../domain/ports/metrics.ts";
import type { RegistrationStore } from "../../domain/ports/storage.ts";
import type { NodeProvisioner, OwnNodeLister } from "../../domain/ports/xmpp_link.ts";
import { RecentNodes, trackingProvisioner } from "../recent_nodes.ts";
import { StaleNodeSweep } from "../use_cases/stale_node_sweep.ts";

/** What the sweep is built from. */
export interface StaleNodeSweepWiring {
  readonly ownNodes: OwnNodeLister;
  readonly provisioner: NodeProvisioner;
  readonly store: Pick<RegistrationStore, "findNode">;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: StaleNodeMetrics;
  /** Live accounts now (each has a node), and the largest stanza the link takes. */
  readonly liveAccounts: () => number;
  readonly maxStanzaBytes: number;
}

/**
 * Bytes of a disco#items answer per node, rounded up twice over (an item is about 60: the
 * account's JID and a 20-character node name).
 */
const LISTING_BYTES_PER_NODE = 128;

/** The sweep, and the provisioner the use cases must use (it notes the nodes it sets up). */
export interface WiredStaleNodeSweep {
  readonly sweep: StaleNodeSweep;
  readonly provisioner: NodeProvisioner;
  /** Runs a round in the background (after each purge); never rejects. */
  readonly afterPurge: () => void;
  /** Schedules the first round past the first window; returns the stop function. */
  start(): () => Promise<void>;
}

/** Builds client mode's stale-node sweep. */
export function staleNodeSweepFor(deps: StaleNodeSweepWiring): WiredStaleNodeSweep {
  const { ownNodes, store, clock, logger, metrics } = deps;
  const recent = new RecentNodes({ clock });
  const provisioner = trackingProvisioner(deps.provisioner, recent);
  const sweep = new StaleNodeSweep({
    nodes: ownNodes,
    store,
    provisioner,
    recent,
    clock,
    logger,
    metrics,
    listing: {
      maxNodes: Math.floor(deps.maxStanzaBytes / LISTING_BYTES_PER_NODE),
      expectedNodes: deps.liveAccounts,
    },
  });
  return {
    sweep,
    provisioner,
    afterPurge: () => void sweep.runRound(),
    start() {
      const timer = setTimeout(() => void sweep.runRound(), recent.windowMs + 1000);
      return async () => {
        clearTimeout(timer);
        await sweep.stop();
      };
    },
  };
}
