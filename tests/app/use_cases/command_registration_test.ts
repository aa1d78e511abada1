import assert from "node:assert/strict";
import { totalsOf } from "../../support/registration_totals.ts";
import { MemoryStore } from "../../../adapters/storage/memory/memory_store.ts";
import { SqliteStore } from "../../../adapters/storage/sqlite/sqlite_store.ts";
import {
  CommandRegistration,
  type CommandRegistrationDeps,
} from "../../../app/use_cases/command_registration.ts";
import {
  RegistrationCounter,
  RegistrationLimits,
  REGISTRATIONS_FULL,
  TOO_MANY_FOR_ACCOUNT,
  TOO_MANY_REGISTRATIONS,
} from "../../../app/registration_limits.ts";
import { type RegistrationStore, StorageUnavailableError } from "../../../domain/ports/storage.ts";
import { registrationPolicy } from "../../../domain/registration.ts";
import { FakeClock, seededRandom } from "../../support/fakes.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

/** p2's README test vector (p2.md §3). */
const JID = "xiaomia1@jabber.de/Conversations.abcd";
const ANDROID_ID = "92afd7a91cdba9a0";
const HASH = "ec164939a8485ee6b7f7871071a11c7bb18aead5";
const DAY = 24 * 60 * 60 * 1000;
const ID = `fcm:conversations:${HASH}`;

const STORES: Record<string, (clock: FakeClock) => RegistrationStore> = {
  memory: (clock) => new MemoryStore(clock),
  sqlite: (clock) => SqliteStore.open(":memory:", { clock, checkpointIntervalMs: 0 }),
};

function setUp(
  makeStore: (clock: FakeClock) => RegistrationStore,
  extra: Partial<CommandRegistrationDeps> = {},
) {
  const clock = new FakeClock(Date.now());
  const store = makeStore(clock);
  const logger = new RecordingLogger();
  const registration = new CommandRegistration({
    store,
    clock,
    random: seededRandom(),
    logger,
    policy: registrationPolicy(210, 30),
    ...extra,
  });
  return { clock, store, logger, registration };
}

/**
 * {@link setUp} with registration limits: `perDomain` and `perJid` new registrations at
 * once (refilling only over hours), `maxDevices` live at most (0: no cap); the limits hit,
 * in order, in `reported`.
 */
function setUpLimited(
  makeStore: (clock: FakeClock) => RegistrationStore,
  bounds: { perDomain: number; perJid: number; maxDevices: number },
) {
  const clock = new FakeClock(Date.now());
  const store = makeStore(clock);
  const logger = new RecordingLogger();
  const counter = new RegistrationCounter({ store, clock, logger, refreshMs: 0 });
  const reported: string[] = [];
  const limits = new RegistrationLimits({
    newDevicesPerPrefix: { perSecond: 0.001, burst: bounds.perDomain },
    newAccountsPerPrefix: { perSecond: 0.001, burst: bounds.perDomain },
    newRegistrationsPerJid: { perSecond: 0.001, burst: bounds.perJid },
    maxDevices: bounds.maxDevices,
    maxAccounts: 0,
    maxPrefixes: 100,
    counter,
    clock,
    report: (limit) => reported.push(limit),
  });
  const { registration } = setUp(() => store, { admission: limits, clock });
  return { clock, store, registration, reported };
}

const request = (address: string, from = JID) => ({
  service: "fcm",
  app: "conversations",
  from,
  deviceId: ANDROID_ID,
  address,
});

for (const [name, makeStore] of Object.entries(STORES)) {
  Deno.test(`${name}: register stores p2's key, one account, and the target`, async () => {
    const { clock, store, registration } = setUp(makeStore);
    try {
      const outcome = await registration.register(request("token-1"));
      assert.equal(outcome.kind, "registered");
      if (outcome.kind !== "registered") return;
      const device = await store.findDevice(ID, clock.now());
      assert.deepEqual(device?.target, {
        service: "fcm",
        app: "conversations",
        address: "token-1",
      });
      assert.deepEqual(device?.accounts, [{
        accountId: HASH,
        node: outcome.node,
        secret: outcome.secret,
      }]);
      assert.equal(device?.expiresAt, clock.now() + 210 * DAY);
      const node = await store.findNode(outcome.node, clock.now());
      assert.equal(node?.accountId, HASH, "the push carries the hash Conversations computes");
      assert.notEqual(outcome.node, outcome.secret);
    } finally {
      await store.close();
    }
  });

  Deno.test(`${name}: re-registering keeps node and secret, moves the token, renews`, async () => {
    const { clock, store, registration } = setUp(makeStore);
    try {
      const first = await registration.register(request("token-1"));
      clock.advance(100 * DAY);
      // Another resource of the same account: the same bare JID, the same key.
      const again = await registration.register(request("token-2", "xiaomia1@jabber.de/other"));
      assert.deepEqual(again, first);
      if (first.kind !== "registered") return;
      const node = await store.findNode(first.node, clock.now());
      assert.equal(node?.target?.address, "token-2");
      assert.equal((await store.findDevice(ID, clock.now()))?.expiresAt, clock.now() + 210 * DAY);
      // Another app or another device id: another registration.
      const other = await registration.register({ ...request("token-3"), app: "quicksy" });
      assert.notDeepEqual(other, first);
      const otherDevice = await registration.register({ ...request("token-4"), deviceId: "ab" });
      assert.notDeepEqual(otherDevice, first);
      assert.deepEqual(totalsOf(await store.count(clock.now())), { devices: 3, accounts: 3 });
    } finally {
      await store.close();
    }
  });

  Deno.test(`${name}: unregister deletes at once; nothing to delete is not-found`, async () => {
    const { clock, store, registration } = setUp(makeStore);
    try {
      const first = await registration.register(request("token-1"));
      if (first.kind !== "registered") throw new Error("not registered");
      const { from, deviceId, service, app } = request("");
      assert.deepEqual(await registration.unregister({ service, app, from, deviceId }), {
        kind: "unregistered",
      });
      assert.equal(await store.findNode(first.node, clock.now()), null);
      assert.deepEqual(await registration.unregister({ service, app, from, deviceId }), {
        kind: "not-found",
      });
      // A new registration mints a new node.
      const second = await registration.register(request("token-1"));
      assert.equal(second.kind, "registered");
      if (second.kind === "registered") assert.notEqual(second.node, first.node);
    } finally {
      await store.close();
    }
  });

  Deno.test(`${name}: registration limits: one account cannot spend its domain's allowance`, async () => {
    const { clock, store, registration, reported } = setUpLimited(makeStore, {
      perDomain: 5,
      perJid: 2,
      maxDevices: 0,
    });
    try {
      // One user of a big server makes up device ids: a new registration each.
      const flood = (n: number) =>
        registration.register({ ...request(`t${n}`, "mallory@big.example/r"), deviceId: `d${n}` });
      assert.equal((await flood(1)).kind, "registered");
      assert.equal((await flood(2)).kind, "registered");
      for (let n = 3; n < 10; n++) {
        assert.deepEqual(await flood(n), { kind: "throttled", reason: TOO_MANY_FOR_ACCOUNT });
      }
      // The domain's bucket (5) lost only what the account was allowed: others register.
      for (const user of ["alice", "bob", "carol"]) {
        const outcome = await registration.register(request("t", `${user}@big.example/phone`));
        assert.equal(outcome.kind, "registered", user);
      }
      const fourth = await registration.register(request("t", "dave@big.example/phone"));
      assert.deepEqual(fourth, { kind: "throttled", reason: TOO_MANY_REGISTRATIONS });
      assert.equal(reported.filter((r) => r === "new_registrations_per_jid").length, 7);
      assert.equal(reported.filter((r) => r === "new_devices_per_prefix").length, 1);
      // Refused by its domain, an account's own token went back: after the domain refills,
      // dave has all of his.
      clock.advance(5_000_000);
      assert.equal(
        (await registration.register(request("t", "dave@big.example/phone"))).kind,
        "registered",
      );
    } finally {
      await store.close();
    }
  });

  Deno.test(`${name}: registration limits: per domain and the global cap`, async () => {
    const { store, registration, reported } = setUpLimited(makeStore, {
      perDomain: 2,
      perJid: 1000,
      maxDevices: 3,
    });
    try {
      const at = (user: string, domain: string) => ({
        ...request("t"),
        from: `${user}@${domain}/r`,
      });
      assert.equal((await registration.register(at("a", "one.example"))).kind, "registered");
      assert.equal((await registration.register(at("b", "one.example"))).kind, "registered");
      const third = await registration.register(at("c", "one.example"));
      assert.equal(third.kind, "throttled", "a domain's burst is spent");
      // Re-registering a known key costs nothing.
      assert.equal((await registration.register(at("a", "one.example"))).kind, "registered");
      assert.equal((await registration.register(at("d", "two.example"))).kind, "registered");
      const full = await registration.register(at("e", "three.example"));
      assert.deepEqual(full, { kind: "throttled", reason: REGISTRATIONS_FULL });
      // Unregistering makes room.
      await registration.unregister(at("a", "one.example"));
      assert.equal((await registration.register(at("e", "three.example"))).kind, "registered");
      assert.deepEqual(reported, ["new_devices_per_prefix", "registrations_full"]);
    } finally {
      await store.close();
    }
  });
}

/**
 * A meeting point for `parties` callers: each waits until all have come, so two racers are
 * both past the same step before either goes on. Later callers pass at once.
 */
function meetingPoint(parties: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const allThere = new Promise<void>((resolve) => (open = resolve));
  return () => {
    if (++arrived === parties) open();
    return arrived > parties ? Promise.resolve() : allThere;
  };
}

/** `store`, whose `findDevice` answers only once every racer has asked (`meet`). */
function meetingAfterLookup(store: RegistrationStore, meet: () => Promise<void>) {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property);
      if (typeof value !== "function") return value;
      if (property !== "findDevice") return value.bind(target);
      return async (...args: Parameters<RegistrationStore["findDevice"]>) => {
        const found = await target.findDevice(...args);
        await meet();
        return found;
      };
    },
  });
}

/** Two instances with their own limits (burst 1 per domain) registering over one store. */
function twoInstances(
  store: RegistrationStore,
  clock: FakeClock,
  extra: Partial<CommandRegistrationDeps> = {},
) {
  return [1, 2].map((seed) => {
    const logger = new RecordingLogger();
    const counter = new RegistrationCounter({ store, clock, logger, refreshMs: 0 });
    const limits = new RegistrationLimits({
      newDevicesPerPrefix: { perSecond: 0.001, burst: 1 },
      newAccountsPerPrefix: { perSecond: 0.001, burst: 1 },
      newRegistrationsPerJid: { perSecond: 1000, burst: 1000 },
      maxDevices: 0,
      maxAccounts: 0,
      maxPrefixes: 100,
      counter,
      clock,
      report: () => {},
    });
    const registration = new CommandRegistration({
      store,
      clock,
      random: seededRandom(seed),
      logger,
      policy: registrationPolicy(210, 30),
      admission: limits,
      ...extra,
    });
    return { registration, counter };
  });
}

for (const [name, makeStore] of Object.entries(STORES)) {
  Deno.test(`${name}: two instances racing the first registration of a key agree`, async () => {
    const clock = new FakeClock(Date.now());
    const store = makeStore(clock);
    try {
      // Both look the key up before either writes: the race, every time.
      const instances = twoInstances(meetingAfterLookup(store, meetingPoint(2)), clock);
      // Conversations re-sends on reconnect; its server routed the two IQs to two instances.
      const outcomes = await Promise.all(
        instances.map(({ registration }, i) => registration.register(request(`token-${i}`))),
      );
      assert.equal(outcomes[0].kind, "registered");
      assert.deepEqual(outcomes[1], outcomes[0], "both answers name the same node and secret");
      if (outcomes[0].kind !== "registered") return;
      const node = await store.findNode(outcomes[0].node, clock.now());
      assert.equal(node?.secret, outcomes[0].secret, "the node answered resolves");
      assert.deepEqual(totalsOf(await store.count(clock.now())), { devices: 1, accounts: 1 });
      // The key counts once: only the creator counted it and spent its domain's burst.
      const counted = instances.map(({ counter }) => counter.devices);
      assert.deepEqual(counted.toSorted(), [0, 1]);
      const loser = instances[counted.indexOf(0)].registration;
      const winner = instances[counted.indexOf(1)].registration;
      const other = { ...request("token-x"), from: "someone@jabber.de/r" };
      assert.equal((await winner.register(other)).kind, "throttled");
      assert.equal((await loser.register(other)).kind, "registered", "the loser's token is back");
    } finally {
      await store.close();
    }
  });
}

Deno.test("two instances on one SQLite file racing the first registration agree", async () => {
  const dir = await Deno.makeTempDir();
  const clock = new FakeClock(Date.now());
  const stores = [1, 2].map(() => SqliteStore.open(`${dir}/push.db`, { clock }));
  try {
    const meet = meetingPoint(2);
    const instances = stores.map((store, i) =>
      twoInstances(meetingAfterLookup(store, meet), clock)[i]
    );
    const outcomes = await Promise.all(
      instances.map(({ registration }, i) => registration.register(request(`token-${i}`))),
    );
    assert.equal(outcomes[0].kind, "registered");
    assert.deepEqual(outcomes[1], outcomes[0]);
    if (outcomes[0].kind !== "registered") return;
    for (const store of stores) {
      assert.equal(
        (await store.findNode(outcomes[0].node, clock.now()))?.secret,
        outcomes[0].secret,
      );
    }
    assert.deepEqual(instances.map(({ counter }) => counter.devices).toSorted(), [0, 1]);
  } finally {
    for (const store of stores) await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client mode: the node a racer set up but did not store is removed again", async () => {
  const clock = new FakeClock(Date.now());
  const store = new MemoryStore(clock);
  // The PEP nodes on the push account's server, as the provisioner leaves them.
  const nodes = new Set<string>();
  // Both racers have set up their node before either stores it.
  const meet = meetingPoint(2);
  const provisioner = {
    async provision(added: readonly string[], removed: readonly string[]) {
      for (const node of added) nodes.add(node);
      for (const node of removed) nodes.delete(node);
      if (added.length > 0) await meet();
      return new Set(added);
    },
  };
  const instances = twoInstances(store, clock, { provisioner });
  const outcomes = await Promise.all(
    instances.map(({ registration }, i) => registration.register(request(`token-${i}`))),
  );
  assert.deepEqual(outcomes[1], outcomes[0]);
  if (outcomes[0].kind !== "registered") throw new Error("not registered");
  assert.deepEqual([...nodes], [outcomes[0].node], "only the stored node is left");
});

Deno.test("client mode: a registration whose node could not be set up does not count", async () => {
  const clock = new FakeClock(Date.now());
  const store = new MemoryStore(clock);
  let refuse = true;
  const provisioner = {
    provision: (added: readonly string[]) => Promise.resolve(new Set(refuse ? [] : added)),
  };
  const [{ registration, counter }] = twoInstances(store, clock, { provisioner });
  assert.equal((await registration.register(request("token-1"))).kind, "unavailable");
  assert.equal(counter.devices, 0);
  // Its domain's burst of one is still there for the retry.
  refuse = false;
  assert.equal((await registration.register(request("token-1"))).kind, "registered");
  assert.equal(counter.devices, 1);
});

Deno.test("storage unavailable: the command is answered unavailable (wait), nothing else", async () => {
  const failing = new MemoryStore();
  const broken = new Proxy(failing, {
    get(target, property) {
      if (property === "findDevice" || property === "deleteDevice") {
        return () => Promise.reject(new StorageUnavailableError("down"));
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const { registration } = setUp(() => broken);
  const outcome = await registration.register(request("token-1"));
  assert.equal(outcome.kind, "unavailable");
  const gone = await registration.unregister({ ...request("x") });
  assert.equal(gone.kind, "unavailable");
});
