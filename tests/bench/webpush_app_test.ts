import assert from "node:assert/strict";
import { benchWebPushApp } from "../../bench/webpush_app.ts";

Deno.test("bench webpush-app: every push through createWebPushApp is accepted by the verifying fake", async () => {
  const result = await benchWebPushApp({
    pushes: 60,
    concurrency: 8,
    subscriptions: 5,
    verify: true,
  });
  assert.equal(result.failures, 0);
  // The fake in its own process decrypted and verified each one.
  assert.equal(result.accepted, 60);
  assert.ok(result.perSecond > 0 && result.cpuUs > 0);
});

Deno.test("bench webpush-app: with ecdh openssl (in the thread and on a worker) every push is accepted by the verifying fake", async () => {
  for (const workers of [0, 1]) {
    const result = await benchWebPushApp({
      pushes: 60,
      concurrency: 8,
      subscriptions: 5,
      verify: true,
      workers,
      ecdh: "openssl",
    });
    assert.equal(result.failures, 0);
    // The fake decrypted each body with http_ece: OpenSSL's secret is the right one.
    assert.equal(result.accepted, 60);
  }
});
