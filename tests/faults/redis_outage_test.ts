/**
 * Redis (`db.url` redis://) going away during traffic, two ways: killed (SIGKILL, a crash)
 * and started again 2 s later; and hung (SIGSTOP: connections stay open, nothing answers)
 * for 3 s, longer than the store's 2 s command timeout.
 *
 * Publishes keep flowing from a fake XEP-0114 server the whole time. Asserted: every publish
 * was pushed or answered `wait/internal-server-error` (never `cancel`: the user's server
 * would drop the registration), none unanswered; the outage was seen (`wait` answers) and
 * `/readyz` reported the storage failing; a device registering meanwhile was answered with
 * an error at once, not left hanging; service resumed by itself after Redis came back
 * (measured); every device registered before the outage still pushes; memory stayed bounded.
 */

import assert from "node:assert/strict";
import { serverTestGate } from "../support/prosody.ts";
import { type RunningRedis, startRedis } from "../support/redis.ts";
import {
  type LoopbackStack,
  type RegisteredDevice,
  startLoopbackStack,
} from "../support/loopback_stack.ts";
import {
  assertMemoryBounded,
  CountingLogger,
  liftClientLimits,
  memory,
  pool,
  publishLoop,
  report,
  sleep,
  Tally,
  until,
} from "./fault_kit.ts";

const gate = serverTestGate("redis-server");

/** Devices registered before the outage; the publish load goes to them. */
const DEVICES = 50;
/** Publishes kept in flight. */
const CONCURRENCY = 4;
/** Pause of each publisher between publishes, so fast `wait` answers do not become a flood. */
const PAUSE_MS = 5;
/** After Redis is back, publishes must be pushed again within this. */
const RESUME_BOUND_MS = 5000;

interface Outage {
  readonly name: string;
  /** Breaks Redis; returns how to repair it. */
  break(redis: RunningRedis): Promise<() => Promise<void>>;
  readonly durationMs: number;
}

const outages: Outage[] = [
  {
    name: "killed and restarted",
    durationMs: 2000,
    async break(redis) {
      await redis.kill();
      return () => redis.restart();
    },
  },
  {
    name: "hung (SIGSTOP) longer than the command timeout",
    durationMs: 3000,
    break(redis) {
      redis.freeze();
      return Promise.resolve(() => Promise.resolve(redis.thaw()));
    },
  },
];

for (const outage of outages) {
  Deno.test({
    name: `redis outage: ${outage.name}, during traffic`,
    ...gate,
    async fn() {
      const redis = await startRedis();
      let stack: LoopbackStack | undefined;
      try {
        const logger = new CountingLogger();
        stack = await startLoopbackStack({
          logger,
          fakeWns: { record: false },
          configure(json) {
            liftClientLimits(json);
            json.db = { url: redis.url };
          },
        });
        await run(stack, redis, outage, logger);
      } finally {
        await stack?.stop();
        await redis.stop();
      }
    },
  });
}

async function run(
  stack: LoopbackStack,
  redis: RunningRedis,
  outage: Outage,
  logger: CountingLogger,
): Promise<void> {
  const devices: RegisteredDevice[] = [];
  await pool(Array.from({ length: DEVICES }), 8, async () => {
    devices.push(await stack.register(1));
  });
  const target = (i: number) => devices[i % devices.length].accounts[0];
  // Warm up (token fetched and cached in Redis, code compiled) before the baseline.
  for (let i = 0; i < 4; i++) {
    assert.equal((await stack.publish(target(i).node, target(i).secret)).attrs.type, "result");
  }
  const memBefore = memory();

  // Every publish with when it was sent and how it ended.
  const timeline: { sentAt: number; answeredAt: number; answer: string }[] = [];
  const tally = new Tally();
  const load = publishLoop(tally, CONCURRENCY, async (i) => {
    const sentAt = performance.now();
    try {
      const answer = await stack.publish(target(i).node, target(i).secret);
      const error = answer.getChild("error");
      timeline.push({ sentAt, answeredAt: performance.now(), answer: error ? "error" : "result" });
      return answer;
    } finally {
      await sleep(PAUSE_MS);
    }
  });
  let brokenAt = NaN;
  let repairedAt = NaN;
  let resumedAt = NaN;
  let readyDuring = "";
  let registerDuring: Record<string, unknown> = {};
  let registerDuringMs = NaN;
  try {
    await sleep(1000);
    brokenAt = performance.now();
    const repair = await outage.break(redis);
    // While storage is gone: the readiness probe says so, and a registering device is
    // answered (with an error) rather than left waiting.
    await sleep(Math.min(500, outage.durationMs / 4));
    readyDuring = (await stack.get("/readyz")).body;
    const t = performance.now();
    const client = await stack.device();
    try {
      registerDuring = await client.request({
        version: 2,
        action: "set_channel_uri",
        device_id: crypto.getRandomValues(new Uint8Array(32)).toHex(),
        channel_uri: stack.wns.channelUri(),
      });
    } finally {
      client.close();
    }
    registerDuringMs = performance.now() - t;
    await sleep(Math.max(0, brokenAt + outage.durationMs - performance.now()));
    await repair();
    repairedAt = performance.now();
    // Resumed: the first publish sent after the repair that was pushed.
    await until(
      () => timeline.some((e) => e.sentAt >= repairedAt && e.answer === "result"),
      "publishes pushed again",
      RESUME_BOUND_MS + 5000,
    );
    resumedAt = Math.min(
      ...timeline.filter((e) => e.sentAt >= repairedAt && e.answer === "result").map((e) =>
        e.sentAt
      ),
    );
    await sleep(1000);
  } finally {
    await load.stop();
  }

  // Every device registered before the outage still pushes.
  const after = new Tally();
  await pool(devices, 8, async (device) => {
    const a = device.accounts[0];
    await after.track(() => stack.publish(a.node, a.secret));
  });
  // And registering works again.
  const late = await stack.register(1);
  const lateAnswer = await stack.publish(late.accounts[0].node, late.accounts[0].secret);

  const before = timeline.filter((e) => e.answeredAt < brokenAt);
  const afterResume = timeline.filter((e) => e.sentAt >= resumedAt);
  report(
    `redis ${outage.name}: ${DEVICES} devices, ${CONCURRENCY} publishes in flight; outage ` +
      `${Math.round(repairedAt - brokenAt)} ms; pushed again ${
        Math.round(resumedAt - repairedAt)
      } ms after Redis was back; publishes: ${tally.summary()}; a registration during the ` +
      `outage answered in ${Math.round(registerDuringMs)} ms; after: ${after.summary()}; ` +
      `storage errors logged: ${logger.count("publish deferred: storage unavailable")}`,
  );

  tally.assertNothingLost("publishes during the Redis outage");
  for (const [answer] of tally.counts) {
    assert.ok(
      answer === "result" || answer === "wait/internal-server-error",
      `unexpected answer ${answer}: ${tally.summary()}`,
    );
  }
  assert.ok(tally.waited > 0, "the outage was seen by publishes");
  assert.ok(before.length > 0 && before.every((e) => e.answer === "result"));
  assert.ok(afterResume.every((e) => e.answer === "result"), "no error once resumed");
  assert.ok(resumedAt - repairedAt < RESUME_BOUND_MS, "service resumed by itself in time");
  assert.match(readyDuring, /storage: failing/);
  assert.equal(registerDuring.status, 0, `registration during the outage: ${registerDuring}`);
  assert.ok(registerDuringMs < 5000, `registration answered in ${registerDuringMs} ms`);
  after.assertNothingLost("publishes after the outage");
  assert.equal(after.pushed, DEVICES, "every registration made before the outage pushes");
  assert.equal(lateAnswer.attrs.type, "result");
  assert.equal((await stack.get("/readyz")).status, 200);
  // Measured: rss +5..40 MB, heapUsed +0..30 MB without a forced collection (< 2 MB after
  // one) for a few thousand publishes.
  assertMemoryBounded(memBefore, { rssMb: 80, heapMb: 60, heapMbAfterGc: 8 }, "redis outage");
}
