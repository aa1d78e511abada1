import assert from "node:assert/strict";
import { shutDown } from "../../app/shutdown.ts";
import { RecordingLogger } from "../support/recording_logger.ts";

Deno.test("shutDown: unready first, publishes drained, then link, delivery, ops, store", async () => {
  const steps: string[] = [];
  const logger = new RecordingLogger();
  await shutDown({
    logger,
    markShuttingDown: () => steps.push("unready"),
    publishes: {
      drain: () => steps.push("drain"),
      idle: () => (steps.push("publishes idle"), Promise.resolve(true)),
      inProgress: 0,
    },
    stopBackground: () => (steps.push("background"), Promise.resolve()),
    closeDevices: () => (steps.push("devices"), Promise.resolve()),
    flushPushes: () => (steps.push("flush"), Promise.resolve()),
    link: { stop: () => (steps.push("link"), Promise.resolve()) },
    flushLogs: () => steps.push("logs"),
    closeDelivery: () => steps.push("delivery"),
    closeOps: () => (steps.push("ops"), Promise.resolve()),
    store: { close: () => (steps.push("store"), Promise.resolve()) },
  }, 1000);
  assert.deepEqual(steps, [
    "unready",
    "drain",
    "background",
    "devices",
    "flush",
    "publishes idle",
    "link",
    "logs",
    "delivery",
    "ops",
    "store",
  ]);
  assert.ok(logger.lines.some((l) => l.message === "push server stopped"));
  assert.ok(!logger.lines.some((l) => l.message.startsWith("shutdown deadline passed")));
});

Deno.test("shutDown: publishes still open at the deadline are reported, and the rest closes", async () => {
  const logger = new RecordingLogger();
  let storeClosed = false;
  await shutDown({
    logger,
    markShuttingDown: () => {},
    publishes: { drain: () => {}, idle: () => Promise.resolve(false), inProgress: 3 },
    stopBackground: () => Promise.resolve(),
    closeDevices: () => Promise.resolve(),
    flushPushes: () => Promise.resolve(),
    link: { stop: () => Promise.resolve() },
    flushLogs: () => {},
    closeDelivery: () => {},
    closeOps: () => Promise.resolve(),
    store: { close: () => (storeClosed = true, Promise.resolve()) },
  }, 0);
  const warning = logger.lines.find((l) => l.message.startsWith("shutdown deadline passed"));
  assert.equal(warning?.fields?.publishes, 3);
  assert.ok(storeClosed);
});
