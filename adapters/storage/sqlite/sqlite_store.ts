/**
 * A {@link RegistrationStore} on SQLite (Deno's built-in `node:sqlite`): registrations
 * survive restarts, and several processes on one host can share the file (WAL mode).
 *
 * Schema (version 3, kept in `PRAGMA user_version`; the steps are in
 * `sqlite_migrations.ts`):
 * - `devices(device_id PK, channel_uri NULL, version, expires_at, push_service, push_app)`:
 *   `device_id` is the stored key of `device_key.ts` (`h:` and the SHA-256 of the id), never
 *   the id itself; version 1 held the ids, and the step to version 2 replaces them by their
 *   keys. `channel_uri` is the push target's address; `push_service` and `push_app` (from
 *   version 3, `wns` by default) name its service and app.
 * - `accounts(node PK, device_id FK -> devices ON DELETE CASCADE, account_id, secret,
 *   position, UNIQUE(device_id, account_id))`: accounts have no expiry of their own; they
 *   live as long as their device.
 * - `kv(key PK, value)`: the cached access tokens, as JSON, under `<key>_token` (lower
 *   case: WNS's is `wns_token`, as before the key was the port's); the secrets of
 *   `keepFirstSecret` under `secret:<key>` (no migration: the table is version 1's).
 *
 * @module
 */

import { DatabaseSync, type SQLOutputValue, type StatementSync } from "node:sqlite";
import { sortByApp } from "../app_tally.ts";
import type { PushTarget } from "../../../domain/push_target.ts";
import { type Clock } from "../../../domain/ports/clock.ts";
import {
  type AccessToken,
  type CreatedDevice,
  type RegistrationCount,
  type RegistrationStore,
  StorageUnavailableError,
} from "../../../domain/ports/storage.ts";
import { SqliteCheckpointer } from "./sqlite_checkpointer.ts";
import { countByApp } from "./sqlite_count.ts";
import { migrate } from "./sqlite_migrations.ts";
import { storedDeviceId } from "../device_key.ts";
import { prepareDatabaseFile, restrictDatabaseFiles } from "./sqlite_file_mode.ts";
import { commitTogether } from "./sqlite_group_commit.ts";
import { readTogether } from "./sqlite_read_batch.ts";
import { type BatchedWork, TurnBatch } from "./turn_batch.ts";
import {
  type AccountRegistration,
  checkAccountList,
  type DeviceRegistration,
  type NodeTarget,
} from "../../../domain/registration.ts";

export { SQLITE_SCHEMA_VERSION } from "./sqlite_migrations.ts";

/** Options of {@link SqliteStore.open}. */
export interface SqliteStoreOptions {
  /** How long a write waits for another connection's lock before failing. Default 5000. */
  readonly busyTimeoutMs?: number;
  /**
   * Only used by the writes that get no `now` from the port (`saveTarget`,
   * `replaceAccounts` and `renew`) to tell a live device from an expired one not yet purged.
   * Default: the system clock.
   */
  readonly clock?: Clock;
  /**
   * How often a thread of its own checkpoints the WAL into the database file (see
   * `sqlite_checkpointer.ts`). Default 1000; 0 leaves checkpoints to SQLite, inside commits
   * on the server's thread.
   */
  readonly checkpointIntervalMs?: number;
}

/** The `kv` key of a secret kept under `key` (token rows start with a service name instead). */
const secretKvKey = (key: string) => `secret:${key}`;

/** The `kv` key of the token cached under `key`. */
const tokenKvKey = (key: string) => `${key.toLowerCase()}_token`;
const DEFAULT_BUSY_TIMEOUT_MS = 5000;
const DEFAULT_CHECKPOINT_INTERVAL_MS = 1000;
/**
 * With the checkpoint thread, the server's connection still checkpoints once the WAL holds
 * this many pages (about 40 MB): a safety net should that thread fall behind.
 */
const SAFETY_NET_CHECKPOINT_PAGES = 10_000;
/** The page cache of the server's connection: bounded, so memory stays flat. */
const PAGE_CACHE_KIB = 64 * 1024;
/** A WAL file larger than this is cut back to it once checkpointed. */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
const systemClock: Clock = { now: () => Date.now() };

/**
 * Registrations in one SQLite file. All statements are prepared once at open; each method
 * is one statement or one `BEGIN IMMEDIATE` transaction, so it is atomic across processes.
 * Backend failures (locked, I/O, full, corrupt...) reject with
 * {@link StorageUnavailableError}; anything else (a bug, a refused account list) rejects
 * with the original error.
 */
export class SqliteStore implements RegistrationStore {
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  readonly #sql: ReturnType<typeof prepareAll>;
  readonly #checkpointer: SqliteCheckpointer | null;
  /** Write transactions of one turn, committed together (`sqlite_group_commit.ts`). */
  readonly #writes: TurnBatch;
  /** Lookups of one turn, in one read transaction (`sqlite_read_batch.ts`). */
  readonly #reads: TurnBatch;

  private constructor(db: DatabaseSync, clock: Clock, checkpointer: SqliteCheckpointer | null) {
    this.#db = db;
    const mapError = (what: string, error: unknown) =>
      asStorageError(`SQLite ${what} failed`, error);
    this.#writes = new TurnBatch(whileOpen(db, (batch) => commitTogether(db, mapError, batch)));
    this.#reads = new TurnBatch(whileOpen(db, (batch) => readTogether(db, mapError, batch)));
    this.#clock = clock;
    this.#sql = prepareAll(db);
    this.#checkpointer = checkpointer;
  }

  /**
   * Opens (creating if needed) the database at `path`, or a private in-memory one for
   * ":memory:". Creates or upgrades the schema; refuses a file from a newer version.
   */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    let db: DatabaseSync;
    // Owner-only before SQLite creates anything: the file holds secrets and the WNS token.
    prepareDatabaseFile(path);
    try {
      db = new DatabaseSync(path);
    } catch (error) {
      throw asStorageError(`cannot open SQLite database ${path}`, error);
    }
    try {
      const busyTimeout = Math.max(0, Math.trunc(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS));
      // busy_timeout first: switching to WAL may itself have to wait for a lock.
      db.exec(`PRAGMA busy_timeout = ${busyTimeout}`);
      db.exec("PRAGMA foreign_keys = ON");
      // WAL lets readers (findNode, per push) run while another process writes. An
      // in-memory database answers "memory" and that is fine.
      const mode = db.prepare("PRAGMA journal_mode = WAL").get()?.journal_mode;
      // In WAL mode NORMAL is still crash-safe; it only may lose the last commits on power loss.
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
      // SQLite's default cache is 2 MB: with a million registrations most lookups then read
      // index pages from the OS (measured: 15% fewer pushes/s at 1M devices than at 10k;
      // with 64 MiB, no difference).
      db.exec(`PRAGMA cache_size = -${PAGE_CACHE_KIB}`);
      migrate(db);
      // The -wal and -shm files exist now; an older deployment's may be 0644.
      restrictDatabaseFiles(path);
      const interval = options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
      let checkpointer: SqliteCheckpointer | null = null;
      if (mode === "wal" && interval > 0) {
        db.exec(`PRAGMA wal_autocheckpoint = ${SAFETY_NET_CHECKPOINT_PAGES}`);
        checkpointer = SqliteCheckpointer.start(path, interval);
      }
      return new SqliteStore(db, options.clock ?? systemClock, checkpointer);
    } catch (error) {
      db.close();
      throw asStorageError(`cannot set up SQLite database ${path}`, error);
    }
  }

  /** Creates the device or updates its target and version, keeping its accounts. */
  saveTarget(
    deviceId: string,
    target: PushTarget,
    version: number,
    expiresAt: number,
  ): Promise<void> {
    const key = storedDeviceId(deviceId);
    const { service, app, address } = target;
    return this.#write("saveTarget", () => {
      const current = this.#sql.deviceExpiry.get(key);
      if (current && num(current.expires_at) <= this.#clock.now()) {
        // An expired device's accounts died with it: start afresh, as a TTL-based store would.
        this.#sql.deleteAccounts.run(key);
      }
      this.#sql.upsertDevice.run(key, address, version, expiresAt, service, app);
    });
  }

  /**
   * Creates the device with one account unless a live one has that account already: one
   * `BEGIN IMMEDIATE` transaction, so of processes sharing the file exactly one creates.
   */
  createIfAbsent(
    deviceId: string,
    target: PushTarget,
    version: number,
    account: AccountRegistration,
    expiresAt: number,
    now: number,
  ): Promise<CreatedDevice> {
    try {
      checkAccountList([account]);
    } catch (error) {
      return Promise.reject(error);
    }
    const key = storedDeviceId(deviceId);
    const { service, app, address } = target;
    return this.#write("createIfAbsent", () => {
      // Read inside the write transaction: no other writer can come between.
      const found = deviceOf(deviceId, this.#sql.deviceWithAccounts.all(key, now));
      if (found?.accounts.some((a) => a.accountId === account.accountId)) {
        return { created: false, device: found };
      }
      const owner = this.#sql.nodeOwner.get(account.node);
      if (owner && owner.device_id !== key) {
        throw new Error("createIfAbsent: the node already belongs to another device");
      }
      // Expired, or live without this account (half-written): replaced with its accounts.
      this.#sql.deleteAccounts.run(key);
      this.#sql.upsertDevice.run(key, address, version, expiresAt, service, app);
      this.#sql.insertAccount.run(account.node, key, account.accountId, account.secret, 0);
      const device: DeviceRegistration = {
        deviceId,
        target: { service, app, address },
        version,
        accounts: [{ accountId: account.accountId, node: account.node, secret: account.secret }],
        expiresAt,
      };
      return { created: true, device };
    });
  }

  /** The device's live registration, or null. */
  findDevice(deviceId: string, now: number): Promise<DeviceRegistration | null> {
    return this.#run("findDevice", () => {
      // One statement, so the device and its accounts come from one snapshot.
      return deviceOf(deviceId, this.#sql.deviceWithAccounts.all(storedDeviceId(deviceId), now));
    });
  }

  /** Replaces the device's accounts; throws if it is unknown or expired. */
  replaceAccounts(
    deviceId: string,
    accounts: readonly AccountRegistration[],
    expiresAt: number,
  ): Promise<void> {
    try {
      checkAccountList(accounts);
    } catch (error) {
      return Promise.reject(error);
    }
    const key = storedDeviceId(deviceId);
    return this.#write("replaceAccounts", () => {
      const current = this.#sql.deviceExpiry.get(key);
      if (!current || num(current.expires_at) <= this.#clock.now()) {
        throw new Error("replaceAccounts: the device is not registered or has expired");
      }
      for (const { node } of accounts) {
        const owner = this.#sql.nodeOwner.get(node);
        if (owner && owner.device_id !== key) {
          throw new Error("replaceAccounts: a node already belongs to another device");
        }
      }
      this.#sql.deleteAccounts.run(key);
      accounts.forEach((account, position) => {
        this.#sql.insertAccount.run(
          account.node,
          key,
          account.accountId,
          account.secret,
          position,
        );
      });
      this.#sql.touchDevice.run(expiresAt, key);
    });
  }

  /** The live registration behind a node, or null. */
  findNode(node: string, now: number): Promise<NodeTarget | null> {
    // The hot path: lookups of one turn share a read transaction (`sqlite_read_batch.ts`).
    if (!this.#db.isOpen) return Promise.reject(new Error("SqliteStore is closed"));
    return this.#reads.add("findNode", () => {
      const row = this.#sql.findNode.get(node, now);
      if (!row) return null;
      return {
        node,
        accountId: str(row.account_id),
        deviceId: str(row.device_id),
        secret: str(row.secret),
        target: targetOf(row),
        expiresAt: num(row.expires_at),
      };
    });
  }

  /** Nulls the device's target if its address is still `address`, shortening its life. */
  forgetChannel(deviceId: string, address: string, expiresAt: number): Promise<void> {
    return this.#run("forgetChannel", () => {
      // Conditional on the old value: the device may have registered a new address meanwhile.
      this.#sql.forgetChannel.run(expiresAt, storedDeviceId(deviceId), address);
    });
  }

  /** Extends a live device still at `address` to `expiresAt`, if that is later. */
  renew(deviceId: string, address: string, expiresAt: number): Promise<void> {
    return this.#write("renew", () => {
      const key = storedDeviceId(deviceId);
      this.#sql.renew.run(expiresAt, key, address, this.#clock.now(), expiresAt);
    });
  }

  /** Deletes the device (its accounts cascade); true if it was live. */
  deleteDevice(deviceId: string, now: number): Promise<boolean> {
    return this.#run("deleteDevice", () => {
      const row = this.#sql.deleteDevice.get(storedDeviceId(deviceId));
      return row !== undefined && num(row.expires_at) > now;
    });
  }

  /** Deletes expired devices (their accounts cascade); returns how many devices went. */
  purgeExpired(now: number): Promise<number> {
    return this.#run("purgeExpired", () => Number(this.#sql.purge.run(now).changes));
  }

  /** The token cached under `key`, or null (also when the stored value is unreadable). */
  loadToken(key: string): Promise<AccessToken | null> {
    return this.#run("loadToken", () => {
      const row = this.#sql.kvGet.get(tokenKvKey(key));
      return row ? parseAccessToken(str(row.value)) : null;
    });
  }

  /** Caches a token under `key`, replacing the previous one. */
  saveToken(key: string, token: AccessToken): Promise<void> {
    return this.#run("saveToken", () => {
      const value = JSON.stringify({
        accessToken: token.accessToken,
        tokenType: token.tokenType,
        expiresAt: token.expiresAt,
      });
      this.#sql.kvPut.run(tokenKvKey(key), value);
    });
  }

  /**
   * Keeps `value` under `key` unless one is kept already (also by another process sharing
   * the file); answers the kept one. The insert is atomic and a kept value never changes,
   * so the read after it answers the winner.
   */
  keepFirstSecret(key: string, value: string): Promise<string> {
    return this.#run("keepFirstSecret", () => {
      this.#sql.kvKeepFirst.run(secretKvKey(key), value);
      const row = this.#sql.kvGet.get(secretKvKey(key));
      if (!row) throw new Error("keepFirstSecret: the kept value vanished");
      return str(row.value);
    });
  }

  /** Runs a trivial query: rejects when the database is closed or unusable. */
  ping(): Promise<void> {
    return this.#run("ping", () => {
      this.#sql.ping.get();
    });
  }

  /**
   * Live devices and their accounts at `now`, by app and in all, from one snapshot (one
   * query: the totals are the sums of its groups).
   */
  async count(now: number): Promise<RegistrationCount> {
    // A database file counts on the checkpoint thread: a full scan there, not here.
    const byApp = this.#checkpointer
      ? await this.#checkpointer.count(now).catch((error) => {
        throw asStorageError("SQLite count failed", error);
      })
      : await this.#run("count", () => countByApp(this.#db, now));
    let devices = 0;
    let accounts = 0;
    for (const app of byApp) {
      devices += app.devices;
      accounts += app.accounts;
    }
    return { devices, accounts, byApp: sortByApp(byApp) };
  }

  /** Closes the database; later calls reject. Closing twice is harmless. */
  async close(): Promise<void> {
    // The checkpoint thread's connection first: the last connection to close checkpoints
    // the whole WAL and removes it.
    if (this.#db.isOpen) {
      this.#reads.flush();
      this.#writes.flush();
    }
    await this.#checkpointer?.stop();
    if (this.#db.isOpen) this.#db.close();
  }

  /** Runs `body` synchronously and turns throws into rejections, backend ones wrapped. */
  #run<T>(what: string, body: () => T): Promise<T> {
    return new Promise((resolve) => {
      if (!this.#db.isOpen) throw new Error("SqliteStore is closed");
      try {
        resolve(body());
      } catch (error) {
        throw asStorageError(`SQLite ${what} failed`, error);
      }
    });
  }

  /**
   * Runs `body` as a write transaction shared with the other writes of this turn (see
   * `sqlite_group_commit.ts`). `BEGIN IMMEDIATE` takes the write lock up front, so a
   * read-then-write cannot deadlock.
   */
  #write<T>(what: string, body: () => T): Promise<T> {
    if (!this.#db.isOpen) return Promise.reject(new Error("SqliteStore is closed"));
    return this.#writes.add(what, body);
  }
}

/** A batch runner that rejects the whole batch once the database is closed. */
function whileOpen(
  db: DatabaseSync,
  run: (batch: BatchedWork[]) => void,
): (batch: BatchedWork[]) => void {
  return (batch) => {
    if (db.isOpen) return run(batch);
    for (const pending of batch) pending.reject(new Error("SqliteStore is closed"));
  };
}

function prepareAll(db: DatabaseSync) {
  const prepare = (sql: string): StatementSync => db.prepare(sql);
  return {
    deviceExpiry: prepare("SELECT expires_at FROM devices WHERE device_id = ?"),
    upsertDevice: prepare(
      `INSERT INTO devices (device_id, channel_uri, version, expires_at, push_service, push_app)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (device_id) DO UPDATE SET
         channel_uri = excluded.channel_uri,
         push_service = excluded.push_service,
         push_app = excluded.push_app,
         version = excluded.version,
         expires_at = excluded.expires_at`,
    ),
    deviceWithAccounts: prepare(
      `SELECT d.channel_uri, d.push_service, d.push_app, d.version, d.expires_at,
              a.account_id, a.node, a.secret
       FROM devices d LEFT JOIN accounts a ON a.device_id = d.device_id
       WHERE d.device_id = ? AND d.expires_at > ?
       ORDER BY a.position`,
    ),
    nodeOwner: prepare("SELECT device_id FROM accounts WHERE node = ?"),
    deleteAccounts: prepare("DELETE FROM accounts WHERE device_id = ?"),
    insertAccount: prepare(
      `INSERT INTO accounts (node, device_id, account_id, secret, position)
       VALUES (?, ?, ?, ?, ?)`,
    ),
    touchDevice: prepare("UPDATE devices SET expires_at = ? WHERE device_id = ?"),
    findNode: prepare(
      `SELECT a.account_id, a.device_id, a.secret, d.channel_uri, d.push_service, d.push_app,
              d.expires_at
       FROM accounts a JOIN devices d ON d.device_id = a.device_id
       WHERE a.node = ? AND d.expires_at > ?`,
    ),
    forgetChannel: prepare(
      `UPDATE devices SET channel_uri = NULL, expires_at = min(expires_at, ?)
       WHERE device_id = ? AND channel_uri = ?`,
    ),
    renew: prepare(
      `UPDATE devices SET expires_at = ?
       WHERE device_id = ? AND channel_uri = ? AND expires_at > ? AND expires_at < ?`,
    ),
    purge: prepare("DELETE FROM devices WHERE expires_at <= ?"),
    deleteDevice: prepare("DELETE FROM devices WHERE device_id = ? RETURNING expires_at"),
    // Reads a page of the schema, so a lost or corrupt file fails here, not at the next push.
    ping: prepare("SELECT count(*) AS tables FROM sqlite_schema"),
    kvGet: prepare("SELECT value FROM kv WHERE key = ?"),
    // One statement: the first writer's value stays, whichever process it was.
    kvKeepFirst: prepare(
      "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
    ),
    kvPut: prepare(
      "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ),
  };
}

/** Primary SQLite result codes that mean "the backend failed", not "the caller erred". */
const BACKEND_RESULT_CODES = new Set([
  3, // SQLITE_PERM
  5, // SQLITE_BUSY
  6, // SQLITE_LOCKED
  7, // SQLITE_NOMEM
  8, // SQLITE_READONLY
  9, // SQLITE_INTERRUPT
  10, // SQLITE_IOERR
  11, // SQLITE_CORRUPT
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
  15, // SQLITE_PROTOCOL
  26, // SQLITE_NOTADB
]);

/**
 * The same, by SQLite's own messages: Deno's `node:sqlite` errors carry only
 * `code: "ERR_SQLITE_ERROR"` and the message, not Node's numeric `errcode`.
 */
const BACKEND_MESSAGE =
  /database is locked|database (table|schema) is locked|out of memory|readonly database|interrupted|disk I\/O error|malformed|database or disk is full|unable to open database|locking protocol|not a database|access permission denied/i;

function isBackendError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, errcode } = error as { code?: unknown; errcode?: unknown };
  if (typeof errcode === "number") return BACKEND_RESULT_CODES.has(errcode & 0xff);
  return code === "ERR_SQLITE_ERROR" && BACKEND_MESSAGE.test(error.message);
}

function asStorageError(context: string, error: unknown): unknown {
  if (error instanceof StorageUnavailableError || !isBackendError(error)) return error;
  return new StorageUnavailableError(`${context}: ${(error as Error).message}`, { cause: error });
}

function parseAccessToken(value: string): AccessToken | null {
  // A garbled cache entry is no reason to fail: the caller fetches a fresh token instead.
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== "object" || parsed === null) return null;
    const { accessToken, tokenType, expiresAt } = parsed as Record<string, unknown>;
    if (
      typeof accessToken !== "string" || typeof tokenType !== "string" ||
      typeof expiresAt !== "number"
    ) {
      return null;
    }
    return { accessToken, tokenType, expiresAt };
  } catch {
    return null;
  }
}

function str(value: SQLOutputValue | undefined): string {
  if (typeof value !== "string") throw new Error(`expected a TEXT column, got ${typeof value}`);
  return value;
}

function strOrNull(value: SQLOutputValue | undefined): string | null {
  return value === null ? null : str(value);
}

/** A device from the rows of `deviceWithAccounts`, or null without any. */
function deviceOf(
  deviceId: string,
  rows: Record<string, SQLOutputValue>[],
): DeviceRegistration | null {
  if (rows.length === 0) return null;
  const first = rows[0];
  const accounts: AccountRegistration[] = [];
  for (const row of rows) {
    // LEFT JOIN: a device without accounts comes back as one row of NULL account columns.
    if (row.node === null) continue;
    accounts.push({
      accountId: str(row.account_id),
      node: str(row.node),
      secret: str(row.secret),
    });
  }
  return {
    deviceId,
    target: targetOf(first),
    version: num(first.version),
    accounts,
    expiresAt: num(first.expires_at),
  };
}

/** A row's push target: its address with its own service and app; null once it was gone. */
function targetOf(row: Record<string, SQLOutputValue>): PushTarget | null {
  const address = strOrNull(row.channel_uri);
  if (address === null) return null;
  return { service: str(row.push_service), app: str(row.push_app), address };
}

function num(value: SQLOutputValue | undefined): number {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  throw new Error(`expected a numeric column, got ${typeof value}`);
}
