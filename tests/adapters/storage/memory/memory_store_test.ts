import { wnsTarget } from "../../../support/wns_delivery.ts";
import assert from "node:assert/strict";
import { storedDeviceId } from "../../../../adapters/storage/device_key.ts";
import { MemoryStore } from "../../../../adapters/storage/memory/memory_store.ts";
import { storeContract } from "../store_contract.ts";

storeContract("MemoryStore", () => {
  const store = new MemoryStore();
  return Promise.resolve({ store, cleanup: () => store.close() });
}, { storedId: storedDeviceId });

Deno.test("MemoryStore: writes judge expiry by the injected clock", async () => {
  let now = 1_000;
  const store = new MemoryStore({ now: () => now });
  const account = { accountId: "acc", node: "node", secret: "secret" };
  await store.saveTarget("dev", wnsTarget("https://x.notify.windows.com/?token=t"), 2, 2_000);
  await store.replaceAccounts("dev", [account], 2_000);
  now = 2_000;
  await assert.rejects(store.replaceAccounts("dev", [account], 9_000), /expired/);
  await store.saveTarget("dev", wnsTarget("https://x.notify.windows.com/?token=t"), 2, 9_000);
  assert.deepEqual((await store.findDevice("dev", now))?.accounts, []);
  assert.equal(await store.findNode("node", now), null);
});

Deno.test("MemoryStore: refuses account lists that break node ownership", async () => {
  const store = new MemoryStore({ now: () => 0 });
  const uri = "https://x.notify.windows.com/?token=t";
  await store.saveTarget("one", wnsTarget(uri), 2, 10);
  await store.saveTarget("two", wnsTarget(uri), 2, 10);
  await store.replaceAccounts("one", [{ accountId: "a", node: "n", secret: "s" }], 10);
  await assert.rejects(
    store.replaceAccounts("two", [{ accountId: "b", node: "n", secret: "t" }], 10),
    /another device/,
  );
  await assert.rejects(
    store.replaceAccounts("one", [
      { accountId: "a", node: "n1", secret: "s" },
      { accountId: "a", node: "n2", secret: "s" },
    ], 10),
    /twice/,
  );
  assert.equal((await store.findNode("n", 0))?.deviceId, storedDeviceId("one"));
  assert.deepEqual((await store.findDevice("two", 0))?.accounts, []);
  await store.close();
  await assert.rejects(store.findNode("n", 0), /closed/);
});
