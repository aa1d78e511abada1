/**
 * The operator CLI (`deno task cli`), run as a subprocess against a server running on
 * loopback with SQLite, the fake XEP-0114 server and the fake WNS.
 */

import assert from "node:assert/strict";
import { mask } from "../../app/cli.ts";
import { storedDeviceId } from "../../adapters/storage/device_key.ts";
import { type LoopbackStack, randomHex, startLoopbackStack } from "../support/loopback_stack.ts";
import { serverTestGate } from "../support/prosody.ts";
import { startRedis } from "../support/redis.ts";
import { runScript, type ScriptRun } from "../support/script_run.ts";

const CLI = new URL("../../app/cli.ts", import.meta.url).pathname;
const MAIN = new URL("../../app/main.ts", import.meta.url).pathname;

function run(args: string[], script = CLI): Promise<ScriptRun> {
  return runScript(script, args);
}

function deviceFlags(stack: LoopbackStack): string[] {
  return [
    "--host",
    "127.0.0.1",
    "--port",
    String(stack.server.devices.addr.port),
    "--ca",
    `${stack.dir}/server.cert`,
  ];
}

Deno.test("cli: usage errors exit 2, --help exits 0", async () => {
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  for (const command of ["register", "test-push", "show-device", "count", "purge", "check"]) {
    assert.match(help.stdout, new RegExp(`^  ${command}`, "m"));
  }
  assert.equal((await run([])).code, 2);
  const unknown = await run(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  assert.equal((await run(["show-device"])).code, 2);
  assert.equal((await run(["count", "--nope"])).code, 2);
  assert.equal((await run(["register", "--port", "x", "--channel-uri", "u"])).code, 2);
  // The server's entry point hands `cli` over, as the compiled binary does.
  const viaMain = await run(["cli", "--help"], MAIN);
  assert.equal(viaMain.code, 0);
  assert.match(viaMain.stdout, /operator commands/);
});

Deno.test("cli: register, test-push, show-device, show-node, count, purge, check", async () => {
  const stack = await startLoopbackStack();
  try {
    const config = ["--config", stack.configPath];
    const channelUri = stack.wns.channelUri();
    const accounts = [randomHex(), randomHex()];
    const deviceId = randomHex();
    const registered = await run([
      "register",
      ...deviceFlags(stack),
      "--device-id",
      deviceId,
      "--channel-uri",
      channelUri,
      "--account",
      accounts[0],
      "--account",
      accounts[1],
    ]);
    assert.equal(registered.code, 0, registered.stderr);
    assert.match(registered.stderr, /connecting to 127\.0\.0\.1:\d+…/);
    assert.match(registered.stdout, /^set_channel_uri: ok$/m);
    assert.match(registered.stdout, /^set_push_accounts: ok$/m);
    assert.match(registered.stdout, /^push_bare_jid: push\.localhost$/m);
    // The device id is a credential: only its short form is printed.
    assert.match(registered.stdout, new RegExp(`^device_id: ${deviceId.slice(0, 8)}…$`, "m"));
    assert.ok(!registered.stdout.includes(deviceId) && !registered.stderr.includes(deviceId));
    const lines = [
      ...registered.stdout.matchAll(/^account (\S+): node (\S+) secret (\S+) ready$/gm),
    ];
    assert.deepEqual(lines.map((line) => line[1]), accounts);
    const node = lines[0][2];
    const stored = await stack.server.store.findNode(node, Date.now());
    assert.ok(stored, "the node the CLI printed is registered");
    assert.equal(lines[0][3], mask(stored.secret), "secrets are masked");
    assert.ok(!registered.stdout.includes(stored.secret));

    const pushed = await run(["test-push", ...deviceFlags(stack), "--device-id", deviceId]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /^request_test_push: ok$/m);
    assert.equal(stack.wns.received.length, 1);

    const shown = await run(["show-device", deviceId, ...config]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`^device: ${deviceId.slice(0, 8)}…$`, "m"));
    assert.ok(!shown.stdout.includes(deviceId) && !shown.stderr.includes(deviceId));
    assert.match(
      shown.stdout,
      /^channel: http:\/\/127\.0\.0\.1:\d+\/channel\/\S+\?token=\*\*\*\*$/m,
    );
    assert.match(shown.stdout, /^accounts: 2$/m);
    assert.ok(!shown.stdout.includes(stored.secret) && !shown.stdout.includes(node));
    assert.ok(!shown.stdout.includes(new URL(channelUri).searchParams.get("token")!));
    const revealed = await run(["show-device", deviceId, ...config, "--show-secrets"]);
    assert.ok(revealed.stdout.includes(stored.secret) && revealed.stdout.includes(channelUri));
    assert.ok(!revealed.stdout.includes(deviceId), "show-device printed the id it was given");

    const byNode = await run(["show-node", node, ...config]);
    assert.equal(byNode.code, 0, byNode.stderr);
    assert.match(byNode.stdout, new RegExp(`^account: ${accounts[0]}$`, "m"));
    // SQLite keeps only a hash of the device id: that is all a node can tell.
    const key = storedDeviceId(deviceId);
    assert.match(byNode.stdout, new RegExp(`^device: ${key.slice(0, 8)}…$`, "m"));
    const byNodeRevealed = await run(["show-node", node, ...config, "--show-secrets"]);
    assert.match(byNodeRevealed.stdout, new RegExp(`^device: ${key}$`, "m"));
    for (const out of [byNode.stdout, byNodeRevealed.stdout]) assert.ok(!out.includes(deviceId));
    assert.equal((await run(["show-node", "no-such-node", ...config])).code, 1);
    const missing = await run(["show-device", "f00d", ...config]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no live registration for device f00d/);

    const counted = await run(["count", ...config]);
    assert.equal(counted.code, 0, counted.stderr);
    // The totals first, as before; then each app's share.
    assert.match(counted.stdout, /^devices: 1\naccounts: 2\nwns\/wns: devices 1, accounts 2\n$/);
    const purged = await run(["purge", ...config]);
    assert.equal(purged.code, 0, purged.stderr);
    assert.match(purged.stdout, /^purged: 0 devices$/m);

    const checked = await run(["check", ...config]);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    for (const name of ["configuration", "TLS certificate", "storage", "WNS access token"]) {
      assert.match(checked.stdout, new RegExp(`^${name}: ok`, "m"));
    }
    assert.match(
      checked.stdout,
      /^XMPP server: ok \(127\.0\.0\.1:\d+ accepts connections; not logged in\)$/m,
    );
    assert.match(checked.stdout, /^storage: ok \(reachable, 1 devices, 2 accounts\)$/m);
    assert.match(checked.stderr, /^\[4\/4\] XMPP server…$/m);
    assert.ok(!checked.stdout.includes(stack.wns.clientSecret));
  } finally {
    await stack.stop();
  }
});

Deno.test("cli: failures are explained and exit 1", async () => {
  const stack = await startLoopbackStack();
  try {
    // The server's certificate is self-signed: refused without --ca, accepted with --insecure.
    const port = ["--host", "127.0.0.1", "--port", String(stack.server.devices.addr.port)];
    const untrusted = await run(["register", ...port, "--channel-uri", stack.wns.channelUri()]);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /failed: cannot connect to 127\.0\.0\.1:\d+/);
    const insecure = await run([
      "register",
      ...port,
      "--insecure",
      "--channel-uri",
      stack.wns.channelUri(),
    ]);
    assert.equal(insecure.code, 0, insecure.stderr);

    const refused = await run([
      "register",
      ...deviceFlags(stack),
      "--channel-uri",
      "https://example.org/not-wns",
    ]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stdout,
      /^set_channel_uri: refused: channel_uri is not a WNS channel URI$/m,
    );
    const unknown = await run(["test-push", ...deviceFlags(stack), "--device-id", "f00d"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stdout, /^request_test_push: refused: unknown device/m);

    // Wrong WNS credentials and a missing database are reported, step by step.
    const config = JSON.parse(await Deno.readTextFile(stack.configPath));
    config.wns.clientSecret = "wrong";
    config.db.url = `sqlite:${stack.dir}/nothing/here.db`;
    const badPath = `${stack.dir}/bad.json`;
    await Deno.writeTextFile(badPath, JSON.stringify(config));
    const checked = await run(["check", "--config", badPath]);
    assert.equal(checked.code, 1);
    assert.match(checked.stdout, /^WNS access token: FAILED: WNS token endpoint answered 40\d/m);
    assert.match(checked.stdout, /^storage: FAILED: /m);
    assert.match(checked.stdout, /^TLS certificate: ok/m);
    assert.match(checked.stderr, /failed: 2 of 4 checks failed/);
    assert.ok(!checked.stdout.includes("wrong") && !checked.stderr.includes("wrong"));
    const noDb = await run(["count", "--config", badPath]);
    assert.equal(noDb.code, 1);
    assert.match(noDb.stderr, /no SQLite database at /);
    const noConfig = await run(["count", "--config", `${stack.dir}/absent.json`]);
    assert.equal(noConfig.code, 1);
    assert.match(noConfig.stderr, /no configuration at /);
  } finally {
    await stack.stop();
  }
});

for (const storage of ["sqlite", "redis"] as const) {
  Deno.test({
    name: `cli: registrations by command (p2's FCM) are shown, counted and purged (${storage})`,
    ...(storage === "redis" ? serverTestGate("redis-server") : {}),
    fn: () => commandRegistrationsInCli(storage),
  });
}

Deno.test("cli: a Web Push registration is shown by its JID and endpoint, the endpoint masked", async () => {
  const stack = await startLoopbackStack({});
  try {
    const config = ["--config", stack.configPath];
    const endpoint = "https://push.example.net/up/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    const key = new Uint8Array(
      await crypto.subtle.digest(
        "SHA-256",
        new TextEncoder().encode(`romeo@montague.example\u0000${endpoint}`),
      ),
    ).toHex();
    const registered = await stack.server.commandRegistration.register({
      service: "webpush",
      app: "up",
      from: "romeo@montague.example/phone",
      deviceId: "",
      address:
        `${endpoint}#BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM#tBHItJI5svbpez7KI4CCXg`,
      key,
    });
    assert.equal(registered.kind, "registered");
    const args = ["webpush", "up", "romeo@montague.example", endpoint];
    const shown = await run(["show-registration", ...args, ...config]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^push service: webpush \(app up\)$/m);
    assert.ok(shown.stdout.includes(`  ${key}: node `), shown.stdout);
    assert.ok(!shown.stdout.includes(endpoint), "the endpoint is masked");
  } finally {
    await stack.stop();
  }
});

async function commandRegistrationsInCli(storage: "sqlite" | "redis") {
  const redis = storage === "redis" ? await startRedis() : null;
  const stack = await startLoopbackStack({
    configure: (json) => {
      if (redis) json.db = { url: redis.url };
    },
  });
  try {
    const config = ["--config", stack.configPath];
    const token = "fS3ntgCBQ2OeGyDh4ykgxa:APA91bGQh-4cqkPpOe0JOH0Jq0b0Zk3dE_kF5XHx2yXc";
    const registered = await stack.server.commandRegistration.register({
      service: "fcm",
      app: "conversations",
      from: "xiaomia1@jabber.de/Conversations.Abc1",
      deviceId: "92afd7a91cdba9a0",
      address: token,
    });
    assert.equal(registered.kind, "registered");
    if (registered.kind !== "registered") return;
    const args = ["fcm", "conversations", "xiaomia1@jabber.de", "92afd7a91cdba9a0"];
    const shown = await run(["show-registration", ...args, ...config]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^device: fcm:conv…$/m);
    assert.match(shown.stdout, /^push service: fcm \(app conversations\)$/m);
    assert.match(shown.stdout, /^channel: fS3n…Xc$/m);
    assert.match(shown.stdout, /^protocol version: none \(registered by command\)$/m);
    assert.match(shown.stdout, /^ {2}ec164939a8485ee6b7f7871071a11c7bb18aead5: node /m);
    assert.ok(!shown.stdout.includes(token) && !shown.stdout.includes(registered.secret));
    const byId = await run([
      "show-device",
      "fcm:conversations:ec164939a8485ee6b7f7871071a11c7bb18aead5",
      ...config,
      "--show-secrets",
    ]);
    assert.ok(byId.stdout.includes(token) && byId.stdout.includes(registered.secret));
    assert.equal((await run(["show-registration", "fcm", ...config])).code, 2);

    const counted = await run(["count", ...config]);
    assert.match(
      counted.stdout,
      /^devices: 1\naccounts: 1\nfcm\/conversations: devices 1, accounts 1\n$/,
    );
    // A UWPX device with two accounts, its channel forgotten since: still counted, as WNS's.
    const uwpx = randomHex();
    const channel = stack.wns.channelUri();
    const minute = Date.now() + 60_000;
    await stack.server.store.saveTarget(
      uwpx,
      { service: "wns", app: "wns", address: channel },
      2,
      minute,
    );
    await stack.server.store.replaceAccounts(uwpx, [
      { accountId: "a1", node: "n2", secret: "s2" },
      { accountId: "a2", node: "n3", secret: "s3" },
    ], minute);
    await stack.server.store.forgetChannel(uwpx, channel, minute);
    const byApp = "devices: 2\naccounts: 3\n" +
      "fcm/conversations: devices 1, accounts 1\n" +
      "wns/wns: devices 1, accounts 2\n";
    assert.equal((await run(["count", ...config])).stdout, byApp);
    // One that expires in a moment, stored as the use case stores it.
    const shortLived = `fcm:quicksy:${"ab".repeat(20)}`;
    const soon = Date.now() + 300;
    await stack.server.store.saveTarget(
      shortLived,
      { service: "fcm", app: "quicksy", address: token },
      0,
      soon,
    );
    await stack.server.store.replaceAccounts(shortLived, [{
      accountId: "ab".repeat(20),
      node: "n1",
      secret: "s1",
    }], soon);
    assert.match(
      (await run(["count", ...config])).stdout,
      /^devices: [23]\naccounts: [34]\nfcm\/conversations: devices 1, accounts 1\n(fcm\/quicksy: devices 1, accounts 1\n)?wns\/wns: devices 1, accounts 2\n$/,
    );
    await new Promise((resolve) => setTimeout(resolve, soon - Date.now() + 50));
    assert.equal(
      (await run(["count", ...config])).stdout,
      byApp,
      "the expired one is left out, its app with it",
    );
    // SQLite deletes what expired when told to; Redis has deleted it by itself.
    const purged = await run(["purge", ...config]);
    assert.match(purged.stdout, redis ? /^purged: 0 devices$/m : /^purged: 1 devices$/m);
    assert.equal(
      (await run(["show-registration", ...args, ...config])).code,
      0,
      "the live one stays",
    );
    assert.equal((await run(["show-device", shortLived, ...config])).code, 1);
  } finally {
    await stack.stop();
    await redis?.stop();
  }
}
