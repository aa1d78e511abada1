/**
 * Which of the push account's PEP nodes are stale (client mode): the nodes of registrations
 * that expired, which nothing else ever deletes. Pure: the caller lists the nodes, says
 * which were set up recently, and looks the candidates up in storage.
 *
 * Safety first: a node whose name {@link isMintedNode} does not accept is never a candidate
 * (the account's own PEP nodes: bookmarks, avatar, OMEMO...); nor is a node set up
 * recently (a registration being created: its node exists before storage knows it).
 *
 * @module
 */

import { isMintedNode } from "./minting.ts";

/** The listed nodes, sorted out before storage is asked. */
export interface SweepCandidates {
  /** Nodes of our format, not set up recently: to look up in storage (no duplicates). */
  readonly candidates: readonly string[];
  /** Nodes not of our format: never touched. */
  readonly foreign: number;
  /** Nodes of our format set up recently: left for a later round. */
  readonly recent: number;
}

/** Sorts the push account's listed nodes into candidates, foreign and recent ones. */
export function sweepCandidates(
  listed: readonly string[],
  isRecent: (node: string) => boolean,
): SweepCandidates {
  const candidates = new Set<string>();
  let foreign = 0;
  let recent = 0;
  for (const node of new Set(listed)) {
    if (!isMintedNode(node)) foreign++;
    else if (isRecent(node)) recent++;
    else candidates.add(node);
  }
  return { candidates: [...candidates], foreign, recent };
}

/**
 * The stale nodes among looked-up `candidates`: those storage does not know (`known` says
 * it does), at most `max` of them, in the candidates' order.
 */
export function staleNodes(
  candidates: readonly string[],
  known: (node: string) => boolean,
  max: number,
): string[] {
  const stale: string[] = [];
  for (const node of candidates) {
    if (stale.length >= max) break;
    if (!known(node)) stale.push(node);
  }
  return stale;
}
