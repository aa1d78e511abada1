/**
 * Issue 13, item 5: device ids are credentials, so SQLite and the memory store keep only a
 * hash of them; an existing (schema 1) SQLite database is migrated.
 */

import { wnsTarget } from "../../support/wns_delivery.ts";
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { isStoredDeviceId, storedDeviceId } from "../../../adapters/storage/device_key.ts";
import {
  SQLITE_SCHEMA_VERSION,
  SqliteStore,
} from "../../../adapters/storage/sqlite/sqlite_store.ts";

const CHANNEL = "https://db5p.notify.windows.com/?token=AwYAAAB";
const DEVICE = "5486bd868050a620141f4e81c9f1d2c67ab0de27e5e26d218ca41c9394ee806b";
const OTHER = "16ecab1875791e2b6ed0c9a6dae5a12a79d92120e1c3afbd3a9c8535ce44666d";

async function withDir(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "uwpx-hashed-ids-" });
  try {
    await fn(`${dir}/push.db`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Every byte SQLite wrote (database and WAL), as text. */
function filesText(path: string): string {
  const decoder = new TextDecoder("latin1");
  return [path, `${path}-wal`].map((file) => {
    try {
      return decoder.decode(Deno.readFileSync(file));
    } catch {
      return "";
    }
  }).join("");
}

Deno.test("device key: a SHA-256 no device id can be mistaken for, and stable", () => {
  const key = storedDeviceId(DEVICE);
  assert.match(key, /^h:[0-9a-f]{64}$/);
  assert.equal(storedDeviceId(key), key, "a key is its own key");
  assert.notEqual(storedDeviceId(DEVICE.toUpperCase()), key, "ids stay case-sensitive");
  assert.ok(isStoredDeviceId(key) && !isStoredDeviceId(DEVICE));
});

Deno.test("SqliteStore: the database never holds a device id, and everything works by id", async () => {
  await withDir(async (path) => {
    const base = Date.now();
    const store = SqliteStore.open(path, { checkpointIntervalMs: 0 });
    const account = { accountId: "acc", node: "node-1", secret: "secret-1" };
    await store.saveTarget(DEVICE, wnsTarget(CHANNEL), 2, base + 60_000);
    await store.replaceAccounts(DEVICE, [account], base + 60_000);
    assert.equal((await store.findDevice(DEVICE, base))?.deviceId, DEVICE);
    const target = await store.findNode("node-1", base);
    assert.equal(target?.deviceId, storedDeviceId(DEVICE));
    await store.close();
    const text = filesText(path);
    assert.ok(text.includes("secret-1"), "the check reads what SQLite wrote");
    assert.ok(!text.includes(DEVICE), "the device id is in the database files");
    assert.ok(text.includes(storedDeviceId(DEVICE).slice(2)));
  });
});

Deno.test("SqliteStore: a schema 1 database with device ids is migrated to their hashes", async () => {
  await withDir(async (path) => {
    const base = Date.now();
    // A database as the previous version wrote it.
    const old = new DatabaseSync(path);
    old.exec(`
      CREATE TABLE devices (device_id TEXT PRIMARY KEY NOT NULL, channel_uri TEXT,
        version INTEGER NOT NULL, expires_at INTEGER NOT NULL);
      CREATE INDEX devices_expires_at ON devices (expires_at);
      CREATE TABLE accounts (node TEXT PRIMARY KEY NOT NULL,
        device_id TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
        account_id TEXT NOT NULL, secret TEXT NOT NULL, position INTEGER NOT NULL,
        UNIQUE (device_id, account_id));
      CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
      PRAGMA user_version = 1;
    `);
    const expires = base + 60_000;
    old.prepare("INSERT INTO devices VALUES (?, ?, 2, ?)").run(DEVICE, CHANNEL, expires);
    old.prepare("INSERT INTO devices VALUES (?, NULL, 1, ?)").run(OTHER, expires);
    const insert = old.prepare("INSERT INTO accounts VALUES (?, ?, ?, ?, ?)");
    insert.run("node-a", DEVICE, "acc-a", "secret-a", 0);
    insert.run("node-b", DEVICE, "acc-b", "secret-b", 1);
    insert.run("node-c", OTHER, "acc-c", "secret-c", 0);
    old.close();

    const store = SqliteStore.open(path, { checkpointIntervalMs: 0 });
    try {
      // Found by id, with its accounts in order; nodes resolve to the hashed device.
      const device = await store.findDevice(DEVICE, base);
      assert.deepEqual(device?.accounts.map((a) => a.node), ["node-a", "node-b"]);
      assert.equal(device?.target?.address, CHANNEL);
      assert.equal((await store.findDevice(OTHER, base))?.version, 1);
      const target = await store.findNode("node-c", base);
      assert.deepEqual([target?.deviceId, target?.secret], [storedDeviceId(OTHER), "secret-c"]);
      // Writes by id reach the migrated rows; and a device can be forgotten by its key.
      await store.replaceAccounts(DEVICE, [device!.accounts[1]], expires);
      assert.equal(await store.findNode("node-a", base), null);
      await store.forgetChannel(storedDeviceId(DEVICE), CHANNEL, expires);
      assert.equal((await store.findDevice(DEVICE, base))?.target, null);
    } finally {
      await store.close();
    }
    const raw = new DatabaseSync(path);
    try {
      assert.equal(raw.prepare("PRAGMA user_version").get()?.user_version, SQLITE_SCHEMA_VERSION);
      const ids = raw.prepare(
        "SELECT device_id FROM devices UNION ALL SELECT device_id FROM accounts",
      )
        .all().map((row) => String(row.device_id));
      assert.equal(ids.length, 4);
      assert.ok(ids.every(isStoredDeviceId), ids.join());
      assert.equal(raw.prepare("PRAGMA foreign_key_check").all().length, 0);
    } finally {
      raw.close();
    }
    // Opening again changes nothing.
    const again = SqliteStore.open(path, { checkpointIntervalMs: 0 });
    assert.equal((await again.findNode("node-b", base))?.deviceId, storedDeviceId(DEVICE));
    await again.close();
  });
});
