import { serverTestGate } from "../support/prosody.ts";
import { assertFigures, runBench } from "./run_bench.ts";

Deno.test({
  name: "bench scale runs at two sizes on SQLite and Redis and prints its figures",
  ...serverTestGate("redis-server"),
  fn: async () => {
    const run = await runBench(["scale", "--sizes=500,2000", "--count=300", "--warmup=50"]);
    assertFigures(
      run,
      "scale",
      ["devices", "load/s", "startup ms", "pushes/s", "p50 ms", "p99 ms", "rss MiB"],
      4,
    );
  },
});
