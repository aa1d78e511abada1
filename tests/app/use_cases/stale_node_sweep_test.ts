import assert from "node:assert/strict";
import {
  StaleNodeSweep,
  type StaleNodeSweepDeps,
} from "../../../app/use_cases/stale_node_sweep.ts";
import type { NodeTarget } from "../../../domain/registration.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

/** A node of our format, numbered: 20 base64url characters. */
function ours(i: number): string {
  return `node${String(i).padStart(16, "0")}`;
}

const FOREIGN = ["urn:xmpp:bookmarks:1", "urn:xmpp:avatar:metadata", "storage:bookmarks"];

interface Fixture {
  listed: string[] | Error;
  known?: Set<string>;
  recent?: Set<string>;
  unsure?: boolean;
  failLookupOf?: string;
  limits?: StaleNodeSweepDeps["limits"];
  listing?: StaleNodeSweepDeps["listing"];
}

function setup(fixture: Fixture) {
  const removed: string[][] = [];
  const lookedUp: string[] = [];
  let counted = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const sleeps: number[] = [];
  const logger = new RecordingLogger();
  let listings = 0;
  const sweep = new StaleNodeSweep({
    listing: fixture.listing,
    nodes: {
      listOwnNodes: () => {
        listings++;
        return fixture.listed instanceof Error
          ? Promise.reject(fixture.listed)
          : Promise.resolve([...fixture.listed]);
      },
    },
    store: {
      async findNode(node) {
        lookedUp.push(node);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await Promise.resolve();
        inFlight--;
        if (node === fixture.failLookupOf) throw new Error("storage down");
        return fixture.known?.has(node) ? ({ node } as unknown as NodeTarget) : null;
      },
    },
    provisioner: {
      provision(added, gone) {
        assert.deepEqual(added, [], "the sweep never sets a node up");
        removed.push([...gone]);
        return Promise.resolve(new Set());
      },
    },
    recent: {
      unsure: () => fixture.unsure ?? false,
      isRecent: (node) => fixture.recent?.has(node) ?? false,
    },
    clock: { now: () => 1_000 },
    logger,
    metrics: { staleNodesRemoved: (n) => counted += n },
    limits: fixture.limits,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  });
  return {
    sweep,
    logger,
    removed,
    lookedUp,
    sleeps,
    counted: () => counted,
    maxInFlight: () => maxInFlight,
    listings: () => listings,
  };
}

Deno.test("sweep: skipped, with a warning, when the listing would not fit in one stanza", async () => {
  let live = 20_000;
  const s = setup({
    listed: [ours(1)],
    listing: { maxNodes: 8192, expectedNodes: () => live },
  });
  assert.deepEqual(await s.sweep.runRound(), { outcome: "skipped", reason: "too-many-nodes" });
  assert.equal(s.listings(), 0, "never asked for a listing that would end the stream");
  assert.deepEqual(s.removed, []);
  const warning = s.logger.lines.find((line) => line.level === "warn");
  assert.equal(warning?.message, "stale pep node sweep skipped: too many nodes for one listing");
  // Fewer accounts: the next round lists and sweeps.
  live = 100;
  const round = await s.sweep.runRound();
  assert.equal(round.outcome, "done");
  assert.equal(s.listings(), 1);
  assert.deepEqual(s.removed, [[ours(1)]]);
});

Deno.test("sweep: removes our nodes storage does not know, keeps known, recent and foreign ones", async () => {
  const [dead1, live, fresh, dead2] = [ours(1), ours(2), ours(3), ours(4)];
  const t = setup({
    listed: [...FOREIGN, dead1, live, fresh, dead2],
    known: new Set([live]),
    recent: new Set([fresh]),
  });
  const round = await t.sweep.runRound();
  assert.deepEqual(t.removed.flat(), [dead1, dead2]);
  assert.ok(!t.lookedUp.some((node) => FOREIGN.includes(node)), "foreign nodes never looked up");
  assert.ok(!t.lookedUp.includes(fresh), "recent nodes never looked up");
  assert.deepEqual(round, {
    outcome: "done",
    listed: 7,
    foreign: 3,
    recent: 1,
    looked: 3,
    removed: 2,
    capped: false,
  });
  assert.equal(t.counted(), 2);
  const lines = t.logger.lines.filter((l) => l.message === "stale pep node sweep");
  assert.equal(lines.length, 1, "one line per round");
  assert.equal(lines[0].fields.removed, 2);
  for (const node of [dead1, live, fresh, dead2]) {
    assert.ok(!t.logger.text().includes(node), "a whole node name was logged");
  }
});

Deno.test("sweep: a storage error in any lookup deletes nothing", async () => {
  const nodes = Array.from({ length: 120 }, (_, i) => ours(i));
  const t = setup({ listed: nodes, failLookupOf: nodes[110], limits: { lookupBatch: 50 } });
  const round = await t.sweep.runRound();
  assert.equal(round.outcome, "aborted");
  assert.deepEqual(t.removed, [], "nothing deleted on doubt");
  assert.equal(t.counted(), 0);
  assert.equal(t.logger.at("warn").length, 1);
  assert.match(t.logger.at("warn")[0].message, /aborted, nothing deleted/);
});

Deno.test("sweep: a failed listing (link down, server error) deletes nothing", async () => {
  const error = Object.assign(new Error("no"), { condition: "service-unavailable" });
  const t = setup({ listed: error });
  assert.deepEqual(await t.sweep.runRound(), {
    outcome: "aborted",
    stage: "list",
    reason: "service-unavailable",
  });
  assert.deepEqual(t.removed, []);
});

Deno.test("sweep: while unsure (just started), nothing is listed or deleted", async () => {
  const t = setup({ listed: [ours(1)], unsure: true });
  assert.deepEqual(await t.sweep.runRound(), { outcome: "skipped", reason: "unsure" });
  assert.deepEqual(t.lookedUp, []);
  assert.deepEqual(t.removed, []);
});

Deno.test("sweep: at most maxRemovalsPerRound a round, in paced batches, lookups bounded", async () => {
  const nodes = Array.from({ length: 2500 }, (_, i) => ours(i));
  const t = setup({ listed: nodes });
  const first = await t.sweep.runRound();
  assert.equal(first.outcome, "done");
  if (first.outcome !== "done") return;
  assert.equal(first.removed, 1000);
  assert.equal(first.capped, true);
  assert.ok(first.looked <= 1050, `looked up ${first.looked}: more than needed`);
  assert.ok(t.maxInFlight() <= 50, `${t.maxInFlight()} lookups at once`);
  assert.deepEqual(t.removed.flat(), nodes.slice(0, 1000));
  assert.ok(t.removed.every((batch) => batch.length <= 20), "batches of at most 20");
  assert.equal(t.removed.length, 50);
  assert.equal(t.sleeps.length, 49, "a pause between two batches");
  assert.ok(t.sleeps.every((ms) => ms > 0));
  assert.equal(t.counted(), 1000);
});

Deno.test("sweep: a round already running is not started twice; none after stop", async () => {
  const t = setup({ listed: [ours(1)] });
  const [a, b] = await Promise.all([t.sweep.runRound(), t.sweep.runRound()]);
  assert.equal(a.outcome, "done");
  assert.deepEqual(b, { outcome: "skipped", reason: "running" });
  await t.sweep.stop();
  assert.deepEqual(await t.sweep.runRound(), { outcome: "skipped", reason: "stopped" });
  assert.equal(t.removed.flat().length, 1);
});
