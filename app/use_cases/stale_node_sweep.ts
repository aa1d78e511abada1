/**
 * Client mode's sweep of stale PEP nodes: a registration that expires (purged, or gone by
 * its Redis TTL) leaves its node on the push account's XMPP server, which nothing else
 * deletes. A round lists the account's nodes, keeps those of our format not set up
 * recently (`domain/stale_nodes.ts`), looks them up in storage in bounded batches, and
 * tears down those storage does not know through the provisioner, a few at a time with a
 * pause between, at most {@link StaleNodeSweepLimits.maxRemovalsPerRound} per round.
 *
 * Never on doubt: a failed listing or storage lookup ends the round before anything is
 * deleted (the next round tries again); while {@link RecentNodes} is unsure (just started,
 * or overflowing) every node counts as recent. One log line per round, with counts only.
 *
 * @module
 */

import type { Clock } from "../../domain/ports/clock.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import type { StaleNodeMetrics } from "../../domain/ports/metrics.ts";
import type { RegistrationStore } from "../../domain/ports/storage.ts";
import type { NodeProvisioner, OwnNodeLister } from "../../domain/ports/xmpp_link.ts";
import { staleNodes, sweepCandidates } from "../../domain/stale_nodes.ts";
import type { RecentNodes } from "../recent_nodes.ts";

/** How much one round may do, and how fast. */
export interface StaleNodeSweepLimits {
  /** Nodes torn down per round at most; the rest wait for the next round. */
  readonly maxRemovalsPerRound: number;
  /** Storage lookups at once. */
  readonly lookupBatch: number;
  /** Nodes torn down at once (two IQs each). */
  readonly removalBatch: number;
  /** Pause between two batches of removals. */
  readonly pauseMs: number;
}

/** The default {@link StaleNodeSweepLimits}. */
export const STALE_NODE_SWEEP_LIMITS: StaleNodeSweepLimits = {
  maxRemovalsPerRound: 1000,
  lookupBatch: 50,
  removalBatch: 20,
  pauseMs: 250,
};

/** What a sweep needs. */
export interface StaleNodeSweepDeps {
  readonly nodes: OwnNodeLister;
  readonly store: Pick<RegistrationStore, "findNode">;
  readonly provisioner: NodeProvisioner;
  readonly recent: Pick<RecentNodes, "isRecent" | "unsure">;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: StaleNodeMetrics;
  readonly limits?: Partial<StaleNodeSweepLimits>;
  /** Waits `ms` (tests pass a quicker one). */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Nodes one listing may hold, and how many there are expected to be (the live accounts).
   * The listing is one stanza (Prosody does not page disco#items): one over the link's
   * `maxStanzaBytes` would end the stream, so a round is skipped when it would be.
   */
  readonly listing?: { readonly maxNodes: number; expectedNodes(): number };
}

/** How a round ended. */
export type SweepRound =
  | {
    readonly outcome: "skipped";
    readonly reason: "running" | "unsure" | "stopped" | "too-many-nodes";
  }
  | { readonly outcome: "aborted"; readonly stage: "list" | "lookup"; readonly reason: string }
  | {
    readonly outcome: "done";
    readonly listed: number;
    readonly foreign: number;
    readonly recent: number;
    readonly looked: number;
    readonly removed: number;
    /** More stale nodes may be left: the round stopped at its bound. */
    readonly capped: boolean;
  };

/** Finds and removes the PEP nodes of registrations that are gone. */
export class StaleNodeSweep {
  readonly #deps: StaleNodeSweepDeps;
  readonly #limits: StaleNodeSweepLimits;
  #running: Promise<SweepRound> | undefined;
  #stopped = false;

  constructor(deps: StaleNodeSweepDeps) {
    this.#deps = deps;
    this.#limits = { ...STALE_NODE_SWEEP_LIMITS, ...deps.limits };
  }

  /** Runs one round (none when one is running already, or once stopped); never rejects. */
  async runRound(): Promise<SweepRound> {
    if (this.#stopped) return { outcome: "skipped", reason: "stopped" };
    if (this.#running) return { outcome: "skipped", reason: "running" };
    const started = performance.now();
    this.#running = this.#round().catch((error) => ({
      outcome: "aborted" as const,
      stage: "list" as const,
      reason: reasonOf(error),
    }));
    try {
      const round = await this.#running;
      this.#log(round, Math.round(performance.now() - started));
      return round;
    } finally {
      this.#running = undefined;
    }
  }

  /** Starts no more rounds, and ends the running one after its batch in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
  }

  async #round(): Promise<SweepRound> {
    const { nodes, store, recent, clock } = this.#deps;
    const { maxRemovalsPerRound, lookupBatch } = this.#limits;
    if (recent.unsure()) return { outcome: "skipped", reason: "unsure" };
    const listing = this.#deps.listing;
    if (listing !== undefined && listing.expectedNodes() > listing.maxNodes) {
      return { outcome: "skipped", reason: "too-many-nodes" };
    }
    let listed: string[];
    try {
      listed = await nodes.listOwnNodes();
    } catch (error) {
      return { outcome: "aborted", stage: "list", reason: reasonOf(error) };
    }
    const sorted = sweepCandidates(listed, (node) => recent.isRecent(node));
    const known = new Set<string>();
    let looked = 0;
    let unknown = 0;
    // Looks up batch after batch, until every candidate was or enough unknown ones were found.
    for (
      let i = 0;
      i < sorted.candidates.length && unknown < maxRemovalsPerRound && !this.#stopped;
    ) {
      const batch = sorted.candidates.slice(i, i + lookupBatch);
      i += batch.length;
      let targets;
      try {
        const now = clock.now();
        targets = await Promise.all(batch.map((node) => store.findNode(node, now)));
      } catch (error) {
        return { outcome: "aborted", stage: "lookup", reason: reasonOf(error) };
      }
      looked += batch.length;
      batch.forEach((node, j) => {
        if (targets[j] !== null) known.add(node);
        else unknown++;
      });
    }
    const lookedUp = sorted.candidates.slice(0, looked);
    const stale = staleNodes(lookedUp, (node) => known.has(node), maxRemovalsPerRound);
    const removed = await this.#remove(stale);
    return {
      outcome: "done",
      listed: listed.length,
      foreign: sorted.foreign,
      recent: sorted.recent,
      looked,
      removed,
      capped: removed < stale.length || looked < sorted.candidates.length || unknown > stale.length,
    };
  }

  /** Tears the nodes down a batch at a time, pausing between batches; returns how many. */
  async #remove(stale: readonly string[]): Promise<number> {
    const { provisioner, metrics } = this.#deps;
    const { removalBatch, pauseMs } = this.#limits;
    const sleep = this.#deps.sleep ??
      ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    let removed = 0;
    while (removed < stale.length && !this.#stopped) {
      if (removed > 0) await sleep(pauseMs);
      const batch = stale.slice(removed, removed + removalBatch);
      // The provisioner logs a node whose teardown failed; the next round finds it again.
      await provisioner.provision([], batch).catch(() => {});
      metrics.staleNodesRemoved(batch.length);
      removed += batch.length;
    }
    return removed;
  }

  #log(round: SweepRound, ms: number): void {
    const { logger } = this.#deps;
    if (round.outcome === "skipped" && round.reason === "too-many-nodes") {
      // The operator's to know: nodes of expired registrations are not being removed.
      logger.warn("stale pep node sweep skipped: too many nodes for one listing", {
        reason: round.reason,
        maxNodes: this.#deps.listing?.maxNodes,
      });
    } else if (round.outcome === "skipped") {
      logger.debug("stale pep node sweep skipped", { reason: round.reason });
    } else if (round.outcome === "aborted") {
      const { stage, reason } = round;
      logger.warn("stale pep node sweep aborted, nothing deleted", { stage, reason, ms });
    } else {
      const { outcome: _, ...counts } = round;
      logger.info("stale pep node sweep", { ...counts, ms });
    }
  }
}

function reasonOf(error: unknown): string {
  const { name, condition } = error as { name?: string; condition?: string };
  return condition ?? `${name}: ${(error as Error)?.message}`;
}
