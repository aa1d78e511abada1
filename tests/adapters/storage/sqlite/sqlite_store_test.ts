import { wnsTarget } from "../../../support/wns_delivery.ts";
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { storedDeviceId } from "../../../../adapters/storage/device_key.ts";
import {
  SQLITE_SCHEMA_VERSION,
  SqliteStore,
} from "../../../../adapters/storage/sqlite/sqlite_store.ts";
import { StorageUnavailableError } from "../../../../domain/ports/storage.ts";
import { storeContract } from "../store_contract.ts";

const CHANNEL = "https://db5p.notify.windows.com/?token=AwYAAAB";

/** A temp dir holding `db.sqlite`, removed with everything in it (WAL and SHM files too). */
async function tempDb(): Promise<{ path: string; remove(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "uwpx-sqlite-store-" });
  return {
    path: `${dir}/db.sqlite`,
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}

storeContract("SqliteStore", async () => {
  const db = await tempDb();
  const store = SqliteStore.open(db.path);
  const peers: SqliteStore[] = [];
  return {
    store,
    peer: () => {
      // Another process's store on the same file.
      const peer = SqliteStore.open(db.path);
      peers.push(peer);
      return Promise.resolve(peer);
    },
    cleanup: async () => {
      for (const peer of peers) await peer.close();
      await store.close();
      await db.remove();
    },
  };
}, { storedId: storedDeviceId });

storeContract("SqliteStore(:memory:)", () => {
  const store = SqliteStore.open(":memory:");
  return Promise.resolve({ store, cleanup: () => store.close() });
}, { storedId: storedDeviceId });

Deno.test("SqliteStore: data survives close and reopen", async () => {
  const db = await tempDb();
  try {
    const base = Date.now();
    const accounts = [
      { accountId: "acc-b", node: "node-b", secret: "secret-b" },
      { accountId: "acc-a", node: "node-a", secret: "secret-a" },
    ];
    const token = { accessToken: "tok", tokenType: "bearer", expiresAt: base + 1000 };
    const first = SqliteStore.open(db.path);
    await first.saveTarget("dev", wnsTarget(CHANNEL), 2, base + 60_000);
    await first.replaceAccounts("dev", accounts, base + 60_000);
    await first.forgetChannel("dev", CHANNEL, base + 60_000);
    await first.saveToken("WNS", token);
    await first.close();
    await first.close(); // Harmless.
    await assert.rejects(first.findNode("node-a", base), /closed/);

    const second = SqliteStore.open(db.path);
    try {
      assert.deepEqual(await second.findDevice("dev", base), {
        deviceId: "dev",
        target: null,
        version: 2,
        accounts,
        expiresAt: base + 60_000,
      });
      assert.equal((await second.findNode("node-a", base))?.secret, "secret-a");
      assert.deepEqual(await second.loadToken("WNS"), token);
    } finally {
      await second.close();
    }
  } finally {
    await db.remove();
  }
});

Deno.test("SqliteStore: a target's service and app are stored; WNS's token keeps its row", async () => {
  const db = await tempDb();
  try {
    const store = SqliteStore.open(db.path);
    const base = Date.now();
    await store.saveTarget(
      "dev-f",
      { service: "fcm", app: "im.example", address: "t" },
      2,
      base + 60_000,
    );
    await store.saveTarget("dev-w", wnsTarget(CHANNEL), 2, base + 60_000);
    await store.saveToken("WNS", { accessToken: "tok", tokenType: "bearer", expiresAt: base });
    await store.close();
    const raw = new DatabaseSync(db.path);
    try {
      const rows = raw.prepare(
        "SELECT channel_uri, push_service, push_app FROM devices ORDER BY push_service",
      ).all();
      assert.deepEqual(rows.map((r) => [r.channel_uri, r.push_service, r.push_app]), [
        ["t", "fcm", "im.example"],
        [CHANNEL, "wns", "wns"],
      ]);
      // The row databases written before the token cache was keyed already have.
      assert.deepEqual(raw.prepare("SELECT key FROM kv").all().map((r) => r.key), ["wns_token"]);
    } finally {
      raw.close();
    }
  } finally {
    await db.remove();
  }
});

Deno.test("SqliteStore: creates the schema on a fresh file", async () => {
  const db = await tempDb();
  try {
    const store = SqliteStore.open(db.path);
    await store.close();
    const raw = new DatabaseSync(db.path);
    try {
      const version = raw.prepare("PRAGMA user_version").get();
      assert.equal(version?.user_version, SQLITE_SCHEMA_VERSION);
      const mode = raw.prepare("PRAGMA journal_mode").get();
      assert.equal(mode?.journal_mode, "wal");
      const names = raw
        .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name")
        .all()
        .map((row) => row.name);
      for (const name of ["accounts", "devices", "devices_expires_at", "kv"]) {
        assert.ok(names.includes(name), `${name} in ${names.join(", ")}`);
      }
      const fks = raw.prepare("PRAGMA foreign_key_list(accounts)").all();
      assert.equal(fks.length, 1);
      assert.equal(fks[0].table, "devices");
      assert.equal(fks[0].on_delete, "CASCADE");
    } finally {
      raw.close();
    }
    // Opening again finds the schema in place and changes nothing.
    const again = SqliteStore.open(db.path);
    assert.equal(await again.findDevice("dev", 0), null);
    await again.close();
  } finally {
    await db.remove();
  }
});

Deno.test("SqliteStore: refuses a schema newer than it knows", async () => {
  const db = await tempDb();
  try {
    const raw = new DatabaseSync(db.path);
    raw.exec(`PRAGMA user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(() => SqliteStore.open(db.path), /newer/);
  } finally {
    await db.remove();
  }
});

Deno.test("SqliteStore: a held write lock is a StorageUnavailableError", async () => {
  const db = await tempDb();
  const store = SqliteStore.open(db.path, { busyTimeoutMs: 50 });
  const other = new DatabaseSync(db.path);
  try {
    const base = Date.now();
    await store.saveTarget("dev", wnsTarget(CHANNEL), 2, base + 60_000);
    other.exec("BEGIN IMMEDIATE");
    await assert.rejects(
      store.saveTarget("dev", wnsTarget(`${CHANNEL}-new`), 2, base + 60_000),
      (error) => error instanceof StorageUnavailableError && /locked/.test(error.message),
    );
    // WAL: readers are not blocked by the writer.
    assert.equal((await store.findDevice("dev", base))?.target?.address, CHANNEL);
    other.exec("ROLLBACK");
    await store.saveTarget("dev", wnsTarget(`${CHANNEL}-new`), 2, base + 60_000);
    assert.equal((await store.findDevice("dev", base))?.target?.address, `${CHANNEL}-new`);
  } finally {
    other.close();
    await store.close();
    await db.remove();
  }
});

Deno.test("SqliteStore: refused account lists are plain errors and change nothing", async () => {
  const store = SqliteStore.open(":memory:");
  try {
    const base = Date.now();
    await store.saveTarget("one", wnsTarget(CHANNEL), 2, base + 60_000);
    await store.saveTarget("two", wnsTarget(CHANNEL), 2, base + 60_000);
    await store.replaceAccounts("one", [{ accountId: "a", node: "n", secret: "s" }], base + 60_000);
    const refused = [
      [{ accountId: "b", node: "n", secret: "t" }],
      [{ accountId: "b", node: "m", secret: "t" }, { accountId: "c", node: "m", secret: "t" }],
      [{ accountId: "b", node: "m", secret: "t" }, { accountId: "b", node: "k", secret: "t" }],
    ];
    for (const accounts of refused) {
      await assert.rejects(
        store.replaceAccounts("two", accounts, base + 60_000),
        (error) => error instanceof Error && !(error instanceof StorageUnavailableError),
      );
    }
    assert.equal((await store.findNode("n", base))?.deviceId, storedDeviceId("one"));
    assert.deepEqual((await store.findDevice("two", base))?.accounts, []);
    // The refused transaction was rolled back, so the next write can begin its own.
    const fine = [{ accountId: "b", node: "m", secret: "t" }];
    await store.replaceAccounts("two", fine, base + 60_000);
    assert.deepEqual((await store.findDevice("two", base))?.accounts, fine);
  } finally {
    await store.close();
  }
});

Deno.test("SqliteStore: an unopenable path is a StorageUnavailableError", async () => {
  const db = await tempDb();
  try {
    assert.throws(
      () => SqliteStore.open(`${db.path}/missing-dir/db.sqlite`),
      StorageUnavailableError,
    );
  } finally {
    await db.remove();
  }
});

/** Writes `count` devices with three accounts each; each is two write transactions. */
async function register(store: SqliteStore, count: number, expiresAt: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await store.saveTarget(`dev-${i}`, wnsTarget(CHANNEL), 2, expiresAt);
    await store.replaceAccounts(
      `dev-${i}`,
      [0, 1, 2].map((k) => ({ accountId: `a${k}`, node: `n-${i}-${k}`, secret: `s-${i}-${k}` })),
      expiresAt,
    );
  }
}

/** Polls until `check` holds, for up to `ms`. */
async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

Deno.test("SqliteStore: the checkpoint thread moves commits from the WAL into the file", async () => {
  const db = await tempDb();
  const store = SqliteStore.open(db.path, { checkpointIntervalMs: 50 });
  try {
    const fileSize = () => Deno.statSync(db.path).size;
    const before = fileSize();
    // Far fewer pages than SQLite's own 1,000-page auto-checkpoint: only the thread copies.
    await register(store, 50, Date.now() + 60_000);
    assert.ok(
      await eventually(() => fileSize() > before, 3000),
      `the database file stayed at ${before} bytes`,
    );
    assert.equal((await store.findNode("n-49-2", Date.now()))?.secret, "s-49-2");
  } finally {
    await store.close();
    await db.remove();
  }
});

Deno.test("SqliteStore: without the checkpoint thread small commits stay in the WAL", async () => {
  const db = await tempDb();
  const store = SqliteStore.open(db.path, { checkpointIntervalMs: 0 });
  try {
    const before = Deno.statSync(db.path).size;
    await register(store, 50, Date.now() + 60_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(Deno.statSync(db.path).size, before);
    assert.ok(Deno.statSync(`${db.path}-wal`).size > 0);
  } finally {
    await store.close();
    await db.remove();
  }
});

Deno.test("SqliteStore: writes sharing a commit fail alone and succeed together", async () => {
  const db = await tempDb();
  const store = SqliteStore.open(db.path);
  const reader = new DatabaseSync(db.path);
  try {
    const expiresAt = Date.now() + 60_000;
    await store.saveTarget("known", wnsTarget(CHANNEL), 2, expiresAt);
    const account = (node: string) => [{ accountId: "a", node, secret: "s" }];
    // Issued in one turn, so they share one transaction.
    const results = await Promise.allSettled([
      store.saveTarget("dev-1", wnsTarget(CHANNEL), 2, expiresAt),
      store.replaceAccounts("nobody", account("n-0"), expiresAt),
      store.replaceAccounts("known", account("n-known"), expiresAt),
      // Takes n-known from another device: refused, and only this write is undone.
      store.saveTarget("dev-2", wnsTarget(CHANNEL), 2, expiresAt)
        .then(() => store.replaceAccounts("dev-2", account("n-known"), expiresAt)),
      store.saveTarget("dev-3", wnsTarget(CHANNEL), 2, expiresAt),
    ]);
    assert.deepEqual(results.map((r) => r.status), [
      "fulfilled",
      "rejected",
      "fulfilled",
      "rejected",
      "fulfilled",
    ]);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /not registered/);
    assert.match(String((results[3] as PromiseRejectedResult).reason), /another device/);
    // Committed: another connection sees every write that was answered with success.
    const devices = reader.prepare("SELECT device_id FROM devices ORDER BY device_id").all()
      .map((row) => row.device_id);
    const keys = ["dev-1", "dev-2", "dev-3", "known"].map(storedDeviceId).sort();
    assert.deepEqual(devices, keys);
    const owners = reader.prepare("SELECT node, device_id FROM accounts").all()
      .map((row) => `${row.node}:${row.device_id}`);
    assert.deepEqual(owners, [`n-known:${storedDeviceId("known")}`]);
  } finally {
    reader.close();
    await store.close();
    await db.remove();
  }
});

Deno.test("SqliteStore: when the shared transaction cannot start, every write in it fails", async () => {
  const db = await tempDb();
  const store = SqliteStore.open(db.path, { busyTimeoutMs: 50 });
  const other = new DatabaseSync(db.path);
  try {
    const expiresAt = Date.now() + 60_000;
    other.exec("BEGIN IMMEDIATE");
    const results = await Promise.allSettled(
      ["a", "b", "c"].map((id) => store.saveTarget(id, wnsTarget(CHANNEL), 2, expiresAt)),
    );
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.ok((result as PromiseRejectedResult).reason instanceof StorageUnavailableError);
    }
    other.exec("ROLLBACK");
    assert.equal((await store.count(Date.now())).devices, 0);
  } finally {
    other.close();
    await store.close();
    await db.remove();
  }
});

Deno.test("SqliteStore: close commits writes still waiting for their turn", async () => {
  const db = await tempDb();
  try {
    const store = SqliteStore.open(db.path);
    const write = store.saveTarget("dev", wnsTarget(CHANNEL), 2, Date.now() + 60_000);
    await store.close();
    await write;
    const again = SqliteStore.open(db.path);
    try {
      assert.equal((await again.findDevice("dev", Date.now()))?.target?.address, CHANNEL);
    } finally {
      await again.close();
    }
  } finally {
    await db.remove();
  }
});

Deno.test("SqliteStore: lookups sharing a read transaction each get their own answer", async () => {
  const db = await tempDb();
  const store = SqliteStore.open(db.path);
  const writer = new DatabaseSync(db.path);
  try {
    const now = Date.now();
    await register(store, 20, now + 60_000);
    // Another connection holds the write lock meanwhile: WAL readers are not blocked.
    writer.exec("BEGIN IMMEDIATE");
    const nodes = Array.from({ length: 40 }, (_, i) => i % 2 === 0 ? `n-${i / 2}-1` : `nope-${i}`);
    const answers = await Promise.all(nodes.map((node) => store.findNode(node, now)));
    answers.forEach((answer, i) => {
      if (i % 2 === 1) assert.equal(answer, null, nodes[i]);
      else {assert.deepEqual([answer?.deviceId, answer?.secret], [
          storedDeviceId(`dev-${i / 2}`),
          `s-${i / 2}-1`,
        ]);}
    });
    writer.exec("ROLLBACK");
    // A lookup right after a write sees it.
    await store.replaceAccounts(
      "dev-0",
      [{ accountId: "a9", node: "n-new", secret: "s" }],
      now + 60_000,
    );
    const [gone, fresh] = await Promise.all([
      store.findNode("n-0-1", now),
      store.findNode("n-new", now),
    ]);
    assert.equal(gone, null);
    assert.equal(fresh?.deviceId, storedDeviceId("dev-0"));
  } finally {
    writer.close();
    await store.close();
    await db.remove();
  }
});

Deno.test("SqliteStore: a database file is counted on the checkpoint thread, the server's thread free meanwhile", async () => {
  const db = await tempDb();
  // The schema, then 200,000 devices with an account each, written straight into the file.
  await SqliteStore.open(db.path).close();
  const raw = new DatabaseSync(db.path);
  const devices = 200_000;
  const expiresAt = Date.now() + 3_600_000;
  raw.exec("BEGIN");
  const device = raw.prepare(
    "INSERT INTO devices (device_id, channel_uri, version, expires_at) VALUES (?, ?, 2, ?)",
  );
  const account = raw.prepare(
    "INSERT INTO accounts (node, device_id, account_id, secret, position) VALUES (?, ?, ?, ?, 0)",
  );
  for (let i = 0; i < devices; i++) {
    device.run(`device-${i}`, `${CHANNEL}${i}`, expiresAt);
    account.run(`node-${i}`, `device-${i}`, `account-${i}`, `secret-${i}`);
  }
  raw.exec("COMMIT");
  raw.close();
  const store = SqliteStore.open(db.path);
  try {
    // Inline, the scan would hold this thread until it ends; here it only posts a message.
    const started = performance.now();
    const counting = store.count(Date.now());
    const held = performance.now() - started;
    // Meanwhile the server's thread answers reads and runs its timers.
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    await store.findDevice(storedDeviceId("device-7"), Date.now());
    const count = await counting;
    const took = performance.now() - started;
    clearInterval(ticker);
    console.log(
      `count: thread held ${held.toFixed(1)} ms of ${took.toFixed(1)} ms, ${ticks} ticks`,
    );
    assert.ok(held < took / 4, `held ${held} ms of ${took} ms`);
    assert.ok(ticks >= 3, `${ticks} timer ticks during the count`);
    assert.deepEqual(count, {
      devices,
      accounts: devices,
      byApp: [{ service: "wns", app: "wns", devices, accounts: devices }],
    });
  } finally {
    await store.close();
    await db.remove();
  }
});
