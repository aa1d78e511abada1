import { assertFigures, runBench } from "./run_bench.ts";

Deno.test("bench push-inproc-apns pushes through the server to the fake APNs process, both paths", async () => {
  const run = await runBench(["push-inproc-apns", "--count=300", "--warmup=50"]);
  assertFigures(
    run,
    "push-inproc-apns",
    ["pushes/s", "p50 ms", "p99 ms", "cpu us/push", "fake cpu us/push", "apns 200s"],
    2,
  );
  for (const row of run.records[0].figures) {
    if (row["apns 200s"] !== 300) {
      throw new Error(`not one APNs request per publish: ${JSON.stringify(row)}`);
    }
  }
});
