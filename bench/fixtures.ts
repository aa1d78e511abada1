/**
 * What the push scenarios share: made-up registrations loaded in bulk, the storage under
 * test (a SQLite file or a throwaway redis-server), and the push server started with the
 * real wiring (`startPushServer`) against the fake WNS process.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { Redis } from "ioredis";
import type { Element } from "@xmpp/xml";
import { ConsoleLogger, type LogLevel } from "../adapters/logging/console_logger.ts";
import { accountKey } from "../adapters/storage/redis/redis_keys.ts";
import { SqliteStore } from "../adapters/storage/sqlite/sqlite_store.ts";
import {
  type FakeComponentServer,
  startFakeComponentServer,
} from "../adapters/xmpp/fake_component_server.ts";
import { MemoryXmppLink } from "../adapters/xmpp/memory_link.ts";
import { publishIq } from "../adapters/xmpp/publish_builder.ts";
import { parseConfig } from "../app/config.ts";
import { requireDevicePort, startPushServer, type UwpxPushServer } from "../app/push_server.ts";
import { type RunningRedis, startRedis } from "../tests/support/redis.ts";
import { testConfigJson } from "../tests/support/test_config.ts";
import { writeTestCertificate } from "../tests/support/tls_cert.ts";
import { type BenchFleet, benchIds, benchRegistration } from "./bench_registrations.ts";
import { bulkLoadInChild } from "./bulk_load_process.ts";
import type { FakeWnsProcess } from "./fake_wns.ts";

export { benchIds };

/** The storage backends a scenario can run on. */
export type StorageKind = "sqlite" | "redis";

/** The push component's domain in the benchmarks. */
export const BENCH_DOMAIN = "push.localhost";

const WEEK_MS = 7 * 24 * 60 * 60 * 1000;
const UNLIMITED = { burst: 1_000_000_000, perSecond: 1_000_000_000 };

/** A Prosody-style publish IQ for registration `i` (message count 1, as Prosody sends). */
export function benchPublish(i: number, to = BENCH_DOMAIN): Element {
  const { node, secret } = benchIds(i);
  return publishIq({ node, secret, to, summary: { "message-count": "1" } });
}

/** Where registrations live during a run. */
export interface BenchStorage {
  readonly kind: StorageKind;
  /** The `db.url` the server gets. */
  readonly url: string;
  /** Registrations loaded so far: numbers 0 to `loaded - 1`. */
  loaded: number;
  /**
   * Loads registrations of `fleet` up to number `count - 1` (those missing only), in a child
   * process, and resolves to the milliseconds it took. A storage holds one fleet's
   * registrations.
   */
  loadUpTo(count: number, fleet: BenchFleet): Promise<number>;
  /** Removes the database (the file, or the redis-server). */
  close(): Promise<void>;
}

/** A SQLite file or a redis-server in `dir`, empty. */
export async function openBenchStorage(kind: StorageKind, dir: string): Promise<BenchStorage> {
  if (kind === "sqlite") {
    const path = `${dir}/bench-${crypto.randomUUID().slice(0, 8)}.db`;
    // The server's own code creates the schema; the bulk load writes rows matching it.
    await SqliteStore.open(path).close();
    return withBulkLoad(kind, `sqlite:${path}`, path, async () => {
      for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(path + suffix).catch(() => {});
    });
  }
  // Production-like durability: fsync once a second (the harness default fsyncs every write).
  // No automatic AOF rewrite: after a bulk load it would fork and rewrite the whole data set
  // in the middle of the measurement.
  const redis: RunningRedis = await startRedis({
    args: ["--appendfsync", "everysec", "--auto-aof-rewrite-percentage", "0"],
  });
  return withBulkLoad(kind, redis.url, redis.url, () => redis.stop());
}

/** A {@link BenchStorage} at `url`, bulk-loaded through `target` (a file or a Redis URL). */
function withBulkLoad(
  kind: StorageKind,
  url: string,
  target: string,
  close: () => Promise<void>,
): BenchStorage {
  const storage: BenchStorage = {
    kind,
    url,
    loaded: 0,
    async loadUpTo(count, fleet) {
      const started = performance.now();
      if (count > storage.loaded) {
        await bulkLoadInChild(kind, target, storage.loaded, count, fleet);
        await settleDisk();
      }
      storage.loaded = Math.max(storage.loaded, count);
      return performance.now() - started;
    },
    close,
  };
  return storage;
}

/**
 * Waits until what the bulk load wrote is on disk: otherwise the kernel writes it back in
 * the background a few seconds later, during the measurement (a million registrations are
 * about a gigabyte of Redis AOF).
 */
async function settleDisk(): Promise<void> {
  await new Deno.Command("sync").output();
}

/**
 * Writes registrations `from` to `to - 1` of `fleet` straight into the SQLite file, in the
 * schema of `adapters/storage/sqlite/sqlite_store.ts`: one transaction per 50,000 devices,
 * prepared statements.
 */
export function bulkLoadSqlite(path: string, fleet: BenchFleet, from: number, to: number): void {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = OFF");
    const device = db.prepare(
      `INSERT INTO devices (device_id, channel_uri, version, expires_at, push_service, push_app)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    const account = db.prepare(
      `INSERT INTO accounts (node, device_id, account_id, secret, position)
       VALUES (?, ?, ?, ?, 0)`,
    );
    const expiresAt = Date.now() + WEEK_MS;
    for (let start = from; start < to; start += 50_000) {
      db.exec("BEGIN");
      for (let i = start; i < Math.min(to, start + 50_000); i++) {
        const r = benchRegistration(fleet, i);
        device.run(r.deviceId, r.address, r.version, expiresAt, r.service, r.app);
        account.run(r.node, r.deviceId, r.accountId, r.secret);
      }
      db.exec("COMMIT");
    }
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

/**
 * Writes registrations `from` to `to - 1` of `fleet` into Redis as the server stores them
 * (see `adapters/storage/redis/redis_store.ts`): WNS devices in the original layout (slot 0
 * the channel URI), others with slot 0 `target:<service>:<app>:<address>`; every key with
 * the same `PEXPIREAT`. Pipelined: 5 commands per device, 4,000 devices a batch, two batches
 * in flight.
 */
export async function bulkLoadRedis(
  url: string,
  fleet: BenchFleet,
  from: number,
  to: number,
): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, enableAutoPipelining: false });
  await redis.connect();
  try {
    const at = Date.now() + WEEK_MS;
    const batch = 4000;
    const inFlight = new Set<Promise<unknown>>();
    for (let start = from; start < to; start += batch) {
      const pipeline = redis.pipeline();
      for (let i = start; i < Math.min(to, start + batch); i++) {
        const r = benchRegistration(fleet, i);
        const slot = r.service === "wns" ? r.address : `target:${r.service}:${r.app}:${r.address}`;
        const key = accountKey(r.deviceId, r.accountId);
        pipeline.rpush(r.deviceId, slot, String(r.version), key);
        pipeline.pexpireat(r.deviceId, at);
        pipeline.set(key, r.node, "PXAT", at);
        pipeline.rpush(r.node, r.accountId, r.deviceId, r.secret);
        pipeline.pexpireat(r.node, at);
      }
      const sent: Promise<unknown> = pipeline.exec().then((results) => {
        const failed = results?.find(([error]) => error !== null);
        if (failed) throw failed[0];
      }).finally(() => inFlight.delete(sent));
      inFlight.add(sent);
      if (inFlight.size >= 2) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

/** A logger like the CLI's (logfmt lines), writing to /dev/null instead of stderr. */
export function sinkLogger(level: LogLevel): ConsoleLogger {
  devNull ??= Deno.openSync("/dev/null", { write: true });
  const sink = devNull;
  const encoder = new TextEncoder();
  return new ConsoleLogger(level, "logfmt", (line) => sink.writeSync(encoder.encode(line + "\n")));
}

let devNull: Deno.FsFile | undefined;

/** A running push server and a way to hand it publishes in process. */
export interface BenchServer {
  readonly server: UwpxPushServer;
  /**
   * Hands a publish IQ to the server's XMPP side the way the component link does (same
   * parsing, same use case, same answers), without a socket; resolves with the answer.
   */
  publish(iq: Element): Promise<Element>;
  close(): Promise<void>;
}

/** The `wns` section of a server whose registrations all belong to other services: never asked. */
export const UNUSED_WNS: BenchServerOptions["wns"] = {
  url: "http://127.0.0.1:9",
  tokenUrl: "http://127.0.0.1:9/token",
  packetId: "ms-app://s-1-15-2-bench",
  clientSecret: "unused",
};

/** Options of {@link startBenchServer}. */
export interface BenchServerOptions {
  readonly dir: string;
  readonly storageUrl: string;
  readonly wns: Pick<FakeWnsProcess, "url" | "tokenUrl" | "packetId" | "clientSecret">;
  readonly logLevel: LogLevel;
  /** A real XMPP server's component port (push-prosody); otherwise a fake one keeps the link quiet. */
  readonly xmpp?: { readonly port: number; readonly secret: string };
  /** `wns.maxInFlight`; the configuration's default when absent. */
  readonly maxInFlight?: number;
  /** The `apps` section (FCM apps against their fakes); none when absent. */
  readonly apps?: Record<string, unknown>;
}

/**
 * Starts the push server as `deno task start` would (component mode, coalescing off) on
 * loopback; its component link connects to `xmpp`, or to an in-process fake XEP-0114 server.
 */
export async function startBenchServer(options: BenchServerOptions): Promise<BenchServer> {
  const secret = options.xmpp?.secret ?? crypto.randomUUID();
  let fakeXmpp: FakeComponentServer | undefined;
  if (!options.xmpp) fakeXmpp = await startFakeComponentServer({ domain: BENCH_DOMAIN, secret });
  const { certPath, keyPath } = await writeTestCertificate(options.dir);
  const { wns } = options;
  const json = testConfigJson({
    dir: options.dir,
    dbUrl: options.storageUrl,
    certPath,
    keyPath,
    wns,
    tcpExtra: { maxConnections: 4096 },
    // The default WNS timeout, as before the benchmarks shared the test configuration.
    wnsExtra: {
      requestTimeoutSeconds: 10,
      coalesceMs: 0,
      ...(options.maxInFlight ? { maxInFlight: options.maxInFlight } : {}),
    },
    xmpp: {
      mode: "component",
      bareJid: BENCH_DOMAIN,
      password: secret,
      host: "127.0.0.1",
      port: options.xmpp?.port ?? fakeXmpp!.port,
    },
  });
  const parsed = parseConfig({
    ...json,
    ...(options.apps ? { apps: options.apps } : {}),
    log: { level: options.logLevel },
    // Capacity, not abuse, is measured: one load generator is one address and one server,
    // which the production limits would rightly slow down.
    limits: {
      device: {
        connectionsPerAddress: 0,
        connectionsPerPrefix: 0,
        requestsPerConnection: UNLIMITED,
        requestsPerDevice: UNLIMITED,
      },
      xmpp: { publishesPerNode: UNLIMITED, publishesPerServer: UNLIMITED },
      registrations: {
        newDevicesPerPrefix: UNLIMITED,
        newAccountsPerPrefix: UNLIMITED,
        maxDevices: 0,
        maxAccounts: 0,
      },
    },
  });
  if (!parsed.ok) throw new Error(parsed.problems.join("; "));
  const logger = sinkLogger(options.logLevel);
  let server: UwpxPushServer;
  try {
    server = requireDevicePort(await startPushServer(parsed.config, logger));
  } catch (error) {
    await fakeXmpp?.close();
    throw error;
  }
  const link = new MemoryXmppLink(
    BENCH_DOMAIN,
    (request) => server.pushService.handlePublish(request),
    logger,
  );
  return {
    server,
    publish: (iq) => link.receive(iq),
    async close() {
      await server.close();
      await fakeXmpp?.close();
    },
  };
}

/** Whether an IQ answer is a result (the publish was pushed). */
export function isResult(answer: Element): boolean {
  return answer.attrs.type === "result";
}
