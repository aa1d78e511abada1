import assert from "node:assert/strict";

const SCRIPT = new URL("../../bench/http_client_ab.ts", import.meta.url).pathname;

Deno.test("bench http_client_ab posts through each client to the fake WNS and prints its figures", async () => {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      SCRIPT,
      "--count=200",
      "--concurrency=8",
      "--rounds=1",
      "--clients=http1_client,undici,fetch",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(result.stdout);
  const stderr = new TextDecoder().decode(result.stderr);
  // The script throws on any answer but 200, so a zero exit means every POST was accepted.
  assert.equal(result.code, 0, `${stdout}\n${stderr}`);
  for (const client of ["http1_client", "undici", "fetch"]) {
    assert.match(
      stdout,
      new RegExp(`^1 +${client} +\\d+ +\\d+\\.\\d +\\d+\\.\\d\\d$`, "m"),
      stdout,
    );
  }
});
