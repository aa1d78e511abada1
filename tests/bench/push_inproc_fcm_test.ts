import { assertFigures, runBench } from "./run_bench.ts";

Deno.test("bench push-inproc-fcm pushes through the server to the fake FCM process", async () => {
  const run = await runBench(["push-inproc-fcm", "--count=300", "--warmup=50"]);
  assertFigures(
    run,
    "push-inproc-fcm",
    ["pushes/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "cpu us/push", "fcm sends"],
    1,
  );
});
