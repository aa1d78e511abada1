/**
 * The per-app part of a count (`RegistrationCount.byApp`), added up device by device by the
 * stores that visit each device (memory, Redis); SQLite groups in its query and only sorts.
 *
 * @module
 */

import type { AppRegistrationCount } from "../../domain/ports/storage.ts";

/** Live devices and accounts per service and app, as a count visits them. */
export class AppTally {
  readonly #apps = new Map<
    string,
    { service: string; app: string; devices: number; accounts: number }
  >();

  /** One live device of `service`'s `app`, listing `accounts` accounts. */
  add(service: string, app: string, accounts: number): void {
    // Unambiguous whatever the names hold.
    const key = JSON.stringify([service, app]);
    const tally = this.#apps.get(key);
    if (tally) {
      tally.devices++;
      tally.accounts += accounts;
    } else {
      this.#apps.set(key, { service, app, devices: 1, accounts });
    }
  }

  /** The apps counted, sorted as `byApp` has them. */
  result(): AppRegistrationCount[] {
    return sortByApp(this.#apps.values());
  }
}

/** Sorts per-app counts by service, then app, in code unit order (every locale agrees). */
export function sortByApp(counts: Iterable<AppRegistrationCount>): AppRegistrationCount[] {
  return [...counts].sort((a, b) =>
    a.service === b.service ? compare(a.app, b.app) : compare(a.service, b.service)
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
