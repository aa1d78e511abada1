/** `deno task cli check` tries each app's credentials: an FCM app's key file and token, an APNs app's key. */

import assert from "node:assert/strict";
import { startFakeFcm } from "../../../adapters/push/fcm/fake_fcm_server.ts";
import { generateApnsTestKey } from "../../../adapters/push/apns/fake_apns_server.ts";
import { runScript } from "../../support/script_run.ts";
import { writeTestCertificate } from "../../support/tls_cert.ts";

const CLI = new URL("../../../app/cli.ts", import.meta.url).pathname;

function check(configPath: string) {
  return runScript(CLI, ["check", "--config", configPath]);
}

/** A component-mode configuration (memory storage, nothing to reach but the apps) with `apps`. */
function configWithApps(certPath: string, keyPath: string, apps: Record<string, unknown>) {
  return {
    db: { url: "memory:" },
    tcp: { tls: { serverCertPath: certPath, serverKeyPath: keyPath } },
    wns: { clientSecret: "s", packetId: "p", tokenUrl: "http://127.0.0.1:9/token" },
    xmpp: { mode: "component", bareJid: "push.localhost", password: "p", port: 9 },
    apps,
  };
}

Deno.test("cli check: each FCM app's key file and access token are tried", async () => {
  const dir = await Deno.makeTempDir();
  await using fcm = await startFakeFcm({ projectId: "good-project" });
  try {
    const { certPath, keyPath } = await writeTestCertificate(dir);
    await Deno.writeTextFile(`${dir}/good.json`, JSON.stringify(fcm.serviceAccount));
    const config = configWithApps(certPath, keyPath, {
      good: { service: "fcm", serviceAccountFile: `${dir}/good.json`, baseUrl: fcm.url },
      missing: { service: "fcm", serviceAccountFile: `${dir}/missing.json` },
    });
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    const run = await check(`${dir}/config.json`);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^apps\.good: ok \(fcm, fcm:good token\)$/m);
    assert.match(
      run.stdout,
      /^apps\.missing: FAILED: apps\.missing\.serviceAccountFile: cannot read the service-account key file/m,
    );
    assert.equal(fcm.counters.tokensIssued, 1);
    assert.match(run.stderr, /\[6\/6\] XMPP server/);
    assert.ok(!run.stdout.includes("PRIVATE KEY") && !run.stderr.includes("PRIVATE KEY"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli check: without wns and tcp, no certificate or WNS token is tried", async () => {
  const dir = await Deno.makeTempDir();
  await using fcm = await startFakeFcm({ projectId: "only-project" });
  // The XMPP server's port: something that accepts connections.
  const xmpp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const conn of xmpp) conn.close();
  })();
  try {
    await Deno.writeTextFile(`${dir}/only.json`, JSON.stringify(fcm.serviceAccount));
    const config = {
      db: { url: "memory:" },
      xmpp: { mode: "component", bareJid: "push.localhost", password: "p", port: xmpp.addr.port },
      apps: { only: { service: "fcm", serviceAccountFile: `${dir}/only.json`, baseUrl: fcm.url } },
    };
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    const run = await check(`${dir}/config.json`);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^UWPX client: not configured \(no wns, tcp\)/m);
    assert.doesNotMatch(run.stdout, /TLS certificate|WNS access token/);
    assert.match(run.stdout, /^storage: ok/m);
    assert.match(run.stdout, /^apps\.only: ok \(fcm, fcm:only token\)$/m);
    assert.match(run.stdout, /^XMPP server: ok/m);
    assert.match(run.stderr, /\[3\/3\] XMPP server/);
    assert.equal(fcm.counters.tokensIssued, 1);
  } finally {
    xmpp.close();
    await accepting.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli check: each APNs app's .p8 key is read and signs; a bad one names its field", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { certPath, keyPath } = await writeTestCertificate(dir);
    const key = await generateApnsTestKey();
    await Deno.writeTextFile(`${dir}/AuthKey_ABCDE12345.p8`, key.p8);
    await Deno.writeTextFile(
      `${dir}/not-a-key.p8`,
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    const ios = {
      service: "apns",
      keyId: "ABCDE12345",
      teamId: "TEAM123456",
      topic: "im.monal.Monal",
    };
    const config = configWithApps(certPath, keyPath, {
      "monal-ios": { ...ios, default: true, keyFile: `${dir}/AuthKey_ABCDE12345.p8` },
      broken: { ...ios, environment: "sandbox", keyFile: `${dir}/not-a-key.p8` },
    });
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    const run = await check(`${dir}/config.json`);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^apps\.monal-ios: ok \(apns, apns:monal-ios\)$/m);
    assert.match(run.stdout, /^apps\.broken: FAILED: apps\.broken\.keyFile: /m);
    assert.ok(!run.stdout.includes("PRIVATE KEY") && !run.stderr.includes("PRIVATE KEY"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
