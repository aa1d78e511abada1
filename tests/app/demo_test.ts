/** `deno task demo` runs the whole flow with nothing but Deno and shows what the device got. */

import assert from "node:assert/strict";

Deno.test("the demo delivers two pushes and a test push, and nothing of the messages", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("../../app/demo.ts", import.meta.url).pathname],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const received = stdout.split("== WNS -> device: the raw notifications the device received\n")[1];
  assert.ok(received, "the demo did not show what WNS delivered");
  const pushes = JSON.parse(received.slice(0, received.lastIndexOf("]") + 1));
  assert.deepEqual(pushes.map((p: { action: string }) => p.action), ["push", "push", "test_push"]);
  assert.ok(pushes.every((p: Record<string, unknown>) => !JSON.stringify(p).includes("noon")));
  assert.match(stdout, /<forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"\/>/);
});
