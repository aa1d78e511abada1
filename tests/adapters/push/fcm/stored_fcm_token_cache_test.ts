/** The FCM token cache in storage: one key per app, shared by every cache on the store. */

import assert from "node:assert/strict";
import { StoredFcmTokenCache } from "../../../../adapters/push/fcm/stored_fcm_token_cache.ts";
import { MemoryStore } from "../../../../adapters/storage/memory/memory_store.ts";
import { SqliteStore } from "../../../../adapters/storage/sqlite/sqlite_store.ts";
import { StorageUnavailableError } from "../../../../domain/ports/storage.ts";

const TOKEN = { accessToken: "ya29.t", expiresAt: 1_900_000_000_000, clientEmail: "a@p.iam" };

Deno.test("stored FCM token: saved under FCM:<app>, read back by another cache", async () => {
  const dir = await Deno.makeTempDir();
  for (const store of [new MemoryStore(), await SqliteStore.open(`${dir}/push.db`)]) {
    await new StoredFcmTokenCache(store, "quicksy", "a@p.iam").save(TOKEN);
    assert.deepEqual(await store.loadToken("FCM:quicksy"), {
      accessToken: "ya29.t",
      tokenType: "Bearer",
      expiresAt: 1_900_000_000_000,
    });
    assert.deepEqual(await new StoredFcmTokenCache(store, "quicksy", "a@p.iam").load(), TOKEN);
    assert.equal(await new StoredFcmTokenCache(store, "other", "a@p.iam").load(), null);
    await store.close();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("stored FCM token: a failing store's error reaches the shared token cache", async () => {
  const down = {
    loadToken: () => Promise.reject(new StorageUnavailableError("down")),
    saveToken: () => Promise.reject(new StorageUnavailableError("down")),
  };
  const cache = new StoredFcmTokenCache(down, "c", "a@p.iam");
  await assert.rejects(cache.load(), StorageUnavailableError);
  await assert.rejects(cache.save(TOKEN), StorageUnavailableError);
});
