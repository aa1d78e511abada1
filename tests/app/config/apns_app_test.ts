import assert from "node:assert/strict";

import {
  ApnsAppSchema,
  apnsPayloadSettings,
  apnsPushModules,
} from "../../../app/config/apns_app.ts";
import { apnsPayload, MONAL_PAYLOAD_SETTINGS } from "../../../domain/payloads/apns_payload.ts";

const MINIMAL = {
  service: "apns",
  keyFile: "/etc/uwpx-push/AuthKey_ABCDE12345.p8",
  keyId: "ABCDE12345",
  teamId: "TEAM123456",
  topic: "im.monal.Monal",
};

function issues(input: unknown): string[] {
  const result = ApnsAppSchema.safeParse(input);
  if (result.success) throw new Error("expected the app to be refused");
  return result.error.issues.map((issue) => issue.path.join("."));
}

Deno.test("a minimal APNs app gets Monal's payload, production, a real expiration and WNS-like bounds", () => {
  const app = ApnsAppSchema.parse(MINIMAL);
  assert.deepStrictEqual(app.default, false);
  assert.deepStrictEqual(app.environment, "production");
  assert.deepStrictEqual(app.pushModules, []);
  assert.deepStrictEqual(app.priority, 10);
  assert.deepStrictEqual(app.expirationSeconds, 86400);
  assert.deepStrictEqual(app.collapseId, null);
  assert.deepStrictEqual(
    [app.maxInFlight, app.maxQueued, app.maxQueueWaitSeconds, app.maxAttempts, app.coalesceMs],
    [1000, 10_000, 5, 4, 250],
  );
  assert.deepStrictEqual(app.tokenRateLimit, { burst: 5, refillSeconds: 10, maxTokens: 100_000 });
  assert.deepStrictEqual(app.deadTokens.blockHours, 24);
  assert.deepStrictEqual(app.deadTokens.extendedBlockHours, 120);
  // The defaults are exactly what fpush sends for Monal.
  assert.deepStrictEqual(apnsPayloadSettings(app), MONAL_PAYLOAD_SETTINGS);
  assert.deepStrictEqual(
    JSON.parse(apnsPayload(apnsPayloadSettings(app), null).json),
    {
      aps: {
        alert: { title: "New Message", body: "New Message?" },
        sound: "default",
        "mutable-content": 1,
      },
    },
  );
});

Deno.test("a sandbox twin is its own app with its own pushModule", () => {
  const app = ApnsAppSchema.parse({
    ...MINIMAL,
    environment: "sandbox",
    pushModules: ["monalProdiOS-sandbox"],
  });
  assert.deepStrictEqual(app.environment, "sandbox");
  assert.deepStrictEqual(app.pushModules, ["monalProdiOS-sandbox"]);
});

Deno.test("payload options: background, no sound, extra keys, message body allowed", () => {
  const app = ApnsAppSchema.parse({
    ...MINIMAL,
    priority: 5,
    payload: { pushType: "background" },
  });
  assert.deepStrictEqual(app.payload.pushType, "background");
  const custom = ApnsAppSchema.parse({
    ...MINIMAL,
    payload: { sound: null, additionalData: { monalVersion: 2 }, includeMessageBody: true },
  });
  const settings = apnsPayloadSettings(custom);
  assert.deepStrictEqual(settings.sound, null);
  assert.deepStrictEqual(settings.additionalData, { monalVersion: 2 });
  assert.deepStrictEqual(settings.includeMessageBody, true);
  assert.deepStrictEqual(settings.mutableContent, true);
});

Deno.test("bad APNs apps are refused with the field's path", () => {
  assert.deepStrictEqual(issues({ ...MINIMAL, keyId: "abc" }), ["keyId"]);
  assert.deepStrictEqual(issues({ ...MINIMAL, teamId: "TEAM12345" }), ["teamId"]);
  assert.deepStrictEqual(issues({ ...MINIMAL, topic: "monal" }), ["topic"]);
  assert.deepStrictEqual(issues({ ...MINIMAL, environment: "development" }), ["environment"]);
  assert.deepStrictEqual(issues({ ...MINIMAL, keyFile: "" }), ["keyFile"]);
  assert.deepStrictEqual(issues({ ...MINIMAL, pushModules: ["a", "a"] }), ["pushModules"]);
  assert.deepStrictEqual(issues({ ...MINIMAL, pushModules: ["bad module"] }), ["pushModules.0"]);
  assert.deepStrictEqual(issues({ ...MINIMAL, priority: 1 }), ["priority"]);
  assert.deepStrictEqual(issues({ ...MINIMAL, collapseId: "x".repeat(65) }), ["collapseId"]);
  assert.deepStrictEqual(issues({ ...MINIMAL, collapseId: "a\nb" }), ["collapseId"]);
  assert.deepStrictEqual(issues({ ...MINIMAL, expirationSeconds: -1 }), ["expirationSeconds"]);
  assert.deepStrictEqual(issues({ ...MINIMAL, payload: { additionalData: { aps: {} } } }), [
    "payload.additionalData",
  ]);
  assert.deepStrictEqual(issues({ ...MINIMAL, payload: { pushType: "voip" } }), [
    "payload.pushType",
  ]);
  // Apple refuses background pushes at priority 10.
  assert.deepStrictEqual(issues({ ...MINIMAL, payload: { pushType: "background" } }), ["priority"]);
  assert.deepStrictEqual(issues({ ...MINIMAL, url: "http://127.0.0.1:1" }), ["url"]);
  assert.deepStrictEqual(issues({ ...MINIMAL, tokenRateLimit: { burst: 0 } }), [
    "tokenRateLimit.burst",
  ]);
  assert.deepStrictEqual(issues({ ...MINIMAL, service: "fcm" }), ["service"]);
});

Deno.test("each pushModule selects one app; a module listed by two apps is an error", () => {
  const prod = ApnsAppSchema.parse({ ...MINIMAL, pushModules: ["monalProdiOS"] });
  const sandbox = ApnsAppSchema.parse({
    ...MINIMAL,
    environment: "sandbox",
    pushModules: ["monalProdiOS-sandbox"],
  });
  assert.deepStrictEqual(
    [...apnsPushModules([["monal-ios", prod], ["monal-ios-sandbox", sandbox]])],
    [["monalProdiOS", "monal-ios"], ["monalProdiOS-sandbox", "monal-ios-sandbox"]],
  );
  assert.throws(
    () => apnsPushModules([["a", prod], ["b", prod]]),
    /apps\.b\.pushModules: "monalProdiOS" is listed by apps\.a too/,
  );
});

Deno.test("a payload that cannot fit APNs's 4096 bytes is refused at its path, not at start-up", () => {
  // Every field within its own bound, together over 4096 bytes of UTF-8 ("€" is 3 bytes).
  const payload = {
    title: "€".repeat(256),
    body: "€".repeat(1024),
    additionalData: { note: "€".repeat(600) },
  };
  assert.deepStrictEqual(issues({ ...MINIMAL, payload }), ["payload"]);
  // Within the limit: accepted, and its placeholder builds.
  const app = ApnsAppSchema.parse({ ...MINIMAL, payload: { ...payload, body: "€".repeat(200) } });
  assert.ok(apnsPayload(apnsPayloadSettings(app), null).bytes <= 4096);
});
