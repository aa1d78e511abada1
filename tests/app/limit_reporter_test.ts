import assert from "node:assert/strict";
import { LimitReporter } from "../../app/limit_reporter.ts";
import type { LimitName } from "../../domain/ports/metrics.ts";
import { FakeClock } from "../support/fakes.ts";
import { RecordingLogger } from "../support/recording_logger.ts";

Deno.test("LimitReporter: every hit is counted, the log gets one line per limit and interval", () => {
  const hits: LimitName[] = [];
  const logger = new RecordingLogger();
  const clock = new FakeClock();
  const report = new LimitReporter({
    metrics: { limitHit: (limit) => hits.push(limit) },
    logger,
    clock,
    logIntervalMs: 10_000,
  }).hit;
  for (let i = 0; i < 50; i++) report("requests_per_device", { device: "abc" });
  report("publishes_per_node");
  assert.equal(hits.length, 51);
  assert.deepEqual(logger.lines.map((l) => [l.message, l.fields.limit]), [
    ["limit reached", "requests_per_device"],
    ["limit reached", "publishes_per_node"],
  ]);
  clock.advance(10_000);
  report("requests_per_device");
  const last = logger.lines.at(-1)!;
  assert.equal(last.fields.limit, "requests_per_device");
  assert.equal(last.fields.notLogged, 49, "the hits that were not logged are told");
  assert.equal(logger.lines.length, 3);
});
