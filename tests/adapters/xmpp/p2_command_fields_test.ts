import assert from "node:assert/strict";
import {
  parseP2CommandNode,
  parseP2RegisterFields,
  parseP2UnregisterFields,
} from "../../../adapters/xmpp/p2_command_fields.ts";

const TOKEN = "dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx";

Deno.test("parseP2CommandNode: register/unregister-push-<service>, suffix without case", () => {
  assert.deepEqual(parseP2CommandNode("register-push-fcm"), {
    ok: true,
    value: { action: "register", service: "fcm" },
  });
  assert.deepEqual(parseP2CommandNode("unregister-push-fcm"), {
    ok: true,
    value: { action: "unregister", service: "fcm" },
  });
  assert.deepEqual(parseP2CommandNode("register-push-FCM"), {
    ok: true,
    value: { action: "register", service: "fcm" },
  });
  assert.deepEqual(parseP2CommandNode("register-push-apns"), {
    ok: true,
    value: { action: "register", service: "apns" },
  });
  for (
    const node of ["register-push-", "register-push-gcm", "v1-register-push", "register-device", ""]
  ) {
    const result = parseP2CommandNode(node);
    assert.equal(result.ok, false, node);
    assert.equal(!result.ok && result.condition, "item-not-found", node);
  }
});

Deno.test("parseP2RegisterFields: what Conversations sends (token, android-id)", () => {
  assert.deepEqual(
    parseP2RegisterFields({ token: [TOKEN], "android-id": ["92afd7a91cdba9a0"] }),
    { ok: true, value: { token: TOKEN, deviceId: "92afd7a91cdba9a0" } },
  );
});

Deno.test("parseP2RegisterFields: device-id wins over android-id unless blank; unknown fields ignored", () => {
  assert.deepEqual(
    parseP2RegisterFields({
      token: [TOKEN],
      "device-id": ["dev-1"],
      "android-id": ["92afd7a91cdba9a0"],
      FORM_TYPE: ["whatever"],
      extra: ["x", "y"],
    }),
    { ok: true, value: { token: TOKEN, deviceId: "dev-1" } },
  );
  assert.deepEqual(
    parseP2RegisterFields({ token: [TOKEN], "device-id": ["  "], "android-id": ["a1"] }),
    { ok: true, value: { token: TOKEN, deviceId: "a1" } },
  );
  // First value counts; the token is trimmed, the device id kept as sent (it is hashed).
  assert.deepEqual(
    parseP2RegisterFields({ token: [` ${TOKEN}\n`, "second"], "android-id": [" a1"] }),
    { ok: true, value: { token: TOKEN, deviceId: " a1" } },
  );
});

Deno.test("parseP2RegisterFields: bad or missing fields are bad-request naming the field", () => {
  const cases: [Record<string, string[]>, RegExp][] = [
    [{ "android-id": ["a1"] }, /^token is required$/],
    [{ token: [], "android-id": ["a1"] }, /^token is required$/],
    [{ token: ["   "], "android-id": ["a1"] }, /^token is required$/],
    [{ token: ["has space"], "android-id": ["a1"] }, /^token is not a push token$/],
    [{ token: ["x".repeat(4097)], "android-id": ["a1"] }, /^token is too long$/],
    [{ token: [TOKEN] }, /^device-id or android-id is required$/],
    [{ token: [TOKEN], "android-id": [""] }, /^device-id or android-id is required$/],
    [{ token: [TOKEN], "device-id": [" "], "android-id": [" \t"] }, /required/],
    [{ token: [TOKEN], "android-id": ["a\u0000b"] }, /^android-id has control characters$/],
    [{ token: [TOKEN], "device-id": ["x".repeat(257)] }, /^device-id is too long$/],
    [
      { token: [TOKEN], "android-id": ["a1"], muc: ["room@muc.example/nick"] },
      /^muc must be a bare JID$/,
    ],
    [{ token: [TOKEN], "android-id": ["a1"], muc: ["a@b@c"] }, /^muc is not a JID$/],
  ];
  for (const [fields, reason] of cases) {
    const result = parseP2RegisterFields(fields);
    assert.equal(result.ok, false, JSON.stringify(fields).slice(0, 80));
    if (!result.ok) {
      assert.equal(result.condition, "bad-request");
      assert.match(result.reason, reason);
      assert.ok(!result.reason.includes(TOKEN));
    }
  }
});

Deno.test("parseP2RegisterFields: a bare room JID is a MUC registration; blank muc is none", () => {
  assert.deepEqual(
    parseP2RegisterFields({
      token: [TOKEN],
      "android-id": ["a1"],
      muc: ["room@conference.example.org"],
    }),
    { ok: true, value: { token: TOKEN, deviceId: "a1", muc: "room@conference.example.org" } },
  );
  assert.deepEqual(
    parseP2RegisterFields({ token: [TOKEN], "android-id": ["a1"], muc: [""] }),
    { ok: true, value: { token: TOKEN, deviceId: "a1" } },
  );
});

Deno.test("parseP2UnregisterFields: needs only the device id", () => {
  assert.deepEqual(parseP2UnregisterFields({ "android-id": ["a1"] }), {
    ok: true,
    value: { deviceId: "a1" },
  });
  const missing = parseP2UnregisterFields({ token: [TOKEN] });
  assert.deepEqual(missing, {
    ok: false,
    condition: "bad-request",
    reason: "device-id or android-id is required",
  });
});
