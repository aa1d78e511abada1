/**
 * The logs of a whole flow, at debug level, in both formats: one parseable line per event,
 * and not one secret, token, channel token, whole id or piece of message content in them.
 * The operations port's answers are scanned too.
 */

import assert from "node:assert/strict";
import { ConsoleLogger, type LogFormat } from "../../adapters/logging/console_logger.ts";
import { eventually, startLoopbackStack } from "../support/loopback_stack.ts";

const BODY = "Dinner at eight? Bring the key 4711";
const SENDER = "juliet@capulet.example";

for (const format of ["json", "logfmt"] as LogFormat[]) {
  Deno.test(`logs (${format}): a full flow leaks no secret and writes one line per event`, async () => {
    const lines: string[] = [];
    const logger = new ConsoleLogger("debug", format, (line) => lines.push(line));
    // Tight limits, so that limit lines are written (and scanned) too.
    const stack = await startLoopbackStack({
      logger,
      configure: (json) => {
        json.limits = {
          device: { requestsPerDevice: { burst: 6, perSecond: 0.01 } },
          xmpp: { publishesPerNode: { burst: 3, perSecond: 0.01 } },
        };
      },
    });
    const secrets: string[] = [];
    try {
      const device = await stack.register(2);
      const [a, b] = device.accounts;
      const summary = {
        "message-count": "3",
        "last-message-sender": SENDER,
        "last-message-body": BODY,
      };
      assert.equal((await stack.publish(a.node, a.secret, summary)).attrs.type, "result");
      assert.equal((await stack.publish(b.node, "guessed-secret", summary)).attrs.type, "error");
      // A WNS failure and a channel that went away are logged with their details.
      stack.wns.failNext(device.channelUri, 500, { "X-WNS-Error-Description": "test" });
      await stack.publish(b.node, b.secret, summary);
      const client = await stack.device();
      assert.equal(
        (await client.request({
          version: 2,
          action: "request_test_push",
          device_id: device.deviceId,
        })).status,
        1,
      );
      // Bad input: an invalid channel carrying a token-like query, and a malformed frame.
      await client.request({
        version: 2,
        action: "set_channel_uri",
        device_id: device.deviceId,
        channel_uri: "https://evil.example/?token=SHOULD-NOT-BE-LOGGED",
      });
      // Over the limits: a device asking too often, a node published to too often, publishes
      // for a node nobody registered.
      for (let i = 0; i < 4; i++) {
        await client.request({
          version: 2,
          action: "request_test_push",
          device_id: device.deviceId,
        });
      }
      for (let i = 0; i < 3; i++) await stack.publish(b.node, b.secret, summary);
      for (let i = 0; i < 3; i++) await stack.publish(`${a.node}-unknown`, a.secret, summary);
      client.close();
      stack.wns.expireChannel(device.channelUri);
      await stack.publish(a.node, a.secret, summary);
      await eventually(
        () => lines.some((line) => line.includes("channel gone")),
        "the channel-gone line",
      );
      const probes = [
        (await stack.get("/metrics")).body,
        (await stack.get("/readyz")).body,
      ].join("\n");

      secrets.push(
        device.deviceId,
        device.channelUri,
        new URL(device.channelUri).searchParams.get("token")!,
        "SHOULD-NOT-BE-LOGGED",
        ...device.accounts.flatMap((account) => [account.node, account.secret, account.account_id]),
        "guessed-secret",
        ...stack.wns.issuedTokens,
        stack.wns.clientSecret,
        stack.config.xmpp.password,
        BODY,
        "Dinner",
        SENDER,
      );
      assert.ok(stack.wns.issuedTokens.length > 0);
      await stack.server.close(1000);

      assert.ok(lines.length > 10, `only ${lines.length} lines`);
      const everything = lines.join("\n") + probes;
      for (const secret of secrets) {
        assert.ok(!everything.includes(secret), `leaked: ${secret.slice(0, 12)}…`);
      }
      for (const line of lines) {
        assert.ok(!/[\r\n]/.test(line), `one line per event: ${line}`);
        if (format === "json") {
          const parsed = JSON.parse(line);
          assert.equal(typeof parsed.time, "string");
          assert.match(parsed.level, /^(debug|info|warn|error)$/);
          assert.equal(typeof parsed.msg, "string");
        } else {
          assert.match(line, /^time=\S+ level=(debug|info|warn|error) msg=/);
        }
      }
      for (
        const limit of ["requests_per_device", "publishes_per_node", "unknown_node_cache"]
      ) {
        assert.ok(lines.some((line) => line.includes(limit)), `a line for ${limit}`);
      }
      // Ids are there, shortened, so that lines can be correlated.
      assert.ok(lines.some((line) => line.includes(device.deviceId.slice(0, 8))));
    } finally {
      await stack.stop();
    }
  });
}
