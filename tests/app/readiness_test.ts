import assert from "node:assert/strict";
import { MemoryStore } from "../../adapters/storage/memory/memory_store.ts";
import {
  errorText,
  Readiness,
  storageCheck,
  wnsTokenCheck,
  xmppLinkCheck,
} from "../../app/readiness.ts";
import { type RegistrationStore, StorageUnavailableError } from "../../domain/ports/storage.ts";
import { FakeClock } from "../support/fakes.ts";

Deno.test("Readiness: ready when every check passes; each failure named with its reason", async () => {
  const link = { online: true };
  const readiness = new Readiness([storageCheck(new MemoryStore()), xmppLinkCheck(link)]);
  assert.deepEqual(await readiness.run(), {
    ready: true,
    checks: [{ name: "storage", ok: true }, { name: "xmpp", ok: true }],
  });
  link.online = false;
  assert.deepEqual(await readiness.run(), {
    ready: false,
    checks: [
      { name: "storage", ok: true },
      { name: "xmpp", ok: false, detail: "the link to the XMPP server is down" },
    ],
  });
});

Deno.test("Readiness: a check that hangs fails at the timeout", async () => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const readiness = new Readiness([{
    name: "slow",
    run: () => new Promise((resolve) => timer = setTimeout(resolve, 1000)),
  }], 50);
  const report = await readiness.run();
  clearTimeout(timer);
  assert.deepEqual(report.checks, [{ name: "slow", ok: false, detail: "no answer within 50 ms" }]);
});

Deno.test("Readiness: not ready once shutting down", async () => {
  const readiness = new Readiness([]);
  assert.equal((await readiness.run()).ready, true);
  readiness.markShuttingDown();
  assert.deepEqual(await readiness.run(), {
    ready: false,
    checks: [{ name: "server", ok: false, detail: "shutting down" }],
  });
});

Deno.test("storageCheck: pings the store, and fails with the ping's reason", async () => {
  const store = new MemoryStore();
  await storageCheck(store).run();
  let pings = 0;
  const down = {
    ping: () => (pings++, Promise.reject(new StorageUnavailableError("Redis ping failed"))),
  } as unknown as RegistrationStore;
  await assert.rejects(storageCheck(down).run(), /Redis ping failed/);
  assert.equal(pings, 1);
  await store.close();
  await assert.rejects(storageCheck(store).run(), /closed/);
});

Deno.test("wnsTokenCheck: a failure is remembered for a while, then asked again", async () => {
  const clock = new FakeClock();
  let calls = 0;
  let failing = true;
  const tokens = {
    get() {
      calls++;
      return failing ? Promise.reject(new Error("refused (401)")) : Promise.resolve({});
    },
  };
  const check = wnsTokenCheck(tokens, clock, 30_000);
  await assert.rejects(check.run(), /refused/);
  await assert.rejects(check.run(), /refused/);
  assert.equal(calls, 1);
  failing = false;
  clock.advance(30_001);
  await check.run();
  await check.run();
  assert.equal(calls, 3, "successes are not cached here: the token source caches them");
});

Deno.test("errorText: one short line", () => {
  assert.equal(errorText(new Error("first\nsecond")), "first");
  assert.equal(errorText("plain"), "plain");
  assert.equal(errorText(new Error("")), "failed");
  assert.equal(errorText(new Error("x".repeat(500))).length, 200);
});
