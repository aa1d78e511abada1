/** The `apps` section: FCM and APNs apps, names, the reserved `wns`, one default per service. */

import assert from "node:assert/strict";
import { parseConfig } from "../../../app/config.ts";
import { appOf, defaultApp } from "../../../app/config/apps.ts";

const BASE = {
  tcp: { tls: { serverCertPath: "cert.pem", serverKeyPath: "key.pem" } },
  wns: { clientSecret: "s", packetId: "ms-app://s-1" },
  xmpp: { mode: "component", bareJid: "push.example.org", password: "p" },
};

function problems(apps: unknown): readonly string[] {
  const result = parseConfig({ ...BASE, apps });
  assert.equal(result.ok, false, "accepted");
  return result.ok ? [] : result.problems;
}

function parsed(apps: unknown) {
  const result = parseConfig({ ...BASE, apps });
  if (!result.ok) throw new Error(result.problems.join("\n"));
  return result.config;
}

Deno.test("apps: absent is none; the wns section is unchanged", () => {
  const config = parsed(undefined);
  assert.deepEqual(config.apps, {});
  assert.equal(config.wns?.clientSecret, "s");
});

Deno.test("apps: an FCM app gets p2's defaults, HIGH priority and a day's TTL", () => {
  const config = parsed({ conversations: { service: "fcm", serviceAccountFile: "/etc/sa.json" } });
  assert.deepEqual(config.apps.conversations, {
    service: "fcm",
    default: true, // the only FCM app
    serviceAccountFile: "/etc/sa.json",
    priority: "HIGH",
    ttlSeconds: 86_400,
    collapse: true,
    baseUrl: "https://fcm.googleapis.com",
    requestTimeoutSeconds: 10,
    maxInFlight: 64,
    maxQueued: 10_000,
    maxInFlightPerTarget: 2,
    maxQueueWaitSeconds: 5,
    maxAttempts: 4,
    coalesceMs: 1000,
  });
  assert.equal(defaultApp(config.apps, "fcm"), "conversations");
  assert.equal(appOf(config.apps, "fcm", "conversations")?.serviceAccountFile, "/etc/sa.json");
  assert.equal(appOf(config.apps, "fcm", "other"), null);
  assert.equal(appOf(config.apps, "fcm", "toString"), null);
});

Deno.test("apps: several FCM apps, at most one default; none is allowed", () => {
  const two = {
    a: { service: "fcm", serviceAccountFile: "a.json" },
    b: { service: "fcm", serviceAccountFile: "b.json", default: true },
  };
  const config = parsed(two);
  assert.equal(config.apps.a.default, false);
  assert.equal(defaultApp(config.apps, "fcm"), "b");
  const none = parsed({ ...two, b: { ...two.b, default: false } });
  assert.equal(defaultApp(none.apps, "fcm"), null);
  assert.deepEqual(problems({ ...two, a: { ...two.a, default: true } }), [
    "apps.a.default: only one fcm app may be the default (a, b are)",
    "apps.b.default: only one fcm app may be the default (a, b are)",
  ]);
});

Deno.test("apps: every problem is reported with its path, names included", () => {
  assert.deepEqual(
    problems({
      wns: { service: "fcm", serviceAccountFile: "w.json" },
      "Bad Name": { service: "fcm", serviceAccountFile: "x.json" },
      ".dot": { service: "fcm", serviceAccountFile: "x.json" },
      missing: { service: "fcm" },
      unknown: { service: "gcm", serviceAccountFile: "x.json" },
      wrong: {
        service: "fcm",
        serviceAccountFile: "x.json",
        priority: "URGENT",
        ttlSeconds: 2_419_201,
        collapse: "yes",
        baseUrl: "ftp://x",
        projectId: "Not A Project",
        maxInFlight: 0,
        coalesceMs: -1,
      },
    }),
    [
      "apps.missing.serviceAccountFile: Invalid input: expected string, received undefined",
      "apps.unknown.service: service must be one of: fcm, apns, webpush",
      "apps.wrong.projectId: not a project id",
      'apps.wrong.priority: Invalid option: expected one of "HIGH"|"NORMAL"',
      "apps.wrong.ttlSeconds: Too big: expected number to be <=2419200",
      "apps.wrong.collapse: Invalid input: expected boolean, received string",
      "apps.wrong.baseUrl: Invalid URL",
      "apps.wrong.maxInFlight: Too small: expected number to be >0",
      "apps.wrong.coalesceMs: Too small: expected number to be >=0",
      'apps.wns: "wns" is reserved: the wns section is that app',
      "apps.Bad Name: an app name is 1-63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit",
      "apps..dot: an app name is 1-63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit",
    ],
  );
  assert.deepEqual(problems([]), ["apps: Invalid input: expected record, received array"]);
});

Deno.test("apps: APNs apps beside FCM ones, a sandbox twin, defaults per service; a pushModule listed twice", () => {
  const ios = {
    service: "apns",
    keyFile: "/etc/AuthKey_ABCDE12345.p8",
    keyId: "ABCDE12345",
    teamId: "TEAM123456",
    topic: "im.monal.Monal",
    pushModules: ["monalProdiOS"],
  };
  const sandbox = { ...ios, environment: "sandbox", pushModules: ["monalProdiOS-sandbox"] };
  const config = parsed({
    "monal-ios": { ...ios, default: true },
    "monal-ios-sandbox": sandbox,
    conversations: { service: "fcm", serviceAccountFile: "/etc/sa.json" },
  });
  assert.equal(defaultApp(config.apps, "apns"), "monal-ios");
  assert.equal(defaultApp(config.apps, "fcm"), "conversations");
  assert.equal(appOf(config.apps, "apns", "monal-ios-sandbox")?.environment, "sandbox");
  assert.equal(appOf(config.apps, "fcm", "monal-ios"), null);
  assert.deepEqual(
    problems({
      "monal-ios": ios,
      "monal-ios-sandbox": { ...sandbox, pushModules: ["monalProdiOS"] },
    }),
    ['apps.monal-ios-sandbox.pushModules: "monalProdiOS" is listed by apps.monal-ios too'],
  );
});
