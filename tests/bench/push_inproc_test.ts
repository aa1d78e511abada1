import { serverTestGate } from "../support/prosody.ts";
import { assertFigures, runBench } from "./run_bench.ts";

Deno.test({
  name: "bench push-inproc runs on SQLite and Redis and prints its figures",
  ...serverTestGate("redis-server"),
  fn: async () => {
    const run = await runBench(["push-inproc", "--count=300", "--warmup=50"]);
    assertFigures(
      run,
      "push-inproc",
      ["pushes/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "cpu us/push", "wns posts"],
      2,
    );
  },
});
