import assert from "node:assert/strict";
import { expiryFrom, REGISTRATION_LIFETIME_MS } from "../../domain/registration.ts";

Deno.test("registrations live 7 days, as the seed's README says", () => {
  assert.equal(REGISTRATION_LIFETIME_MS, 7 * 24 * 3600 * 1000);
  assert.equal(expiryFrom(1_000), 1_000 + 604_800_000);
});
