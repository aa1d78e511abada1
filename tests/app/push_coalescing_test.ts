/**
 * Coalescing as users meet it: through PushService with the real coalescer, its windows
 * stepped by a manual timer instead of sleeps. A merged publish must be answered exactly as a
 * lone publish in the same situation is (computed here through the same service, so these
 * tests follow any change of what a WNS outcome is answered), and the merged push must carry
 * the latest counts.
 *
 * @module
 */

import { wnsDelivery, wnsTarget } from "../support/wns_delivery.ts";
import assert from "node:assert/strict";
import { MemoryStore } from "../../adapters/storage/memory/memory_store.ts";
import { DELIVERED, MemoryWnsSender } from "../../adapters/push/wns/memory_wns_sender.ts";
import { parseConfig } from "../../app/config.ts";
import { CONFIG_TEMPLATE } from "../../app/config.ts";
import { PushCoalescer } from "../../app/delivery/push_coalescer.ts";
import { PushService } from "../../app/use_cases/push_service.ts";
import type { PublishOutcome, PublishRequest } from "../../domain/publish.ts";
import type { WnsOutcome } from "../../adapters/push/wns/wns_sender.ts";
import { expiryFrom } from "../../domain/registration.ts";
import { ManualTimer, settle } from "../support/fakes.ts";
import { RecordingLogger } from "../support/recording_logger.ts";

const CHANNEL = "https://db5p.notify.windows.com/?token=COALESCE";
const ACCOUNTS = [
  { accountId: "ACC1", node: "node1node1node1node1", secret: "secret1secret1secret1" },
  { accountId: "ACC2", node: "node2node2node2node2", secret: "secret2secret2secret2" },
] as const;

/** The window a server runs with when its configuration leaves it out. */
function defaultWindowMs(): number {
  const parsed = parseConfig(CONFIG_TEMPLATE);
  assert.ok(parsed.ok, "the template configuration parses");
  assert.ok(parsed.config.wns, "the template has the wns section");
  return parsed.config.wns.coalesceMs;
}

async function setup(windowMs = defaultWindowMs()) {
  const timer = new ManualTimer();
  const store = new MemoryStore(timer);
  const wns = new MemoryWnsSender();
  const coalescer = new PushCoalescer(windowMs, timer);
  const service = new PushService({
    store,
    ...wnsDelivery(wns),
    clock: timer,
    logger: new RecordingLogger(),
    coalescer,
  });
  const expiresAt = expiryFrom(timer.now());
  await store.saveTarget("dev1", wnsTarget(CHANNEL), 2, expiresAt);
  await store.replaceAccounts("dev1", ACCOUNTS, expiresAt);
  return { timer, store, wns, coalescer, service, windowMs };
}

/** A publish for account `index` (0 or 1) saying `messages` messages wait. */
function publish(index: number, messages: number): PublishRequest {
  const { node, secret } = ACCOUNTS[index];
  return { node, secret, summary: new Map([["message-count", String(messages)]]) };
}

/** The account id and message count of each push WNS was asked to send, in order. */
function sentCounts(wns: MemoryWnsSender): string[] {
  return wns.sent.map((s) => {
    const body = JSON.parse(s.payload) as { account_id: string; message_count: number };
    return `${body.account_id}:${body.message_count}`;
  });
}

/** Tracks which of `promises` have settled, without awaiting them. */
function track<T>(promises: Promise<T>[]): { settled: boolean[]; all: Promise<T[]> } {
  const settled = promises.map(() => false);
  promises.forEach((p, i) => p.finally(() => settled[i] = true));
  return { settled, all: Promise.all(promises) };
}

Deno.test("coalescing: the default window is 250 ms", () => {
  assert.equal(defaultWindowMs(), 250);
});

Deno.test("coalescing: two accounts of one device stay apart; each keeps its latest counts", async () => {
  const { timer, wns, service, windowMs } = await setup();
  const answers = track([
    service.handlePublish(publish(0, 1)),
    service.handlePublish(publish(1, 5)),
    service.handlePublish(publish(0, 2)),
    service.handlePublish(publish(1, 6)),
    service.handlePublish(publish(0, 3)),
  ]);
  await settle();
  // Each account's first push goes out at once, however busy the other account is.
  assert.deepEqual(sentCounts(wns), ["ACC1:1", "ACC2:5"]);
  assert.deepEqual(answers.settled, [true, true, false, false, false]);
  await timer.advance(windowMs);
  assert.deepEqual(sentCounts(wns).slice(2).toSorted(), ["ACC1:3", "ACC2:6"]);
  assert.ok((await answers.all).every((a) => a.kind === "pushed"));
  assert.equal(wns.sent.length, 4, "one leading and one trailing push per account");
});

Deno.test("coalescing: a burst is merged for exactly one window, then the next opens", async () => {
  const { timer, wns, service, coalescer, windowMs } = await setup();
  const first = service.handlePublish(publish(0, 1));
  const second = track([service.handlePublish(publish(0, 2))]);
  await settle();
  assert.deepEqual(sentCounts(wns), ["ACC1:1"], "the first push goes out at once");
  assert.deepEqual(await first, { kind: "pushed" });

  await timer.advance(windowMs - 1);
  assert.deepEqual(sentCounts(wns), ["ACC1:1"], "nothing more before the window ends");
  assert.deepEqual(second.settled, [false], "the merged publish waits for its push");
  await timer.advance(1);
  assert.deepEqual(sentCounts(wns), ["ACC1:1", "ACC1:2"], "the trailing push at the window's end");
  assert.deepEqual(await second.all, [{ kind: "pushed" }]);

  // The trailing push opened a new window: a push right after it is merged again.
  const third = track([service.handlePublish(publish(0, 3))]);
  await timer.advance(windowMs - 1);
  assert.deepEqual(sentCounts(wns), ["ACC1:1", "ACC1:2"]);
  await timer.advance(1);
  assert.deepEqual(sentCounts(wns), ["ACC1:1", "ACC1:2", "ACC1:3"]);
  assert.deepEqual(await third.all, [{ kind: "pushed" }]);

  // A quiet window closes the burst: the next push is a leading one again.
  await timer.advance(windowMs);
  assert.equal(coalescer.openBursts, 0, "a burst outlived its window");
  await service.handlePublish(publish(0, 4));
  assert.deepEqual(sentCounts(wns).at(-1), "ACC1:4");
});

/** WNS outcomes a merged push can meet. */
const TRAILING_OUTCOMES: Record<string, WnsOutcome> = {
  "fails (5xx, retries exhausted)": {
    kind: "failed",
    retryable: true,
    status: 503,
    detail: "service unavailable",
  },
  "fails (not retryable)": { kind: "failed", retryable: false, status: 400, detail: "bad" },
  "is throttled": { kind: "throttled", status: 429, detail: "throttled" },
  "meets 410 (channel gone)": { kind: "channel-gone", status: 410 },
  "meets 404 (channel gone)": { kind: "channel-gone", status: 404 },
};

/** What a lone publish is answered when WNS answers `outcome`: a fresh server, one publish. */
async function loneAnswer(outcome: WnsOutcome): Promise<PublishOutcome> {
  const { wns, service } = await setup();
  wns.setOutcome(CHANNEL, outcome);
  return await service.handlePublish(publish(0, 1));
}

for (const [situation, outcome] of Object.entries(TRAILING_OUTCOMES)) {
  Deno.test(`coalescing: when a merged push ${situation}, every merged publish hears what a lone one would`, async () => {
    const lone = await loneAnswer(outcome);
    assert.notDeepEqual(lone, { kind: "pushed" }, "the situation is a failure for a lone publish");

    const { timer, wns, service, windowMs } = await setup();
    const leading = service.handlePublish(publish(0, 1));
    const merged = track([2, 3, 4].map((n) => service.handlePublish(publish(0, n))));
    assert.deepEqual(await leading, { kind: "pushed" });
    wns.setOutcome(CHANNEL, outcome);
    await timer.advance(windowMs);
    assert.deepEqual(await merged.all, [lone, lone, lone]);
    assert.deepEqual(
      sentCounts(wns),
      ["ACC1:1", "ACC1:4"],
      "the merged push has the latest counts",
    );
  });
}

Deno.test("coalescing: a merged push after a failed leading one is still sent and answered", async () => {
  const failed: WnsOutcome = { kind: "failed", retryable: true, status: 500, detail: "x" };
  const lone = await loneAnswer(failed);
  const { timer, wns, service, windowMs } = await setup();
  wns.setOutcome(CHANNEL, failed);
  const leading = service.handlePublish(publish(0, 1));
  const merged = service.handlePublish(publish(0, 2));
  assert.deepEqual(await leading, lone);
  wns.setOutcome(CHANNEL, DELIVERED);
  await timer.advance(windowMs);
  assert.deepEqual(await merged, { kind: "pushed" });
  assert.deepEqual(sentCounts(wns), ["ACC1:1", "ACC1:2"]);
});
