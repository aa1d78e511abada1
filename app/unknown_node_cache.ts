/**
 * A short memory of nodes storage does not know, so that a flood of publishes for unknown
 * nodes costs one storage lookup per node and TTL at most, not one per publish.
 *
 * It only ever remembers absence: a node found in it is answered as unknown, so it can
 * never cause a push. It forgets a node as soon as this instance stores it
 * (`replaceAccounts`, the only write that makes a node known: `saveTarget` on an expired
 * device starts it afresh, without its old nodes), so a freshly registered node works at
 * once. Another instance sharing the storage cannot tell it: there, the TTL (a few
 * seconds) bounds how long a node may still look unknown.
 *
 * @module
 */

import type { AccountRegistration, NodeTarget } from "../domain/registration.ts";
import type { Clock } from "../domain/ports/clock.ts";
import type { RegistrationStore } from "../domain/ports/storage.ts";

/** Settings of an {@link UnknownNodeCache}. */
export interface UnknownNodeCacheOptions {
  /** How long an absence is remembered. */
  readonly ttlMs: number;
  /** Nodes remembered at most; the oldest go first. */
  readonly maxEntries: number;
  readonly clock: Clock;
}

/** Nodes known to be absent, each until its entry expires. Pure: the clock is injected. */
export class UnknownNodeCache {
  readonly #options: UnknownNodeCacheOptions;
  /** Node -> when its entry expires; in insertion order, so the oldest come first. */
  readonly #expiries = new Map<string, number>();
  /** Bumped by every write that may make a node known: a lookup older than it proves nothing. */
  #generation = 0;

  constructor(options: UnknownNodeCacheOptions) {
    this.#options = options;
  }

  /** Entries held (some may have expired). */
  get size(): number {
    return this.#expiries.size;
  }

  /** A token to hand to {@link remember}: which writes a lookup started after. */
  get generation(): number {
    return this.#generation;
  }

  /** Whether `node` is known to be absent now. */
  has(node: string): boolean {
    const expiresAt = this.#expiries.get(node);
    if (expiresAt === undefined) return false;
    if (expiresAt > this.#options.clock.now()) return true;
    this.#expiries.delete(node);
    return false;
  }

  /**
   * Remembers that a lookup started at `generation` did not find `node`; ignored if a write
   * happened since (the node may exist by now).
   */
  remember(node: string, generation: number): void {
    if (generation !== this.#generation || this.#options.ttlMs <= 0) return;
    this.#expiries.delete(node);
    while (this.#expiries.size >= this.#options.maxEntries) {
      const oldest = this.#expiries.keys().next();
      if (oldest.done) break;
      this.#expiries.delete(oldest.value);
    }
    this.#expiries.set(node, this.#options.clock.now() + this.#options.ttlMs);
  }

  /** `nodes` may exist from now on. */
  forget(nodes: Iterable<string>): void {
    this.#generation++;
    for (const node of nodes) this.#expiries.delete(node);
  }
}

/**
 * `store`, answering `findNode` from `cache` for nodes known to be absent (`onHit` is told),
 * and keeping the cache right: `replaceAccounts` forgets the nodes it stores. Every other
 * method is forwarded as it is.
 */
export function withUnknownNodeCache(
  store: RegistrationStore,
  cache: UnknownNodeCache,
  onHit: () => void = () => {},
): RegistrationStore {
  const overrides: Partial<RegistrationStore> = {
    async findNode(node: string, now: number): Promise<NodeTarget | null> {
      if (cache.has(node)) {
        onHit();
        return null;
      }
      const generation = cache.generation;
      const target = await store.findNode(node, now);
      if (target === null) cache.remember(node, generation);
      return target;
    },
    async replaceAccounts(
      deviceId: string,
      accounts: readonly AccountRegistration[],
      expiresAt: number,
    ): Promise<void> {
      const nodes = accounts.map((account) => account.node);
      // Before (lookups in flight are not remembered) and after (nor those that began meanwhile).
      cache.forget(nodes);
      try {
        await store.replaceAccounts(deviceId, accounts, expiresAt);
      } finally {
        cache.forget(nodes);
      }
    },
  };
  return new Proxy(store, {
    get(target, property) {
      if (typeof property === "string" && Object.hasOwn(overrides, property)) {
        return overrides[property as keyof RegistrationStore];
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
