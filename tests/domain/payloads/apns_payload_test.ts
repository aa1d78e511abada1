import assert from "node:assert/strict";
import {
  APNS_PAYLOAD_LIMIT_BYTES,
  apnsPayload,
  type ApnsPayloadSettings,
  MONAL_PAYLOAD_SETTINGS,
} from "../../../domain/payloads/apns_payload.ts";

const summary = (fields: Record<string, string>) => new Map(Object.entries(fields));
const bytes = (text: string) => new TextEncoder().encode(text).length;

Deno.test("apnsPayload: Monal's defaults are exactly fpush's alert body", () => {
  const payload = apnsPayload(MONAL_PAYLOAD_SETTINGS, null);
  assert.equal(
    payload.json,
    '{"aps":{"alert":{"title":"New Message","body":"New Message?"},"sound":"default","mutable-content":1}}',
  );
  assert.equal(payload.pushType, "alert");
  assert.equal(payload.bytes, bytes(payload.json));
});

Deno.test("apnsPayload: the message body stays out unless the app allows it", () => {
  const published = summary({
    "message-count": "1",
    "last-message-sender": "juliet@capulet.example/balcony",
    "last-message-body": "Wherefore art thou, Romeo?",
  });
  const payload = apnsPayload(MONAL_PAYLOAD_SETTINGS, published);
  assert.doesNotMatch(payload.json, /Wherefore|juliet/);
  assert.deepEqual(JSON.parse(payload.json).aps.alert, {
    title: "New Message",
    body: "New Message?",
  });
});

Deno.test("apnsPayload: an app that allows content gets the body, never the sender", () => {
  const settings = { ...MONAL_PAYLOAD_SETTINGS, includeMessageBody: true };
  const published = summary({
    "last-message-sender": "juliet@capulet.example/balcony",
    "last-message-body": "  Wherefore art thou, Romeo?  ",
  });
  const payload = apnsPayload(settings, published);
  assert.deepEqual(JSON.parse(payload.json).aps.alert, {
    title: "New Message",
    body: "Wherefore art thou, Romeo?",
  });
  assert.doesNotMatch(payload.json, /juliet/);
  // Allowed but absent or blank: the placeholder.
  assert.equal(apnsPayload(settings, null).json, apnsPayload(MONAL_PAYLOAD_SETTINGS, null).json);
  assert.equal(
    apnsPayload(settings, summary({ "last-message-body": "  " })).json,
    apnsPayload(MONAL_PAYLOAD_SETTINGS, null).json,
  );
});

Deno.test("apnsPayload: a body too long is cut on a character boundary to fit 4096 bytes", () => {
  const settings = { ...MONAL_PAYLOAD_SETTINGS, includeMessageBody: true };
  const body = "😀".repeat(3000); // 12,000 bytes of 4-byte characters
  const payload = apnsPayload(settings, summary({ "last-message-body": body }));
  assert.ok(payload.bytes <= APNS_PAYLOAD_LIMIT_BYTES);
  assert.ok(payload.bytes > APNS_PAYLOAD_LIMIT_BYTES - 8, `${payload.bytes} should be close`);
  const alertBody: string = JSON.parse(payload.json).aps.alert.body;
  assert.ok(alertBody.endsWith("…"));
  assert.match(alertBody.slice(0, -1), /^(😀)+$/u);
});

Deno.test("apnsPayload: background pushes are content-available only, typed background", () => {
  const settings: ApnsPayloadSettings = {
    ...MONAL_PAYLOAD_SETTINGS,
    pushType: "background",
    includeMessageBody: true,
  };
  const payload = apnsPayload(settings, summary({ "last-message-body": "secret words" }));
  assert.equal(payload.pushType, "background");
  assert.equal(payload.json, '{"aps":{"content-available":1}}');
});

Deno.test("apnsPayload: static extra keys go to the top level and cannot replace aps", () => {
  const settings: ApnsPayloadSettings = {
    ...MONAL_PAYLOAD_SETTINGS,
    sound: null,
    mutableContent: false,
    additionalData: { monalVersion: 2, aps: { evil: 1 }, list: [1, "a", null] },
  };
  assert.deepEqual(JSON.parse(apnsPayload(settings, null).json), {
    aps: { alert: { title: "New Message", body: "New Message?" } },
    monalVersion: 2,
    list: [1, "a", null],
  });
});

Deno.test("apnsPayload: settings that cannot fit are refused", () => {
  const settings = { ...MONAL_PAYLOAD_SETTINGS, additionalData: { big: "x".repeat(5000) } };
  assert.throws(() => apnsPayload(settings, null), RangeError);
});
