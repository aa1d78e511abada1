/** `deno task demo` runs the whole flow with nothing but Deno and shows what the device got. */

import assert from "node:assert/strict";

Deno.test("the demo delivers two WNS pushes, a test push and an FCM wakeup, and nothing of the messages", async () => {
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
  // The Android phone's FCM app: one HIGH data message carrying p2's hash and nothing else.
  const toFcm = stdout.split("== FCM -> phone: the data messages FCM was asked to deliver\n")[1];
  assert.ok(toFcm, "the demo did not show what FCM was sent");
  const messages = JSON.parse(toFcm.slice(0, toFcm.indexOf("\n]") + 2));
  assert.equal(messages.length, 1);
  const [{ data, android }] = messages;
  assert.deepEqual(Object.keys(data), ["account"]);
  assert.match(data.account, /^[0-9a-f]{40}$/);
  assert.deepEqual(android, {
    priority: "HIGH",
    ttl: "86400s",
    collapse_key: data.account.slice(0, 6),
  });
});
