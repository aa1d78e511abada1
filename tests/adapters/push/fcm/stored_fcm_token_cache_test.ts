/** The FCM token cache in storage: key per app, shared, and given up on a layout that refuses it. */

import assert from "node:assert/strict";
import { StoredFcmTokenCache } from "../../../../adapters/push/fcm/stored_fcm_token_cache.ts";
import { MemoryStore } from "../../../../adapters/storage/memory/memory_store.ts";
import { type AccessToken, StorageUnavailableError } from "../../../../domain/ports/storage.ts";
import { RecordingLogger } from "../../../support/recording_logger.ts";

const TOKEN = { accessToken: "ya29.t", expiresAt: 1_900_000_000_000, clientEmail: "a@p.iam" };

Deno.test("stored FCM token: saved under FCM:<app>, read back by another cache", async () => {
  const store = new MemoryStore();
  const logger = new RecordingLogger();
  await new StoredFcmTokenCache(store, "quicksy", "a@p.iam", logger).save(TOKEN);
  assert.deepEqual(await store.loadToken("FCM:quicksy"), {
    accessToken: "ya29.t",
    tokenType: "Bearer",
    expiresAt: 1_900_000_000_000,
  });
  assert.deepEqual(
    await new StoredFcmTokenCache(store, "quicksy", "a@p.iam", logger).load(),
    TOKEN,
  );
  assert.equal(await new StoredFcmTokenCache(store, "other", "a@p.iam", logger).load(), null);
  await store.close();
});

Deno.test("stored FCM token: a store refusing the key is given up on, said once", async () => {
  let calls = 0;
  const refusing = {
    loadToken(): Promise<AccessToken | null> {
      calls++;
      return Promise.reject(new Error("the original Redis layout caches the WNS token only"));
    },
    saveToken(): Promise<void> {
      calls++;
      return Promise.reject(new Error("the original Redis layout caches the WNS token only"));
    },
  };
  const logger = new RecordingLogger();
  const cache = new StoredFcmTokenCache(refusing, "c", "a@p.iam", logger);
  assert.equal(await cache.load(), null);
  await cache.save(TOKEN);
  assert.equal(await cache.load(), null);
  assert.equal(calls, 1, "asked again after the refusal");
  assert.equal(cache.refused, true);
  assert.equal(logger.lines.filter((l) => l.level === "warn").length, 1);
});

Deno.test("stored FCM token: an unavailable store is not given up on", async () => {
  const down = {
    loadToken: () => Promise.reject(new StorageUnavailableError("down")),
    saveToken: () => Promise.reject(new StorageUnavailableError("down")),
  };
  const cache = new StoredFcmTokenCache(down, "c", "a@p.iam", new RecordingLogger());
  await assert.rejects(cache.load(), StorageUnavailableError);
  await assert.rejects(cache.save(TOKEN), StorageUnavailableError);
  assert.equal(cache.refused, false);
});
