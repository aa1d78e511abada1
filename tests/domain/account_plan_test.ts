import assert from "node:assert/strict";
import { planAccounts } from "../../domain/account_plan.ts";
import type { AccountRegistration } from "../../domain/registration.ts";
import { seededRandom } from "../support/fakes.ts";

const alice: AccountRegistration = { accountId: "A", node: "nodeA", secret: "secretA" };
const bob: AccountRegistration = { accountId: "B", node: "nodeB", secret: "secretB" };

Deno.test("planAccounts: a first list mints a node and secret per account", () => {
  const plan = planAccounts([], ["A", "B"], seededRandom(1));
  assert.deepEqual(plan.accounts.map((a) => a.accountId), ["A", "B"]);
  assert.deepEqual(plan.added, plan.accounts);
  assert.deepEqual(plan.removed, []);
  const [a, b] = plan.accounts;
  assert.notEqual(a.node, b.node);
  assert.notEqual(a.secret, b.secret);
  assert.notEqual(a.node, a.secret);
  for (const account of plan.accounts) {
    assert.match(account.node, /^[A-Za-z0-9_-]{16,}$/);
    assert.match(account.secret, /^[A-Za-z0-9_-]{22,}$/);
  }
});

Deno.test("planAccounts: kept accounts keep node and secret, new ones minted, others removed", () => {
  const plan = planAccounts([alice, bob], ["B", "C"], seededRandom(2));
  assert.deepEqual(plan.accounts.map((a) => a.accountId), ["B", "C"]);
  assert.deepEqual(plan.accounts[0], bob);
  const c = plan.accounts[1];
  assert.deepEqual(plan.added, [c]);
  assert.ok(c.node !== alice.node && c.node !== bob.node);
  assert.deepEqual(plan.removed, [alice]);
});

Deno.test("planAccounts: the same list again changes nothing", () => {
  const plan = planAccounts([alice, bob], ["A", "B"], () => {
    throw new Error("nothing should be minted");
  });
  assert.deepEqual(plan.accounts, [alice, bob]);
  assert.deepEqual(plan.added, []);
  assert.deepEqual(plan.removed, []);
});

Deno.test("planAccounts: duplicates collapse to one entry", () => {
  const plan = planAccounts([alice], ["A", "C", "A", "C", "C"], seededRandom(3));
  assert.deepEqual(plan.accounts.map((a) => a.accountId), ["A", "C"]);
  assert.equal(plan.added.length, 1);
  assert.equal(plan.added[0].accountId, "C");
  assert.deepEqual(plan.removed, []);
});

Deno.test("planAccounts: an empty list removes every account", () => {
  const plan = planAccounts([alice, bob], [], seededRandom(4));
  assert.deepEqual(plan.accounts, []);
  assert.deepEqual(plan.added, []);
  assert.deepEqual(plan.removed, [alice, bob]);
});

Deno.test("planAccounts: accounts come out in the order the client asked for", () => {
  const plan = planAccounts([alice, bob], ["C", "B", "A"], seededRandom(5));
  assert.deepEqual(plan.accounts.map((a) => a.accountId), ["C", "B", "A"]);
  assert.deepEqual(plan.accounts[1], bob);
  assert.deepEqual(plan.accounts[2], alice);
});

Deno.test("planAccounts: deterministic for a given random source", () => {
  const one = planAccounts([alice], ["A", "X", "Y"], seededRandom(6));
  const two = planAccounts([alice], ["A", "X", "Y"], seededRandom(6));
  assert.deepEqual(one, two);
});

Deno.test("planAccounts: does not change the current list it was given", () => {
  const current = [alice, bob];
  const snapshot = structuredClone(current);
  planAccounts(current, ["C"], seededRandom(7));
  assert.deepEqual(current, snapshot);
});
