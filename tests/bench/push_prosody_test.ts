import { serverTestGate } from "../support/prosody.ts";
import { assertFigures, runBench } from "./run_bench.ts";

Deno.test({
  name: "bench push-prosody runs through Prosody, against the null component too",
  ...serverTestGate("prosody"),
  fn: async () => {
    const run = await runBench([
      "push-prosody",
      "--count=200",
      "--warmup=20",
      "--rounds=1",
      "--concurrency=16",
    ]);
    // One round (null, ours) and the two best rows.
    assertFigures(run, "push-prosody", ["publishes", "pushes/s", "p50 ms", "p99 ms"], 4);
    const best = run.records[0].figures.filter((row) => row.round === "best");
    const ours = best.find((row) => row.component === "push server");
    if (typeof ours?.["of ceiling"] !== "number") throw new Error("no ratio to the ceiling");
  },
});
