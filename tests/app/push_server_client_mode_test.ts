import assert from "node:assert/strict";
import { parseConfig } from "../../app/config.ts";
import { startPushServer } from "../../app/push_server.ts";
import { RecordingLogger } from "../support/recording_logger.ts";

Deno.test("startPushServer: client mode refuses a JID that is not an account's, before anything starts", async () => {
  const parsed = parseConfig({
    db: { url: "memory:" },
    tcp: {
      tls: { serverCertPath: "/nonexistent/cert.pem", serverKeyPath: "/nonexistent/key.pem" },
    },
    wns: { clientSecret: "s3cr3t", packetId: "ms-app://s-1-15-2-1" },
    xmpp: { mode: "client", bareJid: "push.example.org", password: "pw" },
  });
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.problems.join("\n"));
  await assert.rejects(
    startPushServer(parsed.config, new RecordingLogger()),
    /xmpp\.bareJid: client mode needs the push account's bare JID/,
  );
});

Deno.test("config: xmpp.tls is optional, and filled with safe defaults when absent or given", () => {
  const base = {
    tcp: { tls: { serverCertPath: "/c", serverKeyPath: "/k" } },
    wns: { clientSecret: "s", packetId: "ms-app://s-1" },
  };
  const absent = parseConfig({ ...base, xmpp: { bareJid: "push@example.org", password: "pw" } });
  assert.ok(absent.ok);
  // Absent: required TLS, the built-in roots (no CA file), STARTTLS.
  assert.deepEqual(absent.config.xmpp.mode === "client" && absent.config.xmpp.tls, {
    required: true,
    direct: false,
  });
  const given = parseConfig({
    ...base,
    xmpp: { bareJid: "push@example.org", password: "pw", tls: { caFile: "/etc/ca.pem" } },
  });
  assert.ok(given.ok);
  assert.deepEqual(given.config.xmpp.mode === "client" && given.config.xmpp.tls, {
    required: true,
    caFile: "/etc/ca.pem",
    direct: false,
  });
  const wrong = parseConfig({
    ...base,
    xmpp: { bareJid: "push@example.org", password: "pw", tls: { required: "no", caFile: "" } },
  });
  assert.ok(!wrong.ok);
  assert.deepEqual(
    wrong.problems.map((p) => p.slice(0, p.indexOf(":"))).sort(),
    ["xmpp.tls.caFile", "xmpp.tls.required"],
  );
});
