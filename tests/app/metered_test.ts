import { wnsTarget } from "../support/wns_delivery.ts";
import { totalsOf } from "../support/registration_totals.ts";
import assert from "node:assert/strict";
import { MemoryStore } from "../../adapters/storage/memory/memory_store.ts";
import { DELIVERED, MemoryWnsSender } from "../../adapters/push/wns/memory_wns_sender.ts";
import { meteredStore, MeteredWnsSender } from "../../app/metered.ts";
import { NO_METRICS } from "../../domain/ports/metrics.ts";
import { StorageUnavailableError } from "../../domain/ports/storage.ts";

Deno.test("meteredStore: forwards every method and counts unavailable backends only", async () => {
  const errors: string[] = [];
  const inner = new MemoryStore();
  const store = meteredStore(inner, { storageError: (operation) => errors.push(operation) });
  await store.saveTarget(
    "dev",
    wnsTarget("https://x.notify.windows.com/?token=t"),
    2,
    Date.now() + 1000,
  );
  assert.equal((await store.findDevice("dev", Date.now()))?.version, 2);
  assert.deepEqual(totalsOf(await store.count(Date.now())), { devices: 1, accounts: 0 });
  await store.ping();
  // A refused write is the caller's problem, not the backend's: not counted.
  await assert.rejects(store.replaceAccounts("nobody", [], 0));
  assert.deepEqual(errors, []);

  inner.findNode = () => Promise.reject(new StorageUnavailableError("down"));
  await assert.rejects(store.findNode("n", 0), StorageUnavailableError);
  assert.deepEqual(errors, ["findNode"]);
});

Deno.test("MeteredWnsSender: reports each answer's status and duration", async () => {
  const seen: [number | null, number][] = [];
  const inner = new MemoryWnsSender();
  const sender = new MeteredWnsSender(inner, {
    ...NO_METRICS,
    wnsResponse: (status, seconds) => seen.push([status, seconds]),
  });
  const options = { cache: false, ttlSeconds: 0 };
  assert.deepEqual(await sender.sendRaw("https://a/", "x", options), DELIVERED);
  inner.setDefaultOutcome({ kind: "failed", retryable: true, status: null, detail: "timeout" });
  await sender.sendRaw("https://a/", "x", options);
  assert.deepEqual(seen.map(([status]) => status), [200, null]);
  assert.ok(seen.every(([, seconds]) => seconds >= 0 && seconds < 1));
});
