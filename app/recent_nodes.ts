/**
 * The nodes this process set up recently, for client mode's stale-node sweep: a
 * registration's node exists on the XMPP server before storage knows it, so a node set up
 * less than a window ago must never count as stale. Bounded: when more nodes were set up
 * within the window than it holds, or the process started less than a window ago (a node
 * the previous process was setting up), every node counts as recent, so the sweep deletes
 * nothing on doubt.
 *
 * @module
 */

import type { Clock } from "../domain/ports/clock.ts";
import type { NodeProvisioner } from "../domain/ports/xmpp_link.ts";

/** A node set up less than this long ago is never stale (default). */
export const RECENT_NODE_WINDOW_MS = 10 * 60 * 1000;
/** Nodes remembered at most (default). */
export const RECENT_NODES_MAX = 100_000;

/** Settings of {@link RecentNodes}. */
export interface RecentNodesOptions {
  readonly clock: Clock;
  readonly windowMs?: number;
  readonly maxEntries?: number;
}

/** When each node was last set up, for a window. */
export class RecentNodes {
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #maxEntries: number;
  /** Node -> when it was set up; in insertion order, so the oldest comes first. */
  readonly #setUpAt = new Map<string, number>();
  readonly #startedAt: number;
  /** When the newest entry dropped for room was set up. */
  #droppedAt = -Infinity;

  constructor(options: RecentNodesOptions) {
    this.#clock = options.clock;
    this.#windowMs = options.windowMs ?? RECENT_NODE_WINDOW_MS;
    this.#maxEntries = options.maxEntries ?? RECENT_NODES_MAX;
    this.#startedAt = options.clock.now();
  }

  /** How long a node counts as recent. */
  get windowMs(): number {
    return this.#windowMs;
  }

  /** Notes that `node` is being set up now. */
  add(node: string): void {
    const now = this.#clock.now();
    this.#setUpAt.delete(node);
    this.#setUpAt.set(node, now);
    this.#forgetOld(now);
    for (const [oldest, at] of this.#setUpAt) {
      if (this.#setUpAt.size <= this.#maxEntries) break;
      this.#setUpAt.delete(oldest);
      this.#droppedAt = Math.max(this.#droppedAt, at);
    }
  }

  /**
   * Whether nothing can be said of any node now (the process is too young, or entries
   * within the window were dropped for room): then every node counts as recent.
   */
  unsure(): boolean {
    const since = this.#clock.now() - this.#windowMs;
    return this.#startedAt > since || this.#droppedAt > since;
  }

  /** Whether `node` was set up within the window, or nothing can be said ({@link unsure}). */
  isRecent(node: string): boolean {
    if (this.unsure()) return true;
    const at = this.#setUpAt.get(node);
    return at !== undefined && at > this.#clock.now() - this.#windowMs;
  }

  #forgetOld(now: number): void {
    for (const [node, at] of this.#setUpAt) {
      if (at > now - this.#windowMs) break;
      this.#setUpAt.delete(node);
    }
  }
}

/** `provisioner`, noting in `recent` every node it is asked to set up, before it starts. */
export function trackingProvisioner(
  provisioner: NodeProvisioner,
  recent: RecentNodes,
): NodeProvisioner {
  return {
    provision(added, removed) {
      for (const node of added) recent.add(node);
      return provisioner.provision(added, removed);
    },
  };
}
