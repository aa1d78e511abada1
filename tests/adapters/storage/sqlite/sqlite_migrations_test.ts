/**
 * Databases written by earlier versions of the server are migrated step by step to the
 * current schema, keep their registrations, and push afterwards.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { storedDeviceId } from "../../../../adapters/storage/device_key.ts";
import { MemoryWnsSender } from "../../../../adapters/push/wns/memory_wns_sender.ts";
import {
  SQLITE_SCHEMA_VERSION,
  SqliteStore,
} from "../../../../adapters/storage/sqlite/sqlite_store.ts";
import { PushService } from "../../../../app/use_cases/push_service.ts";
import { RecordingLogger } from "../../../support/recording_logger.ts";
import { wnsDelivery, wnsTarget } from "../../../support/wns_delivery.ts";

const CHANNEL = "https://db5p.notify.windows.com/?token=AwYAAAB";
const DEVICE = "5486bd868050a620141f4e81c9f1d2c67ab0de27e5e26d218ca41c9394ee806b";

/** The tables as versions 1 and 2 created them (2 only hashed the ids in them). */
const OLD_TABLES = `
  CREATE TABLE devices (device_id TEXT PRIMARY KEY NOT NULL, channel_uri TEXT,
    version INTEGER NOT NULL, expires_at INTEGER NOT NULL);
  CREATE INDEX devices_expires_at ON devices (expires_at);
  CREATE TABLE accounts (node TEXT PRIMARY KEY NOT NULL,
    device_id TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    account_id TEXT NOT NULL, secret TEXT NOT NULL, position INTEGER NOT NULL,
    UNIQUE (device_id, account_id));
  CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
`;

/** A database at `version` with one device and one account, as that version wrote it. */
function writeOldDatabase(path: string, version: 1 | 2, expiresAt: number): void {
  const old = new DatabaseSync(path);
  try {
    old.exec(`${OLD_TABLES} PRAGMA user_version = ${version};`);
    const id = version === 1 ? DEVICE : storedDeviceId(DEVICE);
    old.prepare("INSERT INTO devices VALUES (?, ?, 2, ?)").run(id, CHANNEL, expiresAt);
    old.prepare("INSERT INTO accounts VALUES (?, ?, ?, ?, ?)")
      .run("node-a", id, "acc-a", "secret-a", 0);
  } finally {
    old.close();
  }
}

for (const version of [1, 2] as const) {
  Deno.test(`SQLite: a schema ${version} database migrates to the current schema and pushes`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "uwpx-migrations-" });
    const path = `${dir}/push.db`;
    try {
      const now = Date.now();
      writeOldDatabase(path, version, now + 60_000);
      const store = SqliteStore.open(path, { checkpointIntervalMs: 0 });
      const wns = new MemoryWnsSender();
      try {
        const push = new PushService({
          store,
          ...wnsDelivery(wns),
          clock: { now: () => now },
          logger: new RecordingLogger(),
        });
        const outcome = await push.handlePublish({
          node: "node-a",
          secret: "secret-a",
          summary: null,
        });
        assert.deepEqual(outcome, { kind: "pushed" });
        assert.deepEqual(wns.sent.map((s) => [s.channelUri, JSON.parse(s.payload).account_id]), [
          [CHANNEL, "acc-a"],
        ]);
        // The device protocol still finds it by its id, and a new device joins it.
        assert.equal((await store.findDevice(DEVICE, now))?.target?.address, CHANNEL);
        await store.saveTarget("new-device", wnsTarget(CHANNEL), 2, now + 60_000);
      } finally {
        await store.close();
      }
      const raw = new DatabaseSync(path);
      try {
        assert.equal(raw.prepare("PRAGMA user_version").get()?.user_version, SQLITE_SCHEMA_VERSION);
        assert.equal(SQLITE_SCHEMA_VERSION, 3);
        // Every registration, old and new, holds a WNS target of the one app.
        const targets = raw.prepare("SELECT push_service, push_app FROM devices").all()
          .map((row) => `${row.push_service}/${row.push_app}`);
        assert.deepEqual(targets, ["wns/wns", "wns/wns"]);
        assert.equal(raw.prepare("PRAGMA foreign_key_check").all().length, 0);
      } finally {
        raw.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("SQLite: a fresh database is created at the current schema, with target columns", async () => {
  const dir = await Deno.makeTempDir({ prefix: "uwpx-migrations-" });
  try {
    await SqliteStore.open(`${dir}/push.db`, { checkpointIntervalMs: 0 }).close();
    const raw = new DatabaseSync(`${dir}/push.db`);
    try {
      assert.equal(raw.prepare("PRAGMA user_version").get()?.user_version, SQLITE_SCHEMA_VERSION);
      const columns = raw.prepare("PRAGMA table_info(devices)").all().map((c) => String(c.name));
      assert.ok(columns.includes("push_service") && columns.includes("push_app"), columns.join());
    } finally {
      raw.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
