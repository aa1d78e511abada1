import assert from "node:assert/strict";

/** Runs bench/apns_send.ts in its own process; its one JSON line of figures. */
async function runApnsBench(engine: string, path: string): Promise<Record<string, unknown>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("../../bench/apns_send.ts", import.meta.url).pathname,
      "--pushes=400",
      "--concurrency=50",
      `--engine=${engine}`,
      `--path=${path}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const line = stdout.trim().split("\n").find((l) => l.includes('"apns-send"'));
  assert.ok(line, stdout);
  return JSON.parse(line);
}

Deno.test("bench apns-send pushes through the app over one connection to the fake in another process", async () => {
  const figures = await runApnsBench("node", "app");
  assert.equal(figures.path, "createApnsApp delivery");
  assert.equal(figures.failures, 0);
  assert.equal(figures["connections (fake)"], 1);
  assert.equal(figures["jwt verifications (fake)"], 1);
  assert.ok((figures["max streams at once (fake)"] as number) > 1);
  assert.ok((figures["pushes/s"] as number) > 0);
  assert.ok((figures["client cpu us/push"] as number) > 0);
});

Deno.test("bench apns-send also runs the bare sender against the lean Deno.serve responder", async () => {
  const figures = await runApnsBench("deno", "sender");
  assert.equal(figures.failures, 0);
  assert.equal(figures["connections (client, bare sender)"], 1);
  assert.ok((figures["pushes/s"] as number) > 0);
});
