import assert from "node:assert/strict";
import { serverTestGate } from "../support/server_kit.ts";
import { assertFigures, runBench } from "./run_bench.ts";

Deno.test({
  name:
    "bench push-inproc-fcm pushes through the server to the fake FCM process, on SQLite and Redis",
  ...serverTestGate("redis-server"),
  fn: async () => {
    const run = await runBench(["push-inproc-fcm", "--count=300", "--warmup=50"]);
    assertFigures(
      run,
      "push-inproc-fcm",
      ["pushes/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "cpu us/push", "fcm sends"],
      2,
    );
    const rows = run.records[0].figures;
    assert.deepEqual(rows.map((row) => row.storage), ["sqlite", "redis"]);
    // Every publish found its registration in the store and became one FCM request.
    for (const row of rows) assert.equal(row["fcm sends"], 300, JSON.stringify(row));
  },
});
