/**
 * What the fault tests share: a tally of publish answers (pushed, `wait`-answered, anything
 * else, unanswered), process resource probes (memory, open file descriptors) and small
 * timing helpers. Nothing here talks to the server by itself.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Element } from "@xmpp/xml";
import type { LogFields, Logger } from "../../domain/ports/logging.ts";

/** How one publish ended, as the user's server saw it. */
export type PublishAnswer =
  /** An IQ result: the push server pushed. */
  | "result"
  /** An IQ error, as `type/condition`, e.g. `wait/internal-server-error`. */
  | `${string}/${string}`
  /** No answer within the sender's timeout, on a connection that stayed up. */
  | "unanswered"
  /**
   * No answer because the connection carrying the IQ to the XMPP server closed first (that
   * server went down): nobody could answer it. Only the XMPP-restart test has these.
   */
  | "cut";

/** Thrown by a publish that got no answer, saying why. */
export class NoAnswer extends Error {
  constructor(readonly kind: "unanswered" | "cut", message: string) {
    super(message);
    this.name = "NoAnswer";
  }
}

/** Classifies an IQ answer. */
export function classify(answer: Element): PublishAnswer {
  if (answer.attrs.type === "result") return "result";
  const error = answer.getChild("error");
  const condition = error?.getChildElements().find((child: Element) =>
    child.attrs.xmlns === "urn:ietf:params:xml:ns:xmpp-stanzas" && child.name !== "text"
  );
  return `${error?.attrs.type ?? "?"}/${condition?.name ?? "?"}`;
}

/** Counts publish answers by kind; `sent` counts every publish that was started. */
export class Tally {
  sent = 0;
  readonly counts = new Map<PublishAnswer, number>();
  /** The slowest answer so far, in ms. */
  slowestMs = 0;

  /** Sends one publish with `send` and records how it ended; never throws. */
  async track(send: () => Promise<Element>): Promise<PublishAnswer> {
    this.sent++;
    const started = performance.now();
    let answer: PublishAnswer;
    try {
      answer = classify(await send());
    } catch (error) {
      answer = error instanceof NoAnswer ? error.kind : "unanswered";
    }
    this.slowestMs = Math.max(this.slowestMs, performance.now() - started);
    this.add(answer);
    return answer;
  }

  add(answer: PublishAnswer): void {
    this.counts.set(answer, (this.counts.get(answer) ?? 0) + 1);
  }

  count(answer: PublishAnswer): number {
    return this.counts.get(answer) ?? 0;
  }

  /** Answers that were results. */
  get pushed(): number {
    return this.count("result");
  }

  /** Answers that were `wait` errors (the user's server keeps the registration and retries). */
  get waited(): number {
    let n = 0;
    for (const [answer, count] of this.counts) if (answer.startsWith("wait/")) n += count;
    return n;
  }

  /** Every answer recorded so far (unanswered included). */
  get finished(): number {
    let n = 0;
    for (const count of this.counts.values()) n += count;
    return n;
  }

  /**
   * The invariant of every fault test: each publish was pushed or answered `wait`; nothing
   * unanswered, nothing answered with an error that would make the user's server drop the
   * registration.
   */
  assertNothingLost(what: string): void {
    assert.equal(this.finished, this.sent, `${what}: publishes still pending`);
    assert.equal(
      this.pushed + this.waited,
      this.sent,
      `${what}: pushed + wait-answered != sent: ${this.summary()}`,
    );
  }

  /** `sent=N result=N wait/...=N`, for messages and the report. */
  summary(): string {
    const parts = [...this.counts].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) =>
      `${k}=${v}`
    );
    return `sent=${this.sent} ${parts.join(" ")} slowest=${Math.round(this.slowestMs)}ms`;
  }
}

/** Process memory, in bytes. */
export interface MemorySample {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
}

/** The collector, when `--v8-flags=--expose-gc` exposes it (`deno task test` does). */
function exposedGc(): (() => void) | undefined {
  return (globalThis as { gc?: () => void }).gc;
}

/** The process's memory now, after a forced collection when one is possible. */
export function memory(): MemorySample {
  exposedGc()?.();
  const { rss, heapUsed, heapTotal, external } = Deno.memoryUsage();
  return { rss, heapUsed, heapTotal, external };
}

const MB = 1024 * 1024;

/** Bounds on memory growth, in MB. */
export interface MemoryBounds {
  readonly rssMb: number;
  /** heapUsed, as measured without a forced collection (garbage included). */
  readonly heapMb: number;
  /** heapUsed after a forced collection, when `--v8-flags=--expose-gc` makes one possible. */
  readonly heapMbAfterGc?: number;
}

/**
 * Asserts memory grew by less than `bounds` from `before` to now. `deno task test` runs with
 * `--v8-flags=--expose-gc`, so both samples follow a forced collection and `heapMbAfterGc`
 * bounds what is really kept. Without the flag (a single file run by hand) only `heapMb`,
 * which leaves room for uncollected garbage, can be checked; under CI that is a failure, so
 * the tighter bound cannot silently stop running. Returns the sample taken.
 */
export function assertMemoryBounded(
  before: MemorySample,
  bounds: MemoryBounds,
  what: string,
): MemorySample {
  const gc = exposedGc();
  if (!gc && bounds.heapMbAfterGc !== undefined && isCi()) {
    assert.fail(
      `${what}: no forced collection under CI: run deno test with --v8-flags=--expose-gc`,
    );
  }
  const after = memory();
  const rssGrowth = (after.rss - before.rss) / MB;
  const heapGrowth = (after.heapUsed - before.heapUsed) / MB;
  const heapBound = gc && bounds.heapMbAfterGc !== undefined ? bounds.heapMbAfterGc : bounds.heapMb;
  const text = `${what}: rss ${mb(before.rss)} -> ${mb(after.rss)} MB, heapUsed ` +
    `${mb(before.heapUsed)} -> ${mb(after.heapUsed)} MB (heapTotal ${mb(before.heapTotal)} -> ` +
    `${mb(after.heapTotal)}, external ${mb(before.external)} -> ${mb(after.external)}` +
    `${gc ? ", after a forced collection" : ""})`;
  report(text);
  assert.ok(rssGrowth < bounds.rssMb, `${text}: rss grew more than ${bounds.rssMb} MB`);
  assert.ok(heapGrowth < heapBound, `${text}: heap grew more than ${heapBound} MB`);
  return after;
}

function isCi(): boolean {
  const ci = Deno.env.get("CI");
  return ci !== undefined && ci !== "" && ci !== "false" && ci !== "0";
}

function mb(bytes: number): string {
  return (bytes / MB).toFixed(1);
}

/**
 * Open file descriptors of this process, leaving out TCP sockets with an end on one of
 * `ignorePorts` (e.g. the fake WNS: the server keeps up to `wns.maxInFlight` idle HTTP
 * connections to it, as it should, and their number depends on how publishes overlapped).
 */
export function openFdsExcept(ignorePorts: readonly number[]): number {
  const ignored = new Set<string>();
  for (const table of ["/proc/self/net/tcp", "/proc/self/net/tcp6"]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(table);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const port = (address: string) => parseInt(address.split(":")[1], 16);
      if (ignorePorts.includes(port(cols[1])) || ignorePorts.includes(port(cols[2]))) {
        ignored.add(cols[9]);
      }
    }
  }
  let n = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    let target = "";
    try {
      target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
    } catch {
      continue; // Closed while we looked (the directory's own descriptor, for one).
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode === undefined || !ignored.has(inode)) n++;
  }
  return n;
}

/** The soft limit on open files (`ulimit -n`), or null when it cannot be read. */
export function openFileLimit(): number | null {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const line = limits.split("\n").find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === "unlimited" ? null : Number(soft);
  } catch {
    return null;
  }
}

/** Polls `condition` every 25 ms until it holds; throws with `what` after `timeoutMs`. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(25);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `work` for each item with at most `limit` at once. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Keeps `concurrency` publishes in flight, each made by `send`, until `stop()` is called;
 * resolves once the last one is answered. The tally counts them.
 */
export function publishLoop(
  tally: Tally,
  concurrency: number,
  send: (i: number) => Promise<Element>,
): { stop(): Promise<void> } {
  let running = true;
  let i = 0;
  const worker = async () => {
    while (running) {
      // A publish refused at once (no link) must not spin: pause, so timers still run.
      if (await tally.track(() => send(i++)) === "unanswered") await sleep(10);
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

/**
 * Lifts the server's per-client limits (`limits.*`) in a configuration: the fault tests play
 * hundreds of devices from one address and one user's server, so connections per address
 * and publish rates per node and per server must not be what answers them.
 */
export function liftClientLimits(json: Record<string, Record<string, unknown>>): void {
  const unlimited = { burst: 1_000_000, perSecond: 1_000_000 };
  json.limits = {
    device: {
      connectionsPerAddress: 0,
      connectionsPerPrefix: 0,
      requestsPerConnection: unlimited,
      requestsPerDevice: unlimited,
    },
    xmpp: { publishesPerNode: unlimited, publishesPerServer: unlimited },
    registrations: { newDevicesPerPrefix: unlimited, newAccountsPerPrefix: unlimited },
  };
}

/**
 * A logger that counts lines by level and message and keeps only the last few: a fault test
 * logs thousands of lines, which a recording logger would keep in the memory being measured.
 */
export class CountingLogger implements Logger {
  readonly counts = new Map<string, number>();
  readonly recent: string[] = [];

  debug(message: string, fields?: LogFields): void {
    this.#log("debug", message, fields);
  }

  info(message: string, fields?: LogFields): void {
    this.#log("info", message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.#log("warn", message, fields);
  }

  error(message: string, fields?: LogFields): void {
    this.#log("error", message, fields);
  }

  /** Lines logged with `message` (any level). */
  count(message: string): number {
    let n = 0;
    for (const [key, count] of this.counts) if (key.endsWith(` ${message}`)) n += count;
    return n;
  }

  #log(level: string, message: string, fields: LogFields = {}): void {
    const key = `${level} ${message}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (level === "debug") return;
    this.recent.push(`${key} ${JSON.stringify(fields)}`);
    if (this.recent.length > 50) this.recent.shift();
  }
}

/** One line of measurements, for the fault report (visible with `deno test`'s output). */
export function report(line: string): void {
  console.log(`[faults] ${line}`);
}
