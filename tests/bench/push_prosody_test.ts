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
    // One round (null, ours), the two best rows and the median ratio.
    // The median rows are summaries: only the ratio to the ceiling.
    assertFigures(
      run,
      "push-prosody",
      ["publishes", "pushes/s", "p50 ms", "p99 ms"],
      5,
      (row) => row.round === "median",
    );
    const figures = run.records[0].figures;
    for (const round of ["best", "median"]) {
      const ours = figures.find((row) => row.round === round && row.component === "push server");
      if (typeof ours?.["of ceiling"] !== "number") throw new Error(`no ${round} ratio`);
    }
    const publishRows = figures.filter((row) => row.round !== "median");
    for (const row of publishRows) {
      if (typeof row.publishes !== "number") throw new Error(JSON.stringify(row));
      if (typeof row["cpu us/publish: bench"] !== "number") throw new Error(JSON.stringify(row));
    }
  },
});
