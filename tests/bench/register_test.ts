import { serverTestGate } from "../support/prosody.ts";
import { assertFigures, runBench } from "./run_bench.ts";

Deno.test({
  name: "bench register runs TLS registrations on SQLite and Redis and prints its figures",
  ...serverTestGate("redis-server"),
  fn: async () => {
    const run = await runBench(["register", "--count=100", "--warmup=10", "--concurrency=8"]);
    assertFigures(
      run,
      "register",
      ["registrations", "registrations/s", "p50 ms", "p90 ms", "p99 ms", "max ms"],
      2,
    );
  },
});
