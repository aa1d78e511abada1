/**
 * The device registry's rule for `set_push_accounts`: the device ends up with exactly the
 * accounts it asked for. Accounts it already had keep their node and secret (the user's
 * XMPP server is already publishing there); new ones get a fresh node and secret; the rest
 * are dropped, and their nodes stop working.
 *
 * @module
 */

import type { AccountRegistration } from "./registration.ts";
import { mintNode, mintSecret, type RandomBytes } from "./minting.ts";

/** The outcome of applying a requested account list to a device's current accounts. */
export interface AccountPlan {
  /** The device's accounts after the change, in the order the client asked for them. */
  readonly accounts: readonly AccountRegistration[];
  /** Accounts that are new to the device. */
  readonly added: readonly AccountRegistration[];
  /** Accounts the device had and no longer has. */
  readonly removed: readonly AccountRegistration[];
}

/**
 * Plans the replacement of `current` by `requested` (account ids; duplicates collapse to
 * one entry).
 */
export function planAccounts(
  current: readonly AccountRegistration[],
  requested: readonly string[],
  random: RandomBytes,
): AccountPlan {
  const byId = new Map(current.map((a) => [a.accountId, a]));
  const seen = new Set<string>();
  const accounts: AccountRegistration[] = [];
  const added: AccountRegistration[] = [];
  for (const accountId of requested) {
    if (seen.has(accountId)) continue;
    seen.add(accountId);
    const kept = byId.get(accountId);
    if (kept) {
      accounts.push(kept);
    } else {
      const fresh = { accountId, node: mintNode(random), secret: mintSecret(random) };
      accounts.push(fresh);
      added.push(fresh);
    }
  }
  const removed = current.filter((a) => !seen.has(a.accountId));
  return { accounts, added, removed };
}
