import { serverTestGate } from "../support/prosody.ts";
import { assertFigures, runBench } from "./run_bench.ts";

Deno.test({
  name: "bench latency-under-load runs at fixed rates and prints its figures",
  ...serverTestGate("redis-server"),
  fn: async () => {
    const run = await runBench([
      "latency-under-load",
      "--rates=100,300",
      "--seconds=1",
      "--warmup=50",
    ]);
    assertFigures(
      run,
      "latency-under-load",
      ["offered/s", "sent/s", "achieved/s", "p50 ms", "p99 ms", "max ms"],
      4,
    );
  },
});
