/**
 * Property tests of the FCM and p2 input readers: any error body, any command form and any
 * command IQ give a reading or a refusal, never a throw; accepted forms satisfy the rules
 * checked independently here.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { xml } from "@xmpp/component";
import { blamesToken, readFcmError } from "../../adapters/push/fcm/fcm_error_body.ts";
import { parseRetryAfter } from "../../adapters/push/retry_after.ts";
import { readP2Command } from "../../adapters/xmpp/fcm_commands.ts";
import { parseP2RegisterFields } from "../../adapters/xmpp/p2_command_fields.ts";
import { check } from "./fuzz_params.ts";

const detail = fc.oneof(
  fc.jsonValue(),
  fc.record({
    "@type": fc.constantFrom(
      "type.googleapis.com/google.firebase.fcm.v1.FcmError",
      "type.googleapis.com/google.rpc.BadRequest",
      "type.googleapis.com/google.rpc.ErrorInfo",
      "x",
    ),
    errorCode: fc.oneof(
      fc.string(),
      fc.constantFrom("UNREGISTERED", "INVALID_ARGUMENT"),
      fc.integer(),
    ),
    reason: fc.oneof(fc.string(), fc.integer()),
    fieldViolations: fc.oneof(fc.jsonValue(), fc.array(fc.record({ field: fc.jsonValue() }))),
  }, { requiredKeys: ["@type"] }),
);

const errorBody = fc.oneof(
  fc.string(),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.record({
    error: fc.record({
      code: fc.jsonValue(),
      message: fc.oneof(fc.string(), fc.jsonValue()),
      status: fc.oneof(fc.string(), fc.jsonValue()),
      details: fc.oneof(fc.array(detail), fc.jsonValue()),
    }, { requiredKeys: [] }),
  }).map((v) => JSON.stringify(v)),
);

Deno.test("readFcmError: any body gives a reading, never a throw", () => {
  check(
    fc.property(errorBody, (body) => {
      const reading = readFcmError(body);
      assert.ok(reading.message === null || reading.message.length <= 200);
      assert.equal(typeof blamesToken(reading), "boolean");
    }),
    300,
  );
});

Deno.test("parseRetryAfter: any header gives null or 0..1 h", () => {
  check(
    fc.property(
      fc.oneof(fc.string(), fc.date().map((d) => d.toUTCString()), fc.nat().map(String)),
      (value) => {
        const ms = parseRetryAfter(value, Date.now());
        assert.ok(ms === null || (ms >= 0 && ms <= 3_600_000), `${value} -> ${ms}`);
      },
    ),
    300,
  );
});

const fieldName = fc.constantFrom(
  "token",
  "device-id",
  "android-id",
  "muc",
  "other",
  "__proto__",
  "constructor",
);
const fieldMap = fc.dictionary(
  fieldName,
  fc.array(fc.string({ unit: "binary", maxLength: 40 }), { maxLength: 3 }),
);

Deno.test("parseP2RegisterFields: any form is accepted by the rules or refused with bad-request", () => {
  check(
    fc.property(fieldMap, (fields) => {
      const result = parseP2RegisterFields(fields);
      if (!result.ok) {
        assert.equal(result.condition, "bad-request");
        assert.ok(result.reason.length < 100);
        return;
      }
      const { token, deviceId, muc } = result.value;
      assert.match(token, /^[\x21-\x7e]+$/);
      assert.ok(deviceId.trim().length > 0);
      const fromDeviceId = Object.hasOwn(fields, "device-id") && fields["device-id"][0]?.trim();
      assert.equal(deviceId, fromDeviceId ? fields["device-id"][0] : fields["android-id"][0]);
      assert.ok(muc === undefined || !muc.includes("/"));
    }),
    500,
  );
});

const text = fc.string({ maxLength: 30 });
const element = fc.letrec<{ node: ReturnType<typeof xml> }>((tie) => ({
  node: fc.tuple(
    fc.constantFrom("iq", "command", "x", "field", "value", "other"),
    fc.record({
      xmlns: fc.constantFrom(
        "http://jabber.org/protocol/commands",
        "jabber:x:data",
        "jabber:client",
        undefined,
      ),
      type: fc.constantFrom("set", "get", "submit", undefined),
      node: fc.constantFrom(
        "register-push-fcm",
        "unregister-push-fcm",
        "register-push-x",
        undefined,
      ),
      action: fc.constantFrom("execute", "cancel", undefined),
      var: fc.constantFrom("token", "android-id", "device-id", undefined),
      from: fc.constantFrom("a@b/c", "", undefined),
    }, { requiredKeys: [] }),
    fc.array(fc.oneof({ depthSize: "small" }, text, tie("node")), { maxLength: 4 }),
  ).map(([name, attrs, children]) => {
    const defined = Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== undefined));
    return xml(name, defined, ...children);
  }),
}));

Deno.test("readP2Command: any element tree gives a command or a refusal, never a throw", () => {
  check(
    fc.property(element.node, (tree) => {
      const iq = tree.name === "iq"
        ? tree
        : xml("iq", { type: "set", from: "a@b/c", id: "1" }, tree);
      const result = readP2Command(iq);
      if (!result.ok) {
        assert.ok(result.condition === "bad-request" || result.condition === "item-not-found");
      } else assert.ok(result.fields.deviceId.length > 0);
    }),
    500,
  );
});
