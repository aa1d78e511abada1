import assert from "node:assert/strict";
import {
  DEFAULT_REGISTRATION_POLICY,
  expiryFrom,
  goneChannelExpiry,
  pushRenews,
  registrationPolicy,
  RENEW_STEP_MS,
} from "../../domain/registration.ts";

const DAY = 24 * 3600 * 1000;

Deno.test("registrations live 210 days after their last use by default, as the original's code", () => {
  assert.equal(DEFAULT_REGISTRATION_POLICY.lifetimeMs, 210 * DAY);
  assert.equal(expiryFrom(1_000), 1_000 + 210 * DAY);
  assert.equal(expiryFrom(1_000, registrationPolicy(7, 30)), 1_000 + 7 * DAY);
});

Deno.test("a gone channel gives 30 days of grace by default, never more than the device had", () => {
  assert.equal(DEFAULT_REGISTRATION_POLICY.goneChannelGraceMs, 30 * DAY);
  assert.equal(goneChannelExpiry(0, 100 * DAY), 30 * DAY);
  assert.equal(goneChannelExpiry(0, 10 * DAY), 10 * DAY);
  assert.equal(goneChannelExpiry(0, 100 * DAY, registrationPolicy(210, 2)), 2 * DAY);
});

Deno.test("a push renews at most about once a day", () => {
  assert.equal(RENEW_STEP_MS, DAY);
  const now = 1000 * DAY;
  // Registered just now: a push changes nothing.
  assert.equal(pushRenews(expiryFrom(now), now), false);
  // Registered a day ago, give or take: the fresh expiry is a day later, not more.
  assert.equal(pushRenews(expiryFrom(now - DAY), now), false);
  assert.equal(pushRenews(expiryFrom(now - DAY - 1), now), true);
  // A device whose keys never expire (the original's Redis keys without TTL) needs none.
  assert.equal(pushRenews(Number.MAX_SAFE_INTEGER, now), false);
});

Deno.test("a lifetime shorter than two days still gets renewed by pushes", () => {
  const policy = registrationPolicy(0.5, 0.25);
  const now = 1000 * DAY;
  assert.equal(pushRenews(expiryFrom(now - DAY / 8, policy), now, policy), false);
  assert.equal(pushRenews(expiryFrom(now - DAY / 3, policy), now, policy), true);
});
