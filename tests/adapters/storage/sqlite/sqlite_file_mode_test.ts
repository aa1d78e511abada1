import { wnsTarget } from "../../../support/wns_delivery.ts";
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { prepareDatabaseFile } from "../../../../adapters/storage/sqlite/sqlite_file_mode.ts";
import { SqliteStore } from "../../../../adapters/storage/sqlite/sqlite_store.ts";

const CHANNEL = "https://db5p.notify.windows.com/?token=AwYAAAB";

/** `fn` with the process umask set to `mask`, restored after. */
async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const previous = Deno.umask(mask);
  try {
    return await fn();
  } finally {
    Deno.umask(previous);
  }
}

function modeOf(path: string): number {
  return Deno.statSync(path).mode! & 0o777;
}

Deno.test("SqliteStore: database, WAL and SHM files are created 0600 under a wide umask", async () => {
  const dir = await Deno.makeTempDir({ prefix: "uwpx-sqlite-mode-" });
  const path = `${dir}/push.db`;
  try {
    await withUmask(0o000, async () => {
      const store = SqliteStore.open(path, { checkpointIntervalMs: 0 });
      await store.saveTarget("dev", wnsTarget(CHANNEL), 2, Date.now() + 60_000);
      await store.saveToken("WNS", { accessToken: "t", tokenType: "bearer", expiresAt: 1 });
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        assert.equal(modeOf(file).toString(8), "600", file);
      }
      await store.close();
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteStore: an existing 0644 database is made 0600 when opened", async () => {
  const dir = await Deno.makeTempDir({ prefix: "uwpx-sqlite-mode-" });
  const path = `${dir}/push.db`;
  try {
    await withUmask(0o022, () => {
      const old = new DatabaseSync(path);
      old.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1)");
      assert.equal(modeOf(path).toString(8), "644");
      assert.equal(modeOf(`${path}-wal`).toString(8), "644");
      old.close();
      return Promise.resolve();
    });
    const store = SqliteStore.open(path, { checkpointIntervalMs: 0 });
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, Date.now() + 60_000);
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      assert.equal(modeOf(file).toString(8), "600", file);
    }
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prepareDatabaseFile: the file exists 0600 before SQLite opens it, so its -wal and -shm are born 0600", async () => {
  const dir = await Deno.makeTempDir({ prefix: "uwpx-sqlite-mode-" });
  const path = `${dir}/push.db`;
  try {
    await withUmask(0o000, () => {
      prepareDatabaseFile(path);
      assert.equal(modeOf(path).toString(8), "600");
      assert.equal(Deno.statSync(path).size, 0, "an empty file: SQLite writes the schema");
      // SQLite gives its companions the database's mode as it creates them: no window at 0666.
      const db = new DatabaseSync(path);
      db.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1)");
      for (const file of [`${path}-wal`, `${path}-shm`]) {
        assert.equal(modeOf(file).toString(8), "600", file);
      }
      db.close();
      // Nothing to create for SQLite's in-memory database.
      prepareDatabaseFile(":memory:");
      assert.throws(() => Deno.statSync(":memory:"));
      return Promise.resolve();
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
