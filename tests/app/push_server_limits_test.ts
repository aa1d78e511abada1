/**
 * The limits as clients and users' servers see them, through the whole push server (device
 * port, component link, SQLite, fake WNS), configured from the `limits` section, and as the
 * metrics count them.
 */

import assert from "node:assert/strict";
import { publishIq } from "../../adapters/xmpp/publish_builder.ts";
import { TOO_MANY_REQUESTS } from "../../app/device_limits.ts";
import { eventually, PUSH_DOMAIN, sample, startLoopbackStack } from "../support/loopback_stack.ts";

const limitHits = async (stack: { get(path: string): Promise<{ body: string }> }, limit: string) =>
  sample((await stack.get("/metrics")).body, "uwpx_push_limit_hits_total", { limit });

const condition = (answer: { getChild(name: string): unknown; attrs: { type?: string } }) => {
  const error = answer.getChild("error") as
    | { attrs: { type: string }; children: { name: string }[] }
    | undefined;
  return error ? `${error.attrs.type}/${error.children[0].name}` : answer.attrs.type;
};

Deno.test("limits: publishes over a node's rate are answered wait/resource-constraint", async () => {
  const stack = await startLoopbackStack({
    configure: (json) => {
      json.limits = { xmpp: { publishesPerNode: { burst: 2, perSecond: 0.01 } } };
    },
  });
  try {
    const device = await stack.register(2);
    const [a, b] = device.accounts;
    assert.equal(condition(await stack.publish(a.node, a.secret)), "result");
    assert.equal(condition(await stack.publish(a.node, a.secret)), "result");
    assert.equal(condition(await stack.publish(a.node, a.secret)), "wait/resource-constraint");
    // The other node of the same device is not affected.
    assert.equal(condition(await stack.publish(b.node, b.secret)), "result");
    assert.equal(await limitHits(stack, "publishes_per_node"), 1);
    const metrics = (await stack.get("/metrics")).body;
    assert.equal(sample(metrics, "uwpx_push_publishes_total", { outcome: "throttled" }), 1);
    assert.equal(stack.wns.requests.filter((r) => r.path.startsWith("/channel/")).length, 3);
  } finally {
    await stack.stop();
  }
});

Deno.test("limits: a sending server over its rate is throttled, whatever the node", async () => {
  const stack = await startLoopbackStack({
    configure: (json) => {
      json.limits = { xmpp: { publishesPerServer: { burst: 3, perSecond: 0.01 } } };
    },
  });
  try {
    const device = await stack.register(1);
    const [a] = device.accounts;
    const from = (server: string) =>
      stack.xmpp.sendIq(
        publishIq({ to: PUSH_DOMAIN, from: server, node: a.node, secret: a.secret }),
      );
    for (let i = 0; i < 3; i++) assert.equal(condition(await from("flood.localhost")), "result");
    assert.equal(condition(await from("flood.localhost")), "wait/resource-constraint");
    assert.equal(condition(await from("user@Flood.localhost/r")), "wait/resource-constraint");
    assert.equal(condition(await from("calm.localhost")), "result");
    assert.equal(await limitHits(stack, "publishes_per_server"), 2);
  } finally {
    await stack.stop();
  }
});

Deno.test("limits: repeated publishes for an unknown node are answered from the negative cache", async () => {
  const stack = await startLoopbackStack();
  try {
    for (let i = 0; i < 5; i++) {
      assert.equal(condition(await stack.publish("no-such-node", "x")), "cancel/item-not-found");
    }
    assert.equal(await limitHits(stack, "unknown_node_cache"), 4);
    // A device registering right after works at once.
    const device = await stack.register(1);
    const [a] = device.accounts;
    assert.equal(condition(await stack.publish(a.node, a.secret)), "result");
  } finally {
    await stack.stop();
  }
});

Deno.test("limits: a device over its request rate is told to slow down", async () => {
  const stack = await startLoopbackStack({
    configure: (json) => {
      json.limits = {
        device: {
          requestsPerConnection: { burst: 100, perSecond: 100 },
          requestsPerDevice: { burst: 2, perSecond: 0.01 },
        },
      };
    },
  });
  try {
    const client = await stack.device();
    const deviceId = "ab".repeat(32);
    const request = { version: 2, action: "request_test_push", device_id: deviceId };
    assert.equal((await client.request(request)).status, 0);
    assert.equal((await client.request(request)).status, 0);
    assert.deepEqual(await client.request(request), {
      version: 2,
      action: "response",
      status: 0,
      error: TOO_MANY_REQUESTS,
    });
    // Another device on the same connection is served.
    const other = await client.request({ ...request, device_id: "cd".repeat(32) });
    assert.equal(other.error, "unknown device: send set_channel_uri first");
    client.close();
    assert.equal(await limitHits(stack, "requests_per_device"), 1);
  } finally {
    await stack.stop();
  }
});

Deno.test("limits: connections per address and a stanza over the size limit, as configured", async () => {
  const stack = await startLoopbackStack({
    configure: (json) => {
      json.limits = { device: { connectionsPerAddress: 1 }, xmpp: { maxStanzaBytes: 4096 } };
    },
  });
  try {
    const first = await stack.device();
    await assert.rejects(async () => {
      const second = await stack.device();
      await second.request({ version: 2, action: "request_test_push", device_id: "ab" });
    });
    first.close();
    assert.equal(await limitHits(stack, "connections_per_address"), 1);

    const device = await stack.register(1);
    const [a] = device.accounts;
    const huge = { "message-count": "1", "last-message-body": "x".repeat(8000) };
    await assert.rejects(stack.publish(a.node, a.secret, huge));
    await eventually(async () => (await limitHits(stack, "stanza_size")) === 1, "stanza_size");
    // The link comes back and publishes work again.
    await stack.xmpp.whenConnected(10_000);
    await stack.server.link.whenOnline();
    assert.equal(condition(await stack.publish(a.node, a.secret)), "result");
  } finally {
    await stack.stop();
  }
});

Deno.test("limits: the metrics tell how close live registrations are to the caps", async () => {
  const stack = await startLoopbackStack({
    configure: (json) => {
      json.limits = { registrations: { maxDevices: 3, maxAccounts: 5 } };
    },
  });
  try {
    const gauges = async () => {
      const text = (await stack.get("/metrics")).body;
      return [
        "uwpx_push_registered_devices",
        "uwpx_push_registered_accounts",
        "uwpx_push_registered_devices_max",
        "uwpx_push_registered_accounts_max",
      ].map((name) => sample(text, name));
    };
    assert.deepEqual(await gauges(), [0, 0, 3, 5]);
    await stack.register(2);
    await stack.register(3);
    assert.deepEqual(await gauges(), [2, 5, 3, 5]);
    // A third device fills the device cap; a fourth is refused, with a clear error.
    const client = await stack.device();
    const third = await client.request({
      version: 2,
      action: "set_channel_uri",
      device_id: "ef".repeat(32),
      channel_uri: stack.wns.channelUri(),
    });
    client.close();
    assert.equal(third.status, 1, "a third device still fits");
    await assert.rejects(stack.register(1), /set_channel_uri.*push server full/);
    assert.deepEqual(await gauges(), [3, 5, 3, 5]);
  } finally {
    await stack.stop();
  }
});

Deno.test("limits: the metrics tell live registrations per app, as of the last count", async () => {
  const stack = await startLoopbackStack({
    configure: (json) => {
      json.limits = { registrations: { countRefreshSeconds: 0.2 } };
    },
  });
  try {
    const wns = async () => {
      const text = (await stack.get("/metrics")).body;
      return [
        sample(text, "uwpx_push_registered_devices_by_app", { service: "wns", app: "wns" }),
        sample(text, "uwpx_push_registered_accounts_by_app", { service: "wns", app: "wns" }),
      ];
    };
    // The configured app shows from the start, at 0.
    assert.deepEqual(await wns(), [0, 0]);
    await stack.register(2);
    await stack.register(3);
    // The next count of the store brings them.
    await eventually(async () => (await wns())[0] === 2, "counted by app");
    assert.deepEqual(await wns(), [2, 5]);
  } finally {
    await stack.stop();
  }
});
