/**
 * A store's count reduced to its totals, for tests that check those: and on the way, the
 * per-app part is checked to be sorted and to add up to them, so every count a test makes
 * checks the breakdown too.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { RegistrationCount } from "../../domain/ports/storage.ts";

/** `count`'s devices and accounts, after checking that `byApp` adds up to them. */
export function totalsOf(count: RegistrationCount): { devices: number; accounts: number } {
  const sum = { devices: 0, accounts: 0 };
  for (const app of count.byApp) {
    assert.ok(app.devices > 0, `${app.service}/${app.app}: an app without devices is listed`);
    sum.devices += app.devices;
    sum.accounts += app.accounts;
  }
  assert.deepEqual(sum, { devices: count.devices, accounts: count.accounts }, "byApp adds up");
  const names = count.byApp.map((app) => [app.service, app.app]);
  const sorted = [...names].sort(([s1, a1], [s2, a2]) =>
    s1 === s2 ? (a1 < a2 ? -1 : a1 > a2 ? 1 : 0) : s1 < s2 ? -1 : 1
  );
  assert.deepEqual(names, sorted, "byApp is sorted by service, then app");
  assert.equal(new Set(names.map((n) => JSON.stringify(n))).size, names.length, "apps once");
  return { devices: count.devices, accounts: count.accounts };
}
