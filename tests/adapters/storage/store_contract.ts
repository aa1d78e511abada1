/**
 * The behaviour every {@link RegistrationStore} must show, as a reusable test suite. Each
 * adapter's test file calls {@link storeContract} with a factory for a fresh, empty store.
 *
 * Times are based on the real clock (`Date.now()`), because a store may also check expiry
 * against its own clock (a Redis TTL, or the clock a store uses for writes that get no
 * `now`). Stored expiries are therefore in the real future unless a test means otherwise;
 * reads pass explicit `now` values to look past them.
 *
 * A store whose backend expires entries by its own real clock (Redis TTLs) declares
 * `realTimeExpiry`: it cannot purge entries whose expiry is still in the real future, and
 * its purge count may be 0 because the backend already dropped them. For such stores the
 * purge checks that inject a far-future `now` are replaced by ones that let real time pass
 * a short expiry; every other store runs those strict checks as well as the real-time ones.
 *
 * @module
 */

import { totalsOf } from "../../support/registration_totals.ts";
import { wnsTarget } from "../../support/wns_delivery.ts";
import assert from "node:assert/strict";
import { type AccessToken, type RegistrationStore } from "../../../domain/ports/storage.ts";
import type { AccountRegistration } from "../../../domain/registration.ts";

/** A fresh, empty store and how to dispose of it (close it, delete its files...). */
export interface OpenedStore {
  store: RegistrationStore;
  cleanup(): Promise<void>;
  /**
   * Another store on the same backend (another instance), closed by `cleanup`; absent when
   * the backend is the process's alone (memory).
   */
  peer?(): Promise<RegistrationStore>;
}

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const CHANNEL = "https://db5p.notify.windows.com/?token=AwYAAAB";
/** A registration by command's device id: `<service>:<app>:<key>` (contract §4). */
const FCM_DEVICE = `fcm:im.example:${"ec".repeat(20)}`;
/** An expiry later than any a test stores: forgetChannel then leaves the expiry alone. */
const LATER = Date.now() + 1000 * DAY;

/** An account whose node and secret are derived from the device and a label. */
function account(deviceId: string, label: string): AccountRegistration {
  return {
    accountId: `acc-${deviceId}-${label}`,
    node: `node-${deviceId}-${label}`,
    secret: `secret-${deviceId}-${label}`,
  };
}

/** What a store can and cannot do, where the contract allows either. */
export interface StoreContractOptions {
  /**
   * Entries expire by the backend's own real clock (e.g. Redis TTLs): `purgeExpired` may
   * return any count up to the number of expired devices (they may be gone already), and
   * cannot remove entries whose expiry is still in the real future. Default false: purges
   * go by the given `now` and count exactly.
   */
  readonly realTimeExpiry?: boolean;
  /** Registers every case as ignored (e.g. the backend's server is not installed). */
  readonly ignore?: boolean;
  /**
   * What the store answers as `NodeTarget.deviceId` for a device id: the id itself
   * (default), or the key a store that keeps ids hashed holds in its place.
   */
  readonly storedId?: (deviceId: string) => string;
}

/** An expiry short enough to wait for in a test, long enough to write a few devices first. */
const SHORT_LIFE_MS = 400;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Registers the contract's test cases as `${name}: ...`. `open` is called once per test and
 * must return an empty store whose clock is the real one.
 */
export function storeContract(
  name: string,
  open: () => Promise<OpenedStore>,
  options: StoreContractOptions = {},
): void {
  const realTimeExpiry = options.realTimeExpiry ?? false;
  const storedId = options.storedId ?? ((deviceId: string) => deviceId);

  /** One test with its own store, cleaned up however the test ends. */
  function contract(
    title: string,
    body: (store: RegistrationStore, opened: OpenedStore) => Promise<void>,
  ): void {
    Deno.test({
      name: `${name}: ${title}`,
      ignore: options.ignore ?? false,
      fn: async () => {
        const opened = await open();
        const { store, cleanup } = opened;
        try {
          await body(store, opened);
        } finally {
          await cleanup();
        }
      },
    });
  }

  /** A case that needs purges to go by the given `now`: skipped for real-time expiry. */
  const strictContract = realTimeExpiry ? () => {} : contract;

  /** Checks a purge's count: exact, or (real-time expiry) anything from 0 to `expected`. */
  function assertPurged(count: number, expected: number, message?: string): void {
    if (realTimeExpiry) {
      assert.ok(count >= 0 && count <= expected, `${message ?? "purged"}: ${count}`);
    } else {
      assert.equal(count, expected, message);
    }
  }

  contract("saveTarget creates a device without accounts", async (store) => {
    const base = Date.now();
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + DAY);
    assert.deepEqual(await store.findDevice("dev", base), {
      deviceId: "dev",
      target: wnsTarget(CHANNEL),
      version: 2,
      accounts: [],
      expiresAt: base + DAY,
    });
  });

  contract("saveTarget updates channel and version and keeps accounts", async (store) => {
    const base = Date.now();
    const accounts = [account("dev", "a"), account("dev", "b")];
    await store.saveTarget("dev", wnsTarget(CHANNEL), 1, base + DAY);
    await store.replaceAccounts("dev", accounts, base + DAY);
    await store.saveTarget("dev", wnsTarget(`${CHANNEL}-new`), 2, base + 2 * DAY);
    assert.deepEqual(await store.findDevice("dev", base), {
      deviceId: "dev",
      target: wnsTarget(`${CHANNEL}-new`),
      version: 2,
      accounts,
      expiresAt: base + 2 * DAY,
    });
    const found = await store.findNode(accounts[1].node, base);
    assert.equal(found?.target?.address, `${CHANNEL}-new`);
  });

  contract("unknown devices and nodes are null", async (store) => {
    const base = Date.now();
    assert.equal(await store.findDevice("nobody", base), null);
    assert.equal(await store.findNode("nothing", base), null);
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + DAY);
    assert.equal(await store.findDevice("DEV", base), null, "ids are case-sensitive");
    assert.equal(await store.findNode("dev", base), null, "a device id is not a node");
  });

  contract("replaceAccounts replaces exactly, in the given order", async (store) => {
    const base = Date.now();
    const [a, b, c] = ["a", "b", "c"].map((label) => account("dev", label));
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + DAY);
    await store.replaceAccounts("dev", [a, b], base + DAY);
    assert.deepEqual(await store.findNode(a.node, base), {
      node: a.node,
      accountId: a.accountId,
      deviceId: storedId("dev"),
      secret: a.secret,
      target: wnsTarget(CHANNEL),
      expiresAt: base + DAY,
    });

    await store.replaceAccounts("dev", [c, b], base + DAY);
    assert.equal(await store.findNode(a.node, base), null, "a removed node stops at once");
    assert.equal((await store.findNode(b.node, base))?.secret, b.secret, "kept node, same secret");
    assert.equal((await store.findNode(c.node, base))?.accountId, c.accountId);
    assert.deepEqual((await store.findDevice("dev", base))?.accounts, [c, b]);

    const many = ["z", "y", "x", "w", "v"].map((label) => account("dev", label));
    await store.replaceAccounts("dev", many, base + DAY);
    assert.deepEqual((await store.findDevice("dev", base))?.accounts, many, "order as given");
  });

  contract("replaceAccounts with an empty list removes every account", async (store) => {
    const base = Date.now();
    const accounts = [account("dev", "a"), account("dev", "b")];
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + DAY);
    await store.replaceAccounts("dev", accounts, base + DAY);
    await store.replaceAccounts("dev", [], base + DAY);
    assert.deepEqual((await store.findDevice("dev", base))?.accounts, []);
    for (const { node } of accounts) assert.equal(await store.findNode(node, base), null);
    assert.equal((await store.findDevice("dev", base))?.target?.address, CHANNEL, "device stays");
  });

  contract("replaceAccounts on an unknown device throws and stores nothing", async (store) => {
    const base = Date.now();
    const accounts = [account("ghost", "a")];
    await assert.rejects(store.replaceAccounts("ghost", accounts, base + DAY), Error);
    assert.equal(await store.findDevice("ghost", base), null);
    assert.equal(await store.findNode(accounts[0].node, base), null);
    // Registering the device later must not surface the refused accounts.
    await store.saveTarget("ghost", wnsTarget(CHANNEL), 2, base + DAY);
    assert.deepEqual((await store.findDevice("ghost", base))?.accounts, []);
    assert.equal(await store.findNode(accounts[0].node, base), null);
  });

  contract("replaceAccounts on an expired device throws and stores nothing", async (store) => {
    const base = Date.now();
    const accounts = [account("old", "a")];
    await store.saveTarget("old", wnsTarget(CHANNEL), 2, base - 1000);
    await assert.rejects(store.replaceAccounts("old", accounts, base + DAY), Error);
    assert.equal(await store.findNode(accounts[0].node, base - 2000), null);
    assert.equal(await store.findDevice("old", base), null);
  });

  contract("nothing is visible once now >= expiresAt", async (store) => {
    const base = Date.now();
    const expiresAt = base + HOUR;
    const [a] = [account("dev", "a")];
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, expiresAt);
    await store.replaceAccounts("dev", [a], expiresAt);
    assert.notEqual(await store.findDevice("dev", expiresAt - 1), null);
    assert.notEqual(await store.findNode(a.node, expiresAt - 1), null);
    for (const now of [expiresAt, expiresAt + 1, expiresAt + DAY]) {
      assert.equal(await store.findDevice("dev", now), null, `device at now=${now}`);
      assert.equal(await store.findNode(a.node, now), null, `node at now=${now}`);
    }
  });

  strictContract(
    "purgeExpired removes expired devices, counts them, keeps live ones",
    async (store) => {
      const base = Date.now();
      const soon = base + HOUR;
      const later = base + DAY;
      for (const [deviceId, expiresAt] of [["x1", soon], ["x2", soon], ["live", later]] as const) {
        await store.saveTarget(deviceId, wnsTarget(CHANNEL), 2, expiresAt);
        await store.replaceAccounts(deviceId, [account(deviceId, "a")], expiresAt);
      }
      assert.equal(await store.purgeExpired(soon - 1), 0, "nothing expired yet");
      assert.equal(await store.purgeExpired(soon), 2);
      // Gone for good: not even a read with an earlier `now` finds them.
      for (const deviceId of ["x1", "x2"]) {
        assert.equal(await store.findDevice(deviceId, base), null);
        assert.equal(await store.findNode(account(deviceId, "a").node, base), null);
      }
      assert.deepEqual((await store.findDevice("live", soon))?.accounts, [account("live", "a")]);
      assert.equal(
        (await store.findNode(account("live", "a").node, soon))?.deviceId,
        storedId("live"),
      );
      assert.equal(await store.purgeExpired(soon), 0, "a second purge finds nothing");
    },
  );

  contract("devices past their real expiry are gone for good, live ones stay", async (store) => {
    const base = Date.now();
    const soon = base + SHORT_LIFE_MS;
    const later = base + DAY;
    for (const [deviceId, expiresAt] of [["x1", soon], ["x2", soon], ["live", later]] as const) {
      await store.saveTarget(deviceId, wnsTarget(CHANNEL), 2, expiresAt);
      await store.replaceAccounts(deviceId, [account(deviceId, "a")], expiresAt);
    }
    assert.equal(await store.purgeExpired(Date.now()), 0, "nothing expired yet");
    assert.equal(
      (await store.findNode(account("x1", "a").node, Date.now()))?.deviceId,
      storedId("x1"),
    );
    await sleep(soon - Date.now() + 50);
    assertPurged(await store.purgeExpired(Date.now()), 2);
    // Not even a read with a `now` before the expiry brings them back.
    for (const deviceId of ["x1", "x2"]) {
      assert.equal(await store.findDevice(deviceId, base), null, deviceId);
      assert.equal(await store.findNode(account(deviceId, "a").node, base), null, deviceId);
    }
    assert.deepEqual((await store.findDevice("live", Date.now()))?.accounts, [
      account("live", "a"),
    ]);
    assert.equal(
      (await store.findNode(account("live", "a").node, Date.now()))?.deviceId,
      storedId("live"),
    );
    assert.equal(await store.purgeExpired(Date.now()), 0, "a second purge finds nothing");
  });

  contract("saving refreshes the expiry of the device and its nodes", async (store) => {
    const base = Date.now();
    const first = base + HOUR;
    const a = account("dev", "a");
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, first);
    await store.replaceAccounts("dev", [a], first);

    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + 2 * HOUR);
    assert.equal((await store.findNode(a.node, first + 1))?.secret, a.secret, "after saveTarget");
    assert.equal((await store.findDevice("dev", first + 1))?.expiresAt, base + 2 * HOUR);
    assert.equal(await store.purgeExpired(first + 1), 0);

    await store.replaceAccounts("dev", [a], base + 3 * HOUR);
    const now = base + 2 * HOUR + 1;
    assert.equal((await store.findNode(a.node, now))?.secret, a.secret, "after replaceAccounts");
    assert.equal((await store.findDevice("dev", now))?.expiresAt, base + 3 * HOUR);
  });

  contract("saveTarget on a device that has expired starts it afresh", async (store) => {
    const a = account("dev", "a");
    const shortLived = Date.now() + 50;
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, shortLived);
    await store.replaceAccounts("dev", [a], shortLived);
    // Let the store's own (real) clock pass the expiry; no purge runs in between.
    await new Promise((resolve) => setTimeout(resolve, 120));
    const base = Date.now();
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + DAY);
    assert.deepEqual((await store.findDevice("dev", base))?.accounts, [], "old accounts died");
    assert.equal(await store.findNode(a.node, base), null);
  });

  contract("forgetChannel nulls the channel it names and keeps the accounts", async (store) => {
    const base = Date.now();
    const a = account("dev", "a");
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + DAY);
    await store.replaceAccounts("dev", [a], base + DAY);
    await store.forgetChannel("dev", CHANNEL, LATER);
    assert.deepEqual(await store.findDevice("dev", base), {
      deviceId: "dev",
      target: null,
      version: 2,
      accounts: [a],
      expiresAt: base + DAY,
    });
    assert.deepEqual(await store.findNode(a.node, base), {
      node: a.node,
      accountId: a.accountId,
      deviceId: storedId("dev"),
      secret: a.secret,
      target: null,
      expiresAt: base + DAY,
    });
    await store.forgetChannel("dev", CHANNEL, LATER); // Twice is harmless.
    await store.forgetChannel("nobody", CHANNEL, LATER); // So is an unknown device.
    // A later registration brings the channel back.
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + DAY);
    assert.equal((await store.findNode(a.node, base))?.target?.address, CHANNEL);
  });

  contract("forgetChannel keeps a channel registered since", async (store) => {
    const base = Date.now();
    await store.saveTarget("dev", wnsTarget(`${CHANNEL}-old`), 2, base + DAY);
    await store.saveTarget("dev", wnsTarget(`${CHANNEL}-new`), 2, base + DAY);
    await store.forgetChannel("dev", `${CHANNEL}-old`, LATER);
    assert.equal((await store.findDevice("dev", base))?.target?.address, `${CHANNEL}-new`);
    // Another device with the same channel is not touched.
    await store.saveTarget("other", wnsTarget(`${CHANNEL}-new`), 2, base + DAY);
    await store.forgetChannel("dev", `${CHANNEL}-new`, LATER);
    assert.equal((await store.findDevice("dev", base))?.target, null);
    assert.equal((await store.findDevice("other", base))?.target?.address, `${CHANNEL}-new`);
  });

  contract(
    "forgetChannel brings the expiry forward to the grace end, never later",
    async (store) => {
      const base = Date.now();
      const [a, b] = ["a", "b"].map((label) => account("dev", label));
      await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + 10 * DAY);
      await store.replaceAccounts("dev", [a, b], base + 10 * DAY);
      await store.forgetChannel("dev", CHANNEL, base + 3 * DAY);
      const device = await store.findDevice("dev", base + 3 * DAY - 1);
      assert.deepEqual(device?.accounts, [a, b], "the accounts wait for a new channel");
      assert.equal(device?.expiresAt, base + 3 * DAY);
      const node = await store.findNode(b.node, base + 3 * DAY - 1);
      assert.deepEqual([node?.target, node?.expiresAt], [null, base + 3 * DAY]);
      assert.equal(await store.findNode(b.node, base + 3 * DAY), null, "dead after the grace");
      assert.equal(await store.findDevice("dev", base + 3 * DAY), null);
      // A second 404/410 with a later grace end does not extend it.
      await store.forgetChannel("dev", CHANNEL, base + 5 * DAY);
      assert.equal((await store.findDevice("dev", base))?.expiresAt, base + 3 * DAY);
      // Nor does a grace end later than the device's own expiry.
      await store.saveTarget("late", wnsTarget(CHANNEL), 2, base + DAY);
      await store.forgetChannel("late", CHANNEL, base + 30 * DAY);
      assert.equal((await store.findDevice("late", base))?.expiresAt, base + DAY);
    },
  );

  contract(
    "a new channel within the grace restores the nodes and the full lifetime",
    async (store) => {
      const base = Date.now();
      const a = account("dev", "a");
      await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + 10 * DAY);
      await store.replaceAccounts("dev", [a], base + 10 * DAY);
      await store.forgetChannel("dev", CHANNEL, base + 2 * DAY);
      await store.saveTarget("dev", wnsTarget(`${CHANNEL}-new`), 2, base + 20 * DAY);
      const node = await store.findNode(a.node, base + 15 * DAY);
      assert.deepEqual([node?.target?.address, node?.expiresAt], [
        `${CHANNEL}-new`,
        base + 20 * DAY,
      ]);
      assert.deepEqual((await store.findDevice("dev", base + 15 * DAY))?.accounts, [a]);
    },
  );

  contract(
    "the device id a node answers names its device to renew and forgetChannel",
    async (store) => {
      // The publish use case only has what findNode answered (a stored key, for some stores).
      const base = Date.now();
      const a = account("dev", "a");
      await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + DAY);
      await store.replaceAccounts("dev", [a], base + DAY);
      const { deviceId } = (await store.findNode(a.node, base))!;
      await store.renew(deviceId, CHANNEL, base + 5 * DAY);
      assert.equal((await store.findDevice("dev", base))?.expiresAt, base + 5 * DAY);
      await store.forgetChannel(deviceId, CHANNEL, base + 2 * DAY);
      const device = await store.findDevice("dev", base);
      assert.deepEqual([device?.target, device?.expiresAt], [null, base + 2 * DAY]);
    },
  );

  contract(
    "renew extends a live device on its channel, with its accounts and nodes",
    async (store) => {
      const base = Date.now();
      const [a, b] = ["a", "b"].map((label) => account("dev", label));
      await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + DAY);
      await store.replaceAccounts("dev", [a, b], base + DAY);
      await store.renew("dev", CHANNEL, base + 5 * DAY);
      const later = base + 4 * DAY;
      assert.deepEqual((await store.findDevice("dev", later))?.accounts, [a, b]);
      const node = await store.findNode(b.node, later);
      assert.deepEqual([node?.target?.address, node?.expiresAt], [CHANNEL, base + 5 * DAY]);
      // Never shortened; never for another channel; never for an unknown device.
      await store.renew("dev", CHANNEL, base + 2 * DAY);
      await store.renew("dev", `${CHANNEL}-other`, base + 9 * DAY);
      await store.renew("nobody", CHANNEL, base + 9 * DAY);
      assert.equal((await store.findDevice("dev", base))?.expiresAt, base + 5 * DAY);
      assert.equal(await store.findDevice("nobody", base), null);
      // A gone channel keeps its grace end: a late renewal must not undo it.
      await store.forgetChannel("dev", CHANNEL, base + 3 * DAY);
      await store.renew("dev", CHANNEL, base + 9 * DAY);
      assert.equal((await store.findDevice("dev", base))?.expiresAt, base + 3 * DAY);
      assert.equal(await store.findNode(a.node, base + 3 * DAY), null);
    },
  );

  contract("the WNS token round-trips and is overwritten", async (store) => {
    assert.equal(await store.loadToken("WNS"), null);
    const first: AccessToken = {
      accessToken: "EgAcAQMAAAAg/first",
      tokenType: "bearer",
      expiresAt: 1,
    };
    await store.saveToken("WNS", first);
    assert.deepEqual(await store.loadToken("WNS"), first);
    const second: AccessToken = {
      accessToken: "EgAcAQMAAAAg/second",
      tokenType: "Bearer",
      expiresAt: Date.now() + DAY,
    };
    await store.saveToken("WNS", second);
    assert.deepEqual(await store.loadToken("WNS"), second);
    // Registrations and their purge leave the token alone.
    await store.purgeExpired(Date.now() + 365 * DAY);
    assert.deepEqual(await store.loadToken("WNS"), second);
  });

  contract("saveTarget: another service's target is kept as saved", async (store) => {
    const base = Date.now();
    // FCM tokens hold colons: the address is kept whole.
    const fcm = { service: "fcm", app: "im.example", address: "fcm:token-1/x" };
    await store.saveTarget(FCM_DEVICE, fcm, 2, base + DAY);
    await store.replaceAccounts(FCM_DEVICE, [account(FCM_DEVICE, "a")], base + DAY);
    // Read back as saved: its own service and app, not the WNS defaults.
    assert.deepEqual((await store.findDevice(FCM_DEVICE, base))?.target, fcm);
    assert.deepEqual((await store.findNode(account(FCM_DEVICE, "a").node, base))?.target, fcm);
    // A token change updates the target in place, accounts kept.
    const moved = { ...fcm, address: "fcm:token-2" };
    await store.saveTarget(FCM_DEVICE, moved, 2, base + DAY);
    assert.deepEqual((await store.findNode(account(FCM_DEVICE, "a").node, base))?.target, moved);
    // Back to a WNS channel, accounts kept.
    await store.saveTarget(FCM_DEVICE, wnsTarget(CHANNEL), 2, base + DAY);
    assert.deepEqual((await store.findDevice(FCM_DEVICE, base))?.target, wnsTarget(CHANNEL));
    assert.equal((await store.findDevice(FCM_DEVICE, base))?.accounts.length, 1);
  });

  contract(
    "a non-WNS registration renews, is forgotten, counts and deletes like a WNS one",
    async (store) => {
      const base = Date.now();
      const fcm = { service: "fcm", app: "im.example", address: "fcm:token-1" };
      const a = account(FCM_DEVICE, "a");
      await store.saveTarget(FCM_DEVICE, fcm, 1, base + DAY);
      await store.replaceAccounts(FCM_DEVICE, [a], base + DAY);
      await store.saveTarget("wns-dev", wnsTarget(CHANNEL), 2, base + DAY);
      await store.replaceAccounts("wns-dev", [account("wns-dev", "a")], base + DAY);
      assert.deepEqual(totalsOf(await store.count(base)), { devices: 2, accounts: 2 });
      // Renewed by its address alone, device, account and node together.
      await store.renew(FCM_DEVICE, "fcm:token-other", base + 3 * DAY);
      assert.equal((await store.findNode(a.node, base))?.expiresAt, base + DAY);
      await store.renew(FCM_DEVICE, fcm.address, base + 3 * DAY);
      assert.equal((await store.findNode(a.node, base))?.expiresAt, base + 3 * DAY);
      assert.equal((await store.findDevice(FCM_DEVICE, base))?.expiresAt, base + 3 * DAY);
      // Forgotten by its address: target gone, accounts kept, expiry brought forward.
      await store.forgetChannel(FCM_DEVICE, fcm.address, base + 2 * DAY);
      const forgotten = await store.findNode(a.node, base);
      assert.equal(forgotten?.target, null);
      assert.equal(forgotten?.expiresAt, base + 2 * DAY);
      // A gone target is not renewed.
      await store.renew(FCM_DEVICE, fcm.address, base + 5 * DAY);
      assert.equal((await store.findDevice(FCM_DEVICE, base))?.expiresAt, base + 2 * DAY);
      assert.deepEqual(totalsOf(await store.count(base)), { devices: 2, accounts: 2 });
      // Deleted at once: the node stops resolving; the WNS device is untouched.
      assert.equal(await store.deleteDevice(FCM_DEVICE, base), true);
      assert.equal(await store.findNode(a.node, base), null);
      assert.equal(await store.findDevice(FCM_DEVICE, base), null);
      assert.equal(await store.deleteDevice(FCM_DEVICE, base), false, "nothing left to delete");
      assert.deepEqual(totalsOf(await store.count(base)), { devices: 1, accounts: 1 });
      assert.equal(
        (await store.findNode(account("wns-dev", "a").node, base))?.deviceId,
        storedId("wns-dev"),
      );
    },
  );

  contract("deleteDevice deletes a WNS device and its nodes; false when none", async (store) => {
    const base = Date.now();
    const [a, b] = [account("dev", "a"), account("dev", "b")];
    assert.equal(await store.deleteDevice("dev", base), false);
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + DAY);
    await store.replaceAccounts("dev", [a, b], base + DAY);
    assert.equal(await store.deleteDevice("dev", base), true);
    assert.equal(await store.findNode(a.node, base), null);
    assert.equal(await store.findNode(b.node, base), null);
    assert.deepEqual(totalsOf(await store.count(base)), { devices: 0, accounts: 0 });
    // Registering again starts afresh, without the old accounts.
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + DAY);
    assert.deepEqual((await store.findDevice("dev", base))?.accounts, []);
  });

  contract("a non-WNS registration expires (and purges) like a WNS one", async (store) => {
    const base = Date.now();
    const soon = base + SHORT_LIFE_MS;
    const fcm = { service: "fcm", app: "im.example", address: "fcm:token-1" };
    const a = account(FCM_DEVICE, "a");
    await store.saveTarget(FCM_DEVICE, fcm, 1, soon);
    await store.replaceAccounts(FCM_DEVICE, [a], soon);
    assert.equal((await store.findNode(a.node, Date.now()))?.accountId, a.accountId);
    await sleep(soon - Date.now() + 50);
    const purged = await store.purgeExpired(Date.now());
    assertPurged(purged, 1);
    assert.equal(await store.findNode(a.node, Date.now()), null);
    assert.equal(await store.findDevice(FCM_DEVICE, Date.now()), null);
    assert.deepEqual(totalsOf(await store.count(Date.now())), { devices: 0, accounts: 0 });
  });

  contract("access tokens are cached per key", async (store) => {
    const expiresAt = Date.now() + DAY;
    const token = (name: string): AccessToken => ({
      accessToken: `token-${name}`,
      tokenType: "Bearer",
      expiresAt,
    });
    await store.saveToken("WNS", token("wns"));
    assert.equal(await store.loadToken("FCM:im.example"), null);
    await store.saveToken("FCM:im.example", token("fcm"));
    assert.deepEqual(await store.loadToken("FCM:im.example"), token("fcm"));
    assert.deepEqual(await store.loadToken("WNS"), token("wns"), "WNS's token was overwritten");
    // A cached token is no registration.
    assert.deepEqual(totalsOf(await store.count(Date.now())), { devices: 0, accounts: 0 });
  });

  contract("keepFirstSecret: the first value kept wins for good, per key", async (store) => {
    await store.saveToken("WNS", { accessToken: "t", tokenType: "bearer", expiresAt: 1 });
    assert.equal(await store.keepFirstSecret("VAPID:webpush", "first"), "first");
    assert.equal(await store.keepFirstSecret("VAPID:webpush", "second"), "first");
    // Another key is another secret; the token and the registrations are left alone.
    assert.equal(await store.keepFirstSecret("VAPID:other", '{"json":"ok"}'), '{"json":"ok"}');
    assert.deepEqual(await store.loadToken("WNS"), {
      accessToken: "t",
      tokenType: "bearer",
      expiresAt: 1,
    });
    assert.equal(await store.findDevice("VAPID:webpush", Date.now()), null);
    assert.equal((await store.count(Date.now())).devices, 0);
    await store.purgeExpired(Date.now() + 365 * DAY);
    assert.equal(await store.keepFirstSecret("VAPID:webpush", "third"), "first");
  });

  contract("keepFirstSecret: callers racing agree on one value", async (store, opened) => {
    // Two instances starting at once each generate a key and offer it: one must win for both.
    const peer = opened.peer ? await opened.peer() : store;
    const offers = Array.from({ length: 8 }, (_, i) => `candidate-${i}`);
    const answers = await Promise.all(
      offers.map((offer, i) => (i % 2 === 0 ? store : peer).keepFirstSecret("race", offer)),
    );
    assert.equal(new Set(answers).size, 1, `answers differ: ${answers.join(", ")}`);
    assert.ok(offers.includes(answers[0]));
    assert.equal(await peer.keepFirstSecret("race", "late"), answers[0]);
  });

  contract(
    "createIfAbsent: the first registration creates; later ones answer it, writing nothing",
    async (store) => {
      const base = Date.now();
      const fcm = { service: "fcm", app: "im.example", address: "fcm:token-1" };
      const first = account(FCM_DEVICE, "first");
      const made = await store.createIfAbsent(FCM_DEVICE, fcm, 0, first, base + DAY, base);
      const expected = {
        deviceId: FCM_DEVICE,
        target: fcm,
        version: 0,
        accounts: [first],
        expiresAt: base + DAY,
      };
      assert.deepEqual(made, { created: true, device: expected });
      assert.deepEqual(await store.findDevice(FCM_DEVICE, base), expected);
      assert.equal((await store.findNode(first.node, base))?.secret, first.secret);
      // Another registration of the same key (same account id, its own minted node).
      const other = { ...account(FCM_DEVICE, "other"), accountId: first.accountId };
      const later = { ...fcm, address: "fcm:token-2" };
      const again = await store.createIfAbsent(FCM_DEVICE, later, 0, other, base + 2 * DAY, base);
      assert.deepEqual(again, { created: false, device: expected });
      assert.deepEqual(await store.findDevice(FCM_DEVICE, base), expected, "nothing written");
      assert.equal(await store.findNode(other.node, base), null);
      assert.deepEqual(totalsOf(await store.count(base)), { devices: 1, accounts: 1 });
    },
  );

  contract("createIfAbsent: an expired registration counts as absent", async (store) => {
    const base = Date.now();
    const fcm = { service: "fcm", app: "im.example", address: "fcm:token-1" };
    const old = account(FCM_DEVICE, "old");
    await store.createIfAbsent(FCM_DEVICE, fcm, 0, old, base + DAY, base);
    const fresh = { ...account(FCM_DEVICE, "fresh"), accountId: old.accountId };
    const later = base + DAY; // The old one's expiry: no longer live.
    const made = await store.createIfAbsent(FCM_DEVICE, fcm, 0, fresh, later + DAY, later);
    assert.equal(made.created, true);
    assert.deepEqual(made.device.accounts, [fresh]);
    assert.equal(await store.findNode(old.node, base), null, "the old node died with it");
    assert.equal((await store.findNode(fresh.node, later))?.secret, fresh.secret);
  });

  contract(
    "createIfAbsent: a live device without the account is replaced; a taken node refused",
    async (store) => {
      const base = Date.now();
      const fcm = { service: "fcm", app: "im.example", address: "fcm:token-1" };
      // Half-written (the target saved, the account not): the next registration completes it.
      await store.saveTarget(FCM_DEVICE, fcm, 0, base + DAY);
      const a = account(FCM_DEVICE, "a");
      const made = await store.createIfAbsent(FCM_DEVICE, fcm, 0, a, base + DAY, base);
      assert.equal(made.created, true);
      assert.deepEqual((await store.findDevice(FCM_DEVICE, base))?.accounts, [a]);
      // A node of another device is never taken over, and the call writes nothing.
      await store.saveTarget("wns-dev", wnsTarget(CHANNEL), 2, base + DAY);
      await store.replaceAccounts("wns-dev", [account("wns-dev", "a")], base + DAY);
      const thief = { ...account("other", "a"), node: account("wns-dev", "a").node };
      const other = `fcm:im.example:${"ab".repeat(20)}`;
      await assert.rejects(store.createIfAbsent(other, fcm, 0, thief, base + DAY, base));
      assert.equal(await store.findDevice(other, base), null);
      assert.equal(
        (await store.findNode(thief.node, base))?.deviceId,
        storedId("wns-dev"),
      );
    },
  );

  contract(
    "createIfAbsent: first registrations racing on one backend agree on one node and secret",
    async (store, opened) => {
      // Two instances (or two commands) registering one key at once: one creates, every
      // racer answers its node and secret, and that node resolves.
      const peer = opened.peer ? await opened.peer() : store;
      const base = Date.now();
      const racers = Array.from({ length: 16 }, (_, i) => ({
        ...account(FCM_DEVICE, `racer-${i}`),
        accountId: "the-key",
      }));
      const outcomes = await Promise.all(
        racers.map((racer, i) =>
          (i % 2 === 0 ? store : peer).createIfAbsent(
            FCM_DEVICE,
            { service: "fcm", app: "im.example", address: `fcm:token-${i}` },
            0,
            racer,
            base + DAY,
            base,
          )
        ),
      );
      assert.equal(outcomes.filter((o) => o.created).length, 1, "exactly one creates");
      const answered = new Set(outcomes.map((o) => JSON.stringify(o.device.accounts)));
      assert.equal(answered.size, 1, `racers answered differently: ${[...answered].join(" ")}`);
      const [winner] = outcomes.find((o) => o.created)!.device.accounts;
      for (const reader of [store, peer]) {
        assert.deepEqual((await reader.findDevice(FCM_DEVICE, base))?.accounts, [winner]);
        assert.equal((await reader.findNode(winner.node, base))?.secret, winner.secret);
      }
      assert.deepEqual(totalsOf(await store.count(base)), { devices: 1, accounts: 1 });
    },
  );

  contract("many devices and nodes do not interfere", async (store) => {
    const base = Date.now();
    const ids = Array.from({ length: 25 }, (_, i) => `dev${i}`);
    const accountsOf = (deviceId: string) =>
      ["a", "b", "c", "d"].map((label) => account(deviceId, label));
    // dev0 and dev1 expire first: by the purge's `now`, or (real-time expiry) for real.
    const expiryOf = (i: number) =>
      realTimeExpiry && i < 2 ? base + SHORT_LIFE_MS + i : base + DAY + i;
    for (const [i, deviceId] of ids.entries()) {
      await store.saveTarget(deviceId, wnsTarget(`${CHANNEL}${i}`), 2, expiryOf(i));
      await store.replaceAccounts(deviceId, accountsOf(deviceId), expiryOf(i));
    }
    // Change a few devices in different ways.
    await store.replaceAccounts("dev3", [], base + DAY + 3);
    await store.forgetChannel("dev4", `${CHANNEL}4`, LATER);
    await store.saveTarget("dev5", wnsTarget(`${CHANNEL}five`), 1, base + DAY + 5);
    if (realTimeExpiry) {
      await sleep(expiryOf(1) - Date.now() + 50);
      assertPurged(await store.purgeExpired(Date.now()), 2, "dev0 and dev1 expire first");
    } else {
      assert.equal(await store.purgeExpired(base + DAY + 1), 2, "dev0 and dev1 expire first");
    }

    for (const [i, deviceId] of ids.entries()) {
      const device = await store.findDevice(deviceId, base);
      if (i < 2) {
        assert.equal(device, null, deviceId);
        continue;
      }
      const expected = i === 3 ? [] : accountsOf(deviceId);
      const channel = i === 4 ? null : i === 5 ? `${CHANNEL}five` : `${CHANNEL}${i}`;
      const target = channel === null ? null : wnsTarget(channel);
      assert.deepEqual(device, {
        deviceId,
        target,
        version: i === 5 ? 1 : 2,
        accounts: expected,
        expiresAt: base + DAY + i,
      });
      for (const a of accountsOf(deviceId)) {
        const found = await store.findNode(a.node, base);
        if (i === 3) {
          assert.equal(found, null);
        } else {
          assert.deepEqual(found, {
            ...a,
            deviceId: storedId(deviceId),
            target,
            node: a.node,
            expiresAt: base + DAY + i,
          });
        }
      }
    }
  });

  contract("unicode and long ids are stored verbatim", async (store) => {
    const base = Date.now();
    const deviceId = `設備-🙂-Ünïcödé-${"f".repeat(4000)}`;
    const channel = `${CHANNEL}${"x".repeat(2000)}&é=🙂`;
    const accounts: AccountRegistration[] = [
      { accountId: "ä\u200d👩‍💻", node: "узел/1 'quoted' \"double\"", secret: "秘密🔑\t\n" },
      { accountId: "a".repeat(5000), node: "n".repeat(5000), secret: "s".repeat(5000) },
      { accountId: "'; DROP TABLE devices; --", node: "%_*?[]", secret: "\\\\" },
    ];
    await store.saveTarget(deviceId, wnsTarget(channel), 2, base + DAY);
    await store.replaceAccounts(deviceId, accounts, base + DAY);
    const device = await store.findDevice(deviceId, base);
    assert.equal(device?.deviceId, deviceId);
    assert.equal(device?.target?.address, channel);
    assert.deepEqual(device?.accounts, accounts);
    for (const a of accounts) {
      assert.deepEqual(await store.findNode(a.node, base), {
        node: a.node,
        accountId: a.accountId,
        deviceId: storedId(deviceId),
        secret: a.secret,
        target: wnsTarget(channel),
        expiresAt: base + DAY,
      });
    }
    // Near-misses must not match (no normalisation, no pattern matching).
    assert.equal(await store.findNode("%", base), null);
    assert.equal(await store.findDevice(deviceId.normalize("NFD"), base), null);
  });

  contract("results and inputs are not shared with the store", async (store) => {
    const base = Date.now();
    const accounts = [account("dev", "a")];
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + DAY);
    await store.replaceAccounts("dev", accounts, base + DAY);
    accounts.push(account("dev", "b")); // The caller reuses its array.

    const device = await store.findDevice("dev", base);
    assert.deepEqual(device?.accounts, [account("dev", "a")]);
    try {
      // Results may be frozen; if they are not, writing to them must not reach the store.
      const loose = device as unknown as {
        target: { address: string };
        accounts: { secret: string }[];
      };
      loose.target.address = "changed";
      loose.accounts[0].secret = "changed";
    } catch {
      // Frozen: fine.
    }
    const again = await store.findDevice("dev", base);
    assert.equal(again?.target?.address, CHANNEL);
    assert.equal(again?.accounts[0].secret, account("dev", "a").secret);
    assert.equal(await store.findNode(account("dev", "b").node, base), null);
  });

  contract(
    "ping resolves while the store is open, and rejects once it is closed",
    async (store) => {
      await store.ping();
      await store.saveTarget("dev", wnsTarget(CHANNEL), 2, Date.now() + DAY);
      await store.ping();
      await store.close(); // The cleanup closes it again: closing twice is harmless.
      await assert.rejects(store.ping());
      await assert.rejects(store.count(Date.now()));
    },
  );

  contract("count counts live devices and the accounts they list", async (store) => {
    const base = Date.now();
    assert.deepEqual(totalsOf(await store.count(base)), { devices: 0, accounts: 0 });
    await store.saveToken("WNS", { accessToken: "t", tokenType: "bearer", expiresAt: base + DAY });
    assert.deepEqual(
      totalsOf(await store.count(base)),
      { devices: 0, accounts: 0 },
      "the token is no device",
    );
    await store.saveTarget("a", wnsTarget(CHANNEL), 2, base + DAY);
    await store.replaceAccounts("a", [account("a", "1"), account("a", "2")], base + DAY);
    await store.saveTarget("b", wnsTarget(CHANNEL), 2, base + 2 * DAY);
    await store.replaceAccounts("b", [account("b", "1")], base + 2 * DAY);
    await store.saveTarget("c", wnsTarget(CHANNEL), 2, base + 2 * DAY);
    assert.deepEqual(totalsOf(await store.count(base)), { devices: 3, accounts: 3 });
    // A device whose channel WNS forgot is still registered, with its accounts.
    await store.forgetChannel("b", CHANNEL, LATER);
    await store.replaceAccounts("a", [account("a", "3")], base + DAY);
    assert.deepEqual(totalsOf(await store.count(base)), { devices: 3, accounts: 2 });
    // Up to a's expiry it counts; at it and past it only b and c are live.
    assert.deepEqual(totalsOf(await store.count(base + DAY - 1)), { devices: 3, accounts: 2 });
    assert.deepEqual(totalsOf(await store.count(base + DAY)), { devices: 2, accounts: 1 });
    assert.deepEqual(totalsOf(await store.count(base + 2 * DAY)), { devices: 0, accounts: 0 });
  });

  contract("count breaks live devices and accounts down by app", async (store) => {
    const base = Date.now();
    const target = (service: string, app: string, address: string) => ({ service, app, address });
    const apns = `apns:im.example.ios:${"ab".repeat(20)}`;
    const web = `webpush:browser:${"cd".repeat(32)}`;
    const quick = `fcm:im.quick:${"ef".repeat(20)}`;
    // WNS devices of the UWPX client: two, one listing two accounts.
    await store.saveTarget("w1", wnsTarget(CHANNEL), 2, base + DAY);
    await store.replaceAccounts("w1", [account("w1", "a"), account("w1", "b")], base + DAY);
    await store.saveTarget("w2", wnsTarget(CHANNEL), 2, base + 2 * DAY);
    // Registrations by command, one account each; two FCM apps kept apart.
    for (
      const [id, t, expiresAt] of [
        [FCM_DEVICE, target("fcm", "im.example", "tok-1"), base + 2 * DAY],
        [quick, target("fcm", "im.quick", "tok-2"), base + DAY],
        [apns, target("apns", "im.example.ios", "aa11"), base + 2 * DAY],
        [web, target("webpush", "browser", "https://push.example/x"), base + 2 * DAY],
      ] as const
    ) {
      await store.createIfAbsent(id, t, 0, account(id, "a"), expiresAt, base);
    }
    // A second FCM device of the same app.
    const second = `fcm:im.example:${"0f".repeat(20)}`;
    await store.createIfAbsent(
      second,
      target("fcm", "im.example", "tok-3"),
      0,
      account(second, "a"),
      base + 2 * DAY,
      base,
    );
    const app = (service: string, name: string, devices: number, accounts: number) => ({
      service,
      app: name,
      devices,
      accounts,
    });
    const count = await store.count(base);
    assert.deepEqual(totalsOf(count), { devices: 7, accounts: 7 });
    assert.deepEqual(count.byApp, [
      app("apns", "im.example.ios", 1, 1),
      app("fcm", "im.example", 2, 2),
      app("fcm", "im.quick", 1, 1),
      app("webpush", "browser", 1, 1),
      app("wns", "wns", 2, 2),
    ]);
    // A gone target still counts, under the app it had.
    await store.forgetChannel(apns, "aa11", LATER);
    await store.forgetChannel("w1", CHANNEL, LATER);
    assert.deepEqual((await store.count(base)).byApp, count.byApp);
    // Expired ones are left out, and an app without live devices is not listed.
    const later = await store.count(base + DAY);
    assert.deepEqual(totalsOf(later), { devices: 5, accounts: 4 });
    assert.deepEqual(later.byApp, [
      app("apns", "im.example.ios", 1, 1),
      app("fcm", "im.example", 2, 2),
      app("webpush", "browser", 1, 1),
      app("wns", "wns", 1, 0),
    ]);
    // A deleted one too.
    await store.deleteDevice(web, base);
    assert.deepEqual(
      (await store.count(base + DAY)).byApp.map((a) => `${a.service}/${a.app}`),
      ["apns/im.example.ios", "fcm/im.example", "wns/wns"],
    );
    assert.deepEqual((await store.count(base + 2 * DAY)).byApp, []);
  });

  contract("count leaves out devices past their real expiry", async (store) => {
    const base = Date.now();
    const soon = base + SHORT_LIFE_MS;
    for (const [deviceId, expiresAt] of [["x1", soon], ["live", base + DAY]] as const) {
      await store.saveTarget(deviceId, wnsTarget(CHANNEL), 2, expiresAt);
      await store.replaceAccounts(deviceId, [account(deviceId, "a")], expiresAt);
    }
    assert.deepEqual(totalsOf(await store.count(Date.now())), { devices: 2, accounts: 2 });
    await sleep(soon - Date.now() + 50);
    assert.deepEqual(totalsOf(await store.count(Date.now())), { devices: 1, accounts: 1 });
  });
}
