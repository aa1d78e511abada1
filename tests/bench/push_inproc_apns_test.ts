import assert from "node:assert/strict";
import { serverTestGate } from "../support/server_kit.ts";
import { assertFigures, runBench } from "./run_bench.ts";

Deno.test({
  name:
    "bench push-inproc-apns pushes through the server to the fake APNs process: stateless, registered on SQLite and Redis",
  ...serverTestGate("redis-server"),
  fn: async () => {
    const run = await runBench(["push-inproc-apns", "--count=300", "--warmup=50"]);
    assertFigures(
      run,
      "push-inproc-apns",
      ["pushes/s", "p50 ms", "p99 ms", "cpu us/push", "fake cpu us/push", "apns 200s"],
      3,
    );
    const rows = run.records[0].figures;
    assert.deepEqual(
      rows.map((row) => `${row.path} ${row.storage}`),
      ["stateless none", "registered sqlite", "registered redis"],
    );
    // Every publish (a registered one found in the store) became one APNs request.
    for (const row of rows) assert.equal(row["apns 200s"], 300, JSON.stringify(row));
  },
});
