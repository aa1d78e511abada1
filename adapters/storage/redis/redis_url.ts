/**
 * Redis URLs: parsing the three forms the store accepts into a {@link RedisTarget}, and the
 * ioredis client options for one.
 *
 * - `redis://[[user]:password@]host[:port][/db]` (port 6379, db 0 by default)
 * - `rediss://...` the same over TLS (certificate checked against the host name)
 * - `redis-sentinel://[[user]:password@]host1[:port1][,host2[:port2]...]/masterName[/db]`:
 *   asks the Sentinels (port 26379 by default) for the master named `masterName`; the
 *   password is the master's (Sentinels are contacted without one).
 *
 * Special characters in the user or password must be percent-encoded.
 *
 * @module
 */

import type { RedisOptions } from "ioredis";
import { exponentialBackoff } from "../../../lib/backoff.ts";

/** A parsed Redis URL. The password is kept out of {@link RedisTarget.display}. */
export interface RedisTarget {
  readonly sentinel: boolean;
  readonly tls: boolean;
  /** The server (one), or the Sentinels (one or more). */
  readonly hosts: readonly { readonly host: string; readonly port: number }[];
  /** The Sentinel master's name; "" without Sentinel. */
  readonly masterName: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly db: number;
  /** Where the store connects, for messages: `host:port[,host:port]` (and the master name). */
  readonly display: string;
}

/**
 * Parses a Redis URL (forms in the module doc). Throws a plain Error naming the problem,
 * never quoting the password.
 */
export function parseRedisUrl(url: string): RedisTarget {
  const match = /^(redis|rediss|redis-sentinel):\/\/(.*)$/s.exec(url);
  if (!match) {
    throw new Error("Redis URL must start with redis://, rediss:// or redis-sentinel://");
  }
  const scheme = match[1];
  let rest = match[2];
  let username: string | undefined;
  let password: string | undefined;
  // The last "@": an unencoded "@" or "/" in the password still parses.
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = userinfo.indexOf(":");
    const user = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo);
    username = user === "" ? undefined : user;
    password = colon >= 0 ? decode(userinfo.slice(colon + 1)) : undefined;
  }
  if (/[?#]/.test(rest)) throw new Error(`${scheme}:// URLs take no query or fragment`);
  const slash = rest.indexOf("/");
  const hostPart = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash + 1).split("/") : [];
  if (path.at(-1) === "") path.pop(); // A trailing slash.
  const sentinel = scheme === "redis-sentinel";
  const hosts = hostPart.split(",").map((h) => parseHost(h, sentinel ? 26379 : 6379, scheme));
  let masterName = "";
  if (sentinel) {
    masterName = decode(path.shift() ?? "");
    if (masterName === "") {
      throw new Error("redis-sentinel:// URL needs the master name: .../masterName[/db]");
    }
  } else if (hosts.length !== 1) {
    throw new Error(`${scheme}:// URL takes one host; use redis-sentinel:// for several`);
  }
  if (path.length > 1) throw new Error(`${scheme}:// URL path must be at most /db`);
  const db = path.length === 0 ? 0 : Number(path[0]);
  if (!/^\d{1,5}$/.test(path[0] ?? "0") || !Number.isSafeInteger(db)) {
    throw new Error(`${scheme}:// URL: the database must be a number, e.g. /0`);
  }
  const where = hosts.map((h) => `${h.host.includes(":") ? `[${h.host}]` : h.host}:${h.port}`);
  return {
    sentinel,
    tls: scheme === "rediss",
    hosts,
    masterName,
    username,
    password,
    db,
    display: sentinel ? `${where.join(",")} (sentinel master ${masterName})` : where[0],
  };
}

function parseHost(text: string, defaultPort: number, scheme: string) {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text);
  const port = match?.[3] === undefined ? defaultPort : Number(match[3]);
  if (!match || port < 1 || port > 65535) {
    throw new Error(`${scheme}:// URL: bad host "${text}", expected host[:port]`);
  }
  return { host: match[1] ?? decode(match[2]), port };
}

/** Settings of the client beyond what the URL says. */
export interface ClientSettings {
  /** How long connecting may take. */
  readonly connectTimeoutMs: number;
  /** PEM certificates to trust for `rediss://`, instead of the system's roots. */
  readonly tlsCaCerts?: readonly string[];
}

/** The ioredis options for `target`. */
export function clientOptions(target: RedisTarget, options: ClientSettings): RedisOptions {
  const connectTimeoutMs = options.connectTimeoutMs;
  const where = target.sentinel
    ? { sentinels: [...target.hosts], name: target.masterName }
    : { host: target.hosts[0].host, port: target.hosts[0].port };
  return {
    ...where,
    username: target.username,
    password: target.password,
    db: target.db,
    // Node's TLS checks the certificate against the host name by itself.
    tls: target.tls ? (options.tlsCaCerts ? { ca: [...options.tlsCaCerts] } : {}) : undefined,
    connectionName: "uwpx-push",
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    // No commandTimeout: ioredis would arm a timer per command, which costs more than the
    // rest of a lookup; RedisStore times calls out itself with one shared timer.
    // Fail fast while Redis is away: no queueing, and calls in flight when the connection
    // drops fail at once instead of being replayed (a store call may have given up already).
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // Commands issued in the same tick (publishes arriving together) go out in one write:
    // one system call and one Redis read for many lookups instead of one each.
    enableAutoPipelining: true,
    // Reconnect forever, backing off to 2 s; sentinel lookups the same way.
    retryStrategy: (times) => exponentialBackoff(times, 50, 2000),
    sentinelRetryStrategy: (times) => exponentialBackoff(times, 50, 2000),
    // After a Sentinel failover the old master turns replica and refuses writes: reconnect
    // (which asks the Sentinels again) instead of failing every write from then on.
    reconnectOnError: (error) => error.message.startsWith("READONLY"),
  };
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new Error("Redis URL: bad percent-encoding in the user, password, host or path");
  }
}
