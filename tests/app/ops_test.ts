/**
 * The operations HTTP port against a whole server on loopback: metrics change as traffic
 * flows, readiness follows the XMPP link, the storage and the WNS credentials.
 */

import assert from "node:assert/strict";
import { xml } from "@xmpp/component";
import { NS_PUBSUB } from "../../adapters/xmpp/publish_parser.ts";
import { MemoryStore } from "../../adapters/storage/memory/memory_store.ts";
import { StorageUnavailableError } from "../../domain/ports/storage.ts";
import { eventually, sample, startLoopbackStack } from "../support/loopback_stack.ts";

Deno.test("ops: metrics count registrations, publishes and WNS answers", async () => {
  const stack = await startLoopbackStack();
  try {
    const before = (await stack.get("/metrics")).body;
    const ok = (action: string) => ({ action, outcome: "ok" });
    assert.equal(sample(before, "uwpx_push_device_requests_total", ok("set_channel_uri")), 0);
    assert.equal(sample(before, "uwpx_push_publishes_total", { outcome: "pushed" }), 0);
    assert.equal(sample(before, "uwpx_push_xmpp_link_up"), 1);

    const device = await stack.register(2);
    const [a, b] = device.accounts;
    assert.equal((await stack.publish(a.node, a.secret)).attrs.type, "result");
    assert.equal((await stack.publish(b.node, b.secret)).attrs.type, "result");
    assert.equal((await stack.publish(a.node, "wrong")).attrs.type, "error");
    assert.equal((await stack.publish("no-such-node", "x")).attrs.type, "error");
    const malformed = xml(
      "iq",
      { type: "set" },
      xml("pubsub", { xmlns: NS_PUBSUB }, xml("publish")),
    );
    assert.equal((await stack.xmpp.sendIq(malformed)).attrs.type, "error");
    const client = await stack.device();
    await client.request({ version: 2, action: "set_channel_uri", device_id: "x" }); // invalid
    const open = (await stack.get("/metrics")).body;
    client.close();

    const after = (await stack.get("/metrics")).body;
    assert.equal(sample(after, "uwpx_push_device_requests_total", ok("set_channel_uri")), 1);
    assert.equal(sample(after, "uwpx_push_device_requests_total", ok("set_push_accounts")), 1);
    assert.equal(
      sample(after, "uwpx_push_device_requests_total", { action: "invalid", outcome: "refused" }),
      1,
    );
    assert.equal(sample(after, "uwpx_push_publishes_total", { outcome: "pushed" }), 2);
    assert.equal(sample(after, "uwpx_push_publishes_total", { outcome: "forbidden" }), 1);
    assert.equal(sample(after, "uwpx_push_publishes_total", { outcome: "unknown-node" }), 1);
    assert.equal(sample(after, "uwpx_push_publishes_total", { outcome: "bad-request" }), 1);
    assert.equal(sample(after, "uwpx_push_wns_responses_total", { status: "200" }), 2);
    assert.equal(sample(after, "uwpx_push_wns_request_duration_seconds_count"), 2);
    assert.ok(sample(after, "uwpx_push_wns_request_duration_seconds_sum")! > 0);
    assert.equal(sample(after, "uwpx_push_queue_depth"), 0);
    assert.equal(sample(open, "uwpx_push_device_connections"), 1, "one device connected");
    assert.equal(
      sample(after, "uwpx_push_storage_errors_total", { operation: "findNode" }),
      undefined,
    );
    const expiry = sample(after, "uwpx_push_tls_certificate_expiry_timestamp_seconds")!;
    assert.ok(expiry > Date.now() / 1000, "the certificate's expiry is in the future");
    assert.ok(sample(after, "process_resident_memory_bytes")! > 0, "process metrics");
  } finally {
    await stack.stop();
  }
});

Deno.test("ops: /healthz is up; /readyz flips when the XMPP link goes down", async () => {
  const stack = await startLoopbackStack();
  try {
    assert.deepEqual(await stack.get("/healthz"), { status: 200, body: "ok\n" });
    const ready = await stack.get("/readyz");
    assert.equal(ready.status, 200, ready.body);
    assert.equal(ready.body, "ready\nstorage: ok\nxmpp: ok\nwns: ok\n");

    await stack.xmpp.close(); // The users' XMPP server goes away.
    await eventually(() => !stack.server.link.online, "the link to notice");
    const down = await stack.get("/readyz");
    assert.equal(down.status, 503);
    assert.match(down.body, /^not ready\n/);
    assert.match(down.body, /^xmpp: failing: the link to the XMPP server is down$/m);
    assert.match(down.body, /^storage: ok$/m);
    assert.equal((await stack.get("/healthz")).status, 200, "still alive");
    const metrics = (await stack.get("/metrics")).body;
    assert.equal(sample(metrics, "uwpx_push_xmpp_link_up"), 0);
    assert.deepEqual(await stack.get("/nowhere").then((r) => r.status), 404);
  } finally {
    await stack.stop();
  }
});

/** A memory store that fails like an unreachable backend while `failing` is set. */
class FlakyStore extends MemoryStore {
  failing = false;
  #check(): void {
    if (this.failing) throw new StorageUnavailableError("backend unreachable (test)");
  }
  override ping(): Promise<void> {
    return Promise.resolve().then(() => this.#check()).then(() => super.ping());
  }
  override saveTarget(...args: Parameters<MemoryStore["saveTarget"]>): Promise<void> {
    return Promise.resolve().then(() => this.#check()).then(() => super.saveTarget(...args));
  }
}

Deno.test("ops: /readyz flips when the storage fails, and storage errors are counted", async () => {
  const store = new FlakyStore();
  const stack = await startLoopbackStack({ overrides: { store } });
  try {
    assert.equal((await stack.get("/readyz")).status, 200);
    store.failing = true;
    const down = await stack.get("/readyz");
    assert.equal(down.status, 503);
    assert.match(down.body, /^storage: failing: backend unreachable \(test\)$/m);
    assert.match(down.body, /^xmpp: ok$/m);

    const client = await stack.device();
    const answer = await client.request({
      version: 2,
      action: "set_channel_uri",
      device_id: "ab12",
      channel_uri: stack.wns.channelUri(),
    });
    client.close();
    assert.equal(answer.status, 0);
    const metrics = (await stack.get("/metrics")).body;
    assert.equal(sample(metrics, "uwpx_push_storage_errors_total", { operation: "ping" }), 1);
    assert.equal(
      sample(metrics, "uwpx_push_storage_errors_total", { operation: "saveTarget" }),
      1,
    );
    assert.equal(
      sample(metrics, "uwpx_push_device_requests_total", {
        action: "set_channel_uri",
        outcome: "unavailable",
      }),
      1,
    );

    store.failing = false;
    assert.equal((await stack.get("/readyz")).status, 200, "ready again");
  } finally {
    await stack.stop();
  }
});

Deno.test("ops: /readyz says when no WNS token can be had, without asking on every probe", async () => {
  const stack = await startLoopbackStack();
  try {
    // A fresh token source: the first probe asks the token endpoint, which refuses.
    stack.wns.failNextToken(400, JSON.stringify({ error: "invalid_client" }));
    const down = await stack.get("/readyz");
    assert.equal(down.status, 503);
    assert.match(down.body, /^wns: failing: WNS token endpoint answered 400 \(invalid_client\)$/m);
    const asked = stack.wns.tokenRequests.length;
    assert.equal((await stack.get("/readyz")).status, 503, "the failure is remembered");
    assert.equal(stack.wns.tokenRequests.length, asked, "no new token request");
    assert.ok(!down.body.includes(stack.wns.clientSecret));
  } finally {
    await stack.stop();
  }
});

Deno.test("ops: no http section, no HTTP port", async () => {
  const stack = await startLoopbackStack({ configure: (json) => delete json.http });
  try {
    assert.equal(stack.server.ops, null);
    // The readiness checks and metrics still run in the process.
    assert.equal((await stack.server.readiness.run()).ready, true);
  } finally {
    await stack.stop();
  }
});
