import { wnsDelivery } from "../support/wns_delivery.ts";
import assert from "node:assert/strict";
import { MemoryStore } from "../../adapters/storage/memory/memory_store.ts";
import { MemoryWnsSender } from "../../adapters/push/wns/memory_wns_sender.ts";
import { PushService } from "../../app/use_cases/push_service.ts";
import { SampledLog } from "../../app/sampled_log.ts";
import { FakeClock } from "../support/fakes.ts";
import { RecordingLogger } from "../support/recording_logger.ts";

Deno.test("SampledLog: one line per kind and interval, the next one counts what was left out", () => {
  const clock = new FakeClock();
  const logger = new RecordingLogger();
  const log = new SampledLog("publish refused", { logger, clock, intervalMs: 10_000 });
  for (let i = 0; i < 100; i++) log.record("unknown-node", { node: `n${i}` });
  log.record("forbidden");
  assert.deepEqual(logger.lines.map((l) => l.fields), [
    { outcome: "unknown-node", node: "n0" },
    { outcome: "forbidden" },
  ]);
  clock.advance(10_000);
  log.record("unknown-node", { node: "later" });
  assert.deepEqual(logger.lines[2].fields, {
    outcome: "unknown-node",
    node: "later",
    notLogged: 99,
  });
  log.record("unknown-node");
  log.flush();
  assert.deepEqual(logger.lines[3].fields, { outcome: "unknown-node", notLogged: 1 });
  log.flush();
  assert.equal(logger.lines.length, 4);
});

Deno.test("PushService: a flood of refused publishes writes a few log lines, not one each", async () => {
  // Issue 13: 25,000 refused publishes wrote 25,000 lines.
  const clock = new FakeClock();
  const logger = new RecordingLogger();
  const service = new PushService({
    store: new MemoryStore(clock),
    ...wnsDelivery(new MemoryWnsSender()),
    clock,
    logger,
  });
  for (let i = 0; i < 25_000; i++) {
    const outcome = await service.handlePublish({
      node: `unknown${i}`,
      secret: "s",
      summary: new Map(),
    });
    assert.equal(outcome.kind, "unknown-node");
    if (i % 1000 === 999) clock.advance(1000);
  }
  const refused = logger.lines.filter((l) => l.message === "publish refused");
  assert.ok(refused.length <= 3, `${refused.length} lines`);
  const told = refused.reduce((sum, l) => sum + 1 + Number(l.fields?.notLogged ?? 0), 0);
  // Every refusal is accounted for by a line or a count on a later line (the last window's
  // count waits for the next line or a flush).
  assert.ok(told > 20_000 && told <= 25_000, `${told}`);
});
