import assert from "node:assert/strict";
import { largestAccountsAnswerBytes } from "../../adapters/device/device_protocol.ts";
import {
  CONFIG_TEMPLATE,
  DEFAULT_CHANNEL_URI_PATTERN,
  DEFAULT_TOKEN_URL,
  hasUwpx,
  loadConfig,
  parseConfig,
} from "../../app/config.ts";

/** The least a valid file holds: the original server's required keys. */
const minimal = () => ({
  tcp: { tls: { serverCertPath: "/etc/push/cert.pem", serverKeyPath: "/etc/push/key.pem" } },
  wns: { clientSecret: "s3cr3t", packetId: "ms-app://s-1-15-2-1" },
  xmpp: { bareJid: "push.example.org", password: "pw" },
});

Deno.test("parseConfig: defaults fill everything optional", () => {
  const result = parseConfig(minimal());
  assert.ok(result.ok, result.ok ? "" : result.problems.join("\n"));
  assert.deepEqual(result.config, {
    db: { url: "sqlite:push.db" },
    tcp: {
      host: "0.0.0.0",
      port: 1997,
      tls: {
        serverCertPath: "/etc/push/cert.pem",
        serverKeyPath: "/etc/push/key.pem",
        reloadCheckSeconds: 5,
      },
      maxConnections: 1024,
      maxAccountsPerDevice: 64,
      idleTimeoutSeconds: 60,
    },
    wns: {
      clientSecret: "s3cr3t",
      token: { flow: "classic", packetId: "ms-app://s-1-15-2-1", tokenUrl: DEFAULT_TOKEN_URL },
      channelUriPattern: DEFAULT_CHANNEL_URI_PATTERN,
      requestTimeoutSeconds: 10,
      maxInFlight: 64,
      maxQueued: 10_000,
      maxInFlightPerHost: 32,
      maxInFlightPerChannel: 2,
      maxQueueWaitSeconds: 5,
      maxAttempts: 4,
      coalesceMs: 250,
    },
    // Client mode's defaults: the JID's domain, STARTTLS on 5222, TLS required.
    xmpp: {
      mode: "client",
      bareJid: "push.example.org",
      password: "pw",
      host: "push.example.org",
      port: 5222,
      tls: { required: true, direct: false },
    },
    log: { level: "info", format: "logfmt" },
    limits: {
      device: {
        connectionsPerAddress: 32,
        connectionsPerPrefix: 256,
        handshakeTimeoutSeconds: 10,
        frameTimeoutSeconds: 10,
        evictIdleAfterSeconds: 5,
        maxFrameBytes: 65_536,
        requestsPerConnection: { burst: 10, perSecond: 2 },
        requestsPerDevice: { burst: 10, perSecond: 0.2 },
        closeAfterRefusals: 10,
      },
      xmpp: {
        publishesPerNode: { burst: 30, perSecond: 1 },
        publishesPerServer: { burst: 500, perSecond: 100 },
        maxStanzaBytes: 1_048_576,
        unknownNodeCacheSeconds: 5,
        unknownNodeCacheSize: 10_000,
      },
      registrations: {
        newDevicesPerPrefix: { burst: 64, perSecond: 0.1 },
        newAccountsPerPrefix: { burst: 256, perSecond: 0.5 },
        newRegistrationsPerJid: { burst: 16, perSecond: 10 / 3600 },
        maxDevices: 1_000_000,
        maxAccounts: 10_000_000,
        countRefreshSeconds: 300,
      },
      trackedKeys: 100_000,
    },
    registration: { lifetimeDays: 210, goneChannelGraceDays: 30 },
    apps: {},
    shutdownTimeoutSeconds: 10,
  });
  assert.equal(DEFAULT_TOKEN_URL, "https://login.live.com/accesstoken.srf");
});

Deno.test("parseConfig: given values win over defaults", () => {
  const json = {
    ...minimal(),
    db: { url: "redis://localhost:6379" },
    log: { level: "debug", format: "json" },
  };
  json.tcp = { ...json.tcp, port: 2000 } as typeof json.tcp;
  const result = parseConfig(json);
  assert.ok(result.ok);
  assert.equal(result.config.db.url, "redis://localhost:6379");
  assert.equal(result.config.tcp?.port, 2000);
  assert.deepEqual(result.config.log, { level: "debug", format: "json" });
});

Deno.test("parseConfig: every invalid field is reported with its path", () => {
  const json = {
    db: { url: "mysql://db" },
    tcp: {
      port: 70000,
      tls: { serverCertPath: "", serverKeyPath: "/k" },
      maxConnections: 0,
      maxAccountsPerDevice: 5000,
      idleTimeoutSeconds: -1,
    },
    wns: {
      clientSecret: "",
      packetId: 42,
      tokenUrl: "ftp://login.live.com/",
      channelUriPattern: "([unclosed",
    },
    xmpp: { mode: "bosh", bareJid: "push.example.org", password: "pw", port: 1.5 },
    log: { level: "loud" },
  };
  const result = parseConfig(json);
  assert.ok(!result.ok);
  assert.equal(result.created, false);
  const paths = result.problems.map((p) => p.slice(0, p.indexOf(":")));
  assert.deepEqual(
    paths.toSorted(),
    [
      "db.url",
      "log.level",
      "tcp.idleTimeoutSeconds",
      "tcp.maxAccountsPerDevice",
      "tcp.maxConnections",
      "tcp.port",
      "tcp.tls.serverCertPath",
      "wns.channelUriPattern",
      "wns.clientSecret",
      "wns.packetId",
      "wns.tokenUrl",
      "xmpp.mode",
      "xmpp.port",
    ],
    result.problems.join("\n"),
  );
  const problem = (path: string) => result.problems.find((p) => p.startsWith(`${path}:`));
  assert.match(problem("db.url")!, /sqlite:PATH, memory: or redis/);
  assert.match(problem("wns.channelUriPattern")!, /valid regular expression/);
});

Deno.test("parseConfig: each XMPP mode's endpoint defaults; given values win", () => {
  const xmpp = (given: Record<string, unknown>) => {
    const result = parseConfig({ ...minimal(), xmpp: { password: "pw", ...given } });
    assert.ok(result.ok, result.ok ? "" : result.problems.join("\n"));
    return result.config.xmpp;
  };
  assert.deepEqual(xmpp({ mode: "component", bareJid: "push.example.org", tls: {} }), {
    mode: "component",
    bareJid: "push.example.org",
    password: "pw",
    host: "127.0.0.1",
    port: 5347,
  });
  const client = xmpp({ bareJid: "push@example.org", tls: { direct: true } });
  assert.deepEqual([client.host, client.port], ["example.org", 5223]);
  const given = xmpp({ bareJid: "push@example.org", host: "xmpp.example.net", port: 5000 });
  assert.deepEqual([given.host, given.port], ["xmpp.example.net", 5000]);
});

Deno.test("parseConfig: the WNS token flow is classic or Entra, its endpoint defaulted", () => {
  const wns = (given: Record<string, unknown>) =>
    parseConfig({ ...minimal(), wns: { clientSecret: "s", ...given } });
  const entra = wns({ entra: { tenantId: "contoso", appId: "app-guid" }, packetId: "ignored" });
  assert.ok(entra.ok);
  assert.deepEqual(entra.config.wns?.token, {
    flow: "entra",
    tenantId: "contoso",
    appId: "app-guid",
    tokenUrl: "https://login.microsoftonline.com/contoso/oauth2/v2.0/token",
  });
  const own = wns({ packetId: "ms-app://s-1", tokenUrl: "http://127.0.0.1:1/token" });
  assert.ok(own.ok);
  assert.deepEqual(own.config.wns?.token, {
    flow: "classic",
    packetId: "ms-app://s-1",
    tokenUrl: "http://127.0.0.1:1/token",
  });
  const neither = wns({});
  assert.ok(!neither.ok);
  assert.match(neither.problems.join("\n"), /^wns\.packetId: set packetId .* or entra/m);
});

Deno.test("parseConfig: missing sections are named", () => {
  const result = parseConfig({});
  assert.ok(!result.ok);
  const paths = result.problems.map((p) => p.slice(0, p.indexOf(":")));
  assert.deepEqual(paths.toSorted(), ["tcp", "wns", "xmpp"]);
  const notObject = parseConfig([1, 2]);
  assert.ok(!notObject.ok);
  assert.match(notObject.problems[0], /^\(file\): /);
});

Deno.test("loadConfig: a missing file is created from the template and reported", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.json`;
    const result = await loadConfig(path);
    assert.ok(!result.ok);
    assert.equal(result.created, true);
    assert.equal(result.problems.length, 1);
    assert.match(result.problems[0], /did not exist: created it from the template/);
    assert.ok(result.problems[0].includes(path));
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), CONFIG_TEMPLATE);
    // The next start reads the file that was written; it does not overwrite it.
    await Deno.writeTextFile(path, JSON.stringify(minimal()));
    const second = await loadConfig(path);
    assert.ok(second.ok);
    assert.equal(second.config.xmpp.bareJid, "push.example.org");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadConfig: invalid JSON is reported, nothing is created or overwritten", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.json`;
    await Deno.writeTextFile(path, '{"tcp": {');
    const result = await loadConfig(path);
    assert.ok(!result.ok);
    assert.equal(result.created, false);
    assert.equal(result.problems.length, 1);
    assert.match(result.problems[0], /invalid JSON/);
    assert.equal(await Deno.readTextFile(path), '{"tcp": {');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadConfig: invalid fields of a readable file are reported with their paths", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.json`;
    const json = minimal();
    (json.tcp as Record<string, unknown>).port = "1997";
    await Deno.writeTextFile(path, JSON.stringify(json));
    const result = await loadConfig(path);
    assert.ok(!result.ok);
    assert.equal(result.problems.length, 1);
    assert.match(result.problems[0], /^tcp\.port: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadConfig: an unreadable path is reported, not created", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const result = await loadConfig(dir); // a directory
    assert.ok(!result.ok);
    assert.equal(result.created, false);
    assert.ok(result.problems[0].startsWith(`${dir}: `));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the default channel pattern is a valid, anchored regular expression", () => {
  const pattern = new RegExp(DEFAULT_CHANNEL_URI_PATTERN);
  assert.ok(pattern.test("https://db5p.notify.windows.com/?token=AwYAAAD8sampleToken%2bValue"));
  assert.ok(pattern.test("https://wns2-by3p.notify.windows.com/w/?token=abc"));
  assert.ok(!pattern.test("xhttps://db5p.notify.windows.com/?token=abc"));
  assert.ok(!pattern.test("https://db5p.notify.windows.com/?token=abc "));
});

Deno.test("loadConfig: a template that cannot be written is reported, not thrown", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/no-such-dir/config.json`;
    const result = await loadConfig(path);
    assert.ok(!result.ok);
    assert.equal(result.created, false);
    assert.equal(result.problems.length, 1);
    assert.ok(result.problems[0].startsWith(`${path}: `), result.problems[0]);
    assert.match(result.problems[0], /could not create/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseConfig: the http section is optional, its host defaults to loopback", () => {
  const without = parseConfig(minimal());
  assert.ok(without.ok);
  assert.equal(without.config.http, undefined);
  const withPort = parseConfig({ ...minimal(), http: { port: 9100 } });
  assert.ok(withPort.ok);
  assert.deepEqual(withPort.config.http, { host: "127.0.0.1", port: 9100 });
  const noPort = parseConfig({ ...minimal(), http: {} });
  assert.ok(!noPort.ok);
  assert.match(noPort.problems.join("\n"), /^http\.port:/m);
});

Deno.test("configuration.example.json is a valid configuration", async () => {
  const text = await Deno.readTextFile(
    new URL("../../configuration.example.json", import.meta.url),
  );
  const result = parseConfig(JSON.parse(text));
  assert.ok(result.ok, result.ok ? "" : result.problems.join("\n"));
  assert.deepEqual(result.config.http, { host: "127.0.0.1", port: 9100 });
  // One WNS app (the wns section), two FCM apps and an APNs app with its sandbox twin, one
  // default per service.
  assert.deepEqual(Object.keys(result.config.apps), [
    "conversations",
    "quicksy",
    "monal-ios",
    "monal-ios-sandbox",
  ]);
  assert.equal(result.config.apps.conversations.default, true);
  assert.equal(result.config.apps.quicksy.default, false);
  assert.equal(result.config.apps["monal-ios"].default, true);
  assert.equal(result.config.apps["monal-ios-sandbox"].default, false);
});

Deno.test("the README's example of one WNS and two FCM apps is valid and is the example file's", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const block = /One WNS app and two FCM apps:\n\n```json\n([\s\S]*?)\n```/.exec(readme);
  assert.ok(block, "the README has the example");
  const example = JSON.parse(
    await Deno.readTextFile(new URL("../../configuration.example.json", import.meta.url)),
  );
  const snippet = JSON.parse(block[1]);
  // The README leaves out the other sections ("as usual"): the example file's.
  const result = parseConfig({ ...example, ...snippet, wns: { ...example.wns, ...snippet.wns } });
  assert.ok(result.ok, result.ok ? "" : result.problems.join("\n"));
  const fromFile = parseConfig(example);
  assert.ok(fromFile.ok);
  // The example file also has the Apple apps: the README's FCM apps are its FCM apps.
  const fcmApps = Object.entries(fromFile.config.apps).filter(([, app]) => app.service === "fcm");
  assert.deepEqual(result.config.apps, Object.fromEntries(fcmApps));
});

Deno.test("parseConfig: limits given in part keep the other defaults; bad ones are named", () => {
  const json = {
    ...minimal(),
    limits: {
      device: { connectionsPerAddress: 0, requestsPerDevice: { perSecond: 1 } },
      xmpp: { unknownNodeCacheSeconds: 0 },
    },
  };
  const result = parseConfig(json);
  assert.ok(result.ok, result.ok ? "" : result.problems.join("\n"));
  const { limits } = result.config;
  assert.equal(limits.device.connectionsPerAddress, 0);
  assert.deepEqual(limits.device.requestsPerDevice, { burst: 10, perSecond: 1 });
  assert.deepEqual(limits.device.requestsPerConnection, { burst: 10, perSecond: 2 });
  assert.equal(limits.xmpp.unknownNodeCacheSeconds, 0);
  assert.deepEqual(limits.xmpp.publishesPerNode, { burst: 30, perSecond: 1 });

  const bad = parseConfig({
    ...minimal(),
    limits: {
      device: { requestsPerConnection: { burst: 0, perSecond: -1 }, maxFrameBytes: 10 },
      xmpp: { maxStanzaBytes: "big" },
      trackedKeys: 0,
    },
  });
  assert.equal(bad.ok, false);
  const paths = bad.ok ? [] : bad.problems.map((problem) => problem.split(":")[0]);
  for (
    const path of [
      "limits.device.requestsPerConnection.burst",
      "limits.device.requestsPerConnection.perSecond",
      "limits.device.maxFrameBytes",
      "limits.xmpp.maxStanzaBytes",
      "limits.trackedKeys",
    ]
  ) assert.ok(paths.includes(path), `${path} in ${paths.join(", ")}`);
});

Deno.test("parseConfig: the account limit keeps the largest answer within one TLS record", () => {
  const withAccounts = (maxAccountsPerDevice: number, bareJid = "push.example.org") => {
    const json = minimal() as Record<string, Record<string, unknown>>;
    json.tcp.maxAccountsPerDevice = maxAccountsPerDevice;
    json.xmpp.bareJid = bareJid;
    return parseConfig(json);
  };
  // The largest answer (128-character account ids, all success false) for 64 accounts is
  // 15,197 bytes with this JID; for 68 it is 16,141, for 70 over 16,384.
  assert.equal(largestAccountsAnswerBytes(64, "push.example.org"), 15_197);
  assert.ok(withAccounts(64).ok);
  assert.ok(withAccounts(68).ok);
  const tooMany = withAccounts(70);
  assert.ok(!tooMany.ok);
  assert.match(tooMany.problems.join("\n"), /^tcp\.maxAccountsPerDevice: too many accounts/m);
  // A long push JID leaves room for fewer.
  assert.ok(!withAccounts(68, `${"p".repeat(400)}@example.org`).ok);
});

/** Without the UWPX client: an FCM app, no `wns`, no `tcp`. */
const fcmOnly = () => ({
  xmpp: { mode: "component", bareJid: "push.example.org", password: "pw" },
  apps: { conversations: { service: "fcm", serviceAccountFile: "/etc/push/firebase.json" } },
});

Deno.test("parseConfig: wns and tcp may both be absent when apps has an app", () => {
  const result = parseConfig(fcmOnly());
  assert.ok(result.ok, result.ok ? "" : result.problems.join("\n"));
  assert.equal(result.config.tcp, undefined);
  assert.equal(result.config.wns, undefined);
  assert.equal(hasUwpx(result.config), false);
  assert.deepEqual(Object.keys(result.config.apps), ["conversations"]);
  // Today's configurations are the UWPX client's.
  const uwpx = parseConfig(minimal());
  assert.ok(uwpx.ok);
  assert.equal(hasUwpx(uwpx.config), true);
});

Deno.test("parseConfig: wns without tcp, or tcp without wns, is refused with the missing path", () => {
  const { tcp, wns } = minimal();
  const withoutTcp = parseConfig({ ...fcmOnly(), wns });
  assert.ok(!withoutTcp.ok);
  assert.equal(withoutTcp.problems.length, 1, withoutTcp.problems.join("\n"));
  assert.match(
    withoutTcp.problems[0],
    /^tcp: the UWPX client needs tcp .*: add tcp, or remove wns/,
  );
  const withoutWns = parseConfig({ ...fcmOnly(), tcp });
  assert.ok(!withoutWns.ok);
  assert.equal(withoutWns.problems.length, 1, withoutWns.problems.join("\n"));
  assert.match(
    withoutWns.problems[0],
    /^wns: the UWPX client needs wns .*: add wns, or remove tcp/,
  );
  // Also beside other problems, which are all reported at once.
  const more = parseConfig({ ...fcmOnly(), wns: { clientSecret: "" }, xmpp: {} });
  assert.ok(!more.ok);
  const paths = more.problems.map((p) => p.slice(0, p.indexOf(":")));
  for (const path of ["tcp", "wns.clientSecret", "wns.packetId", "xmpp.bareJid"]) {
    assert.ok(paths.includes(path), `${path} in ${paths.join(", ")}`);
  }
});

Deno.test("parseConfig: neither wns nor an app in apps is refused: nothing to push to", () => {
  for (const apps of [undefined, {}]) {
    const result = parseConfig({ ...fcmOnly(), apps });
    assert.ok(!result.ok);
    assert.deepEqual(result.problems.map((p) => p.slice(0, p.indexOf(":"))), ["tcp", "wns"]);
    for (const problem of result.problems) {
      assert.match(problem, /nothing to push to: configure wns and tcp .* or at least one app/);
    }
  }
});

Deno.test("the README's configuration with only an FCM app is valid and has no UWPX client", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const block = /#### Only FCM apps \(no UWPX client\)\n[\s\S]*?```json\n([\s\S]*?)\n```/.exec(
    readme,
  );
  assert.ok(block, "the README has the example");
  const result = parseConfig(JSON.parse(block[1]));
  assert.ok(result.ok, result.ok ? "" : result.problems.join("\n"));
  assert.equal(hasUwpx(result.config), false);
  assert.deepEqual(Object.keys(result.config.apps), ["myapp"]);
  assert.equal(result.config.apps.myapp.default, true);
});
