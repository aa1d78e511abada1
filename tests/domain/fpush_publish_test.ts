import assert from "node:assert/strict";
import {
  apnsDeviceTokenSchema,
  interpretStatelessPublish,
  MAX_EXTRA_OPTIONS,
} from "../../domain/fpush_publish.ts";

const TOKEN = "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90";
const FORM = ["FORM_TYPE", "http://jabber.org/protocol/pubsub#publish-options"] as const;

Deno.test("interpretStatelessPublish: Monal's enable form names the module; token lower-cased", () => {
  const read = interpretStatelessPublish(TOKEN, [FORM, ["pushModule", "monalProdiOS"]]);
  assert.ok(read.ok);
  assert.equal(read.target.token, TOKEN.toLowerCase());
  assert.equal(read.target.pushModule, "monalProdiOS");
  assert.equal(read.target.app, "monalProdiOS");
  assert.equal(read.target.sandbox, false);
  assert.equal(read.target.extraOptions.size, 0);
});

Deno.test("interpretStatelessPublish: the -sandbox twin selects the sandbox", () => {
  const read = interpretStatelessPublish(TOKEN, [FORM, ["pushModule", "monalProdiOS-sandbox"]]);
  assert.ok(read.ok);
  assert.equal(read.target.app, "monalProdiOS");
  assert.equal(read.target.sandbox, true);
  const bare = interpretStatelessPublish(TOKEN, [["pushModule", "-sandbox"]]);
  assert.ok(bare.ok);
  assert.equal(bare.target.sandbox, false);
});

Deno.test("interpretStatelessPublish: extra options before pushModule are accepted (fpush fails)", () => {
  const read = interpretStatelessPublish(TOKEN, [
    FORM,
    ["secret", "s3cr3t"],
    ["pushModule", "monalAlpha"],
    ["pushModule", "ignored"],
    ["endpoint", "x"],
  ]);
  assert.ok(read.ok);
  assert.equal(read.target.pushModule, "monalAlpha");
  assert.deepEqual([...read.target.extraOptions], [["secret", "s3cr3t"], ["endpoint", "x"]]);
});

Deno.test("interpretStatelessPublish: no options or no pushModule → the default module (null)", () => {
  for (const options of [null, [], [FORM]] as const) {
    const read = interpretStatelessPublish(TOKEN, options);
    assert.ok(read.ok);
    assert.equal(read.target.pushModule, null);
    assert.equal(read.target.app, null);
  }
  // A form that is not publish-options does not count.
  const other = interpretStatelessPublish(TOKEN, [["FORM_TYPE", "urn:other"], ["pushModule", "x"]]);
  assert.ok(other.ok);
  assert.equal(other.target.pushModule, null);
});

Deno.test("interpretStatelessPublish: nodes that are not APNs tokens are not this dialect", () => {
  for (
    const node of [
      "",
      "abc",
      "0".repeat(63),
      "0".repeat(65), // odd: not bytes
      "g".repeat(64),
      "0".repeat(514),
      "cjM3SzlxeUFLc2pDSzNRZ3RZb2ZaUQ", // a p2-style node
    ]
  ) {
    assert.deepEqual(interpretStatelessPublish(node, [["pushModule", "m"]]), {
      ok: false,
      kind: "not-a-device-token",
    });
  }
  assert.ok(apnsDeviceTokenSchema.safeParse("ab".repeat(256)).success);
});

Deno.test("interpretStatelessPublish: a bad pushModule or too many options is a bad request", () => {
  for (const module of ["", "a b", "x".repeat(65), "<script>"]) {
    const read = interpretStatelessPublish(TOKEN, [["pushModule", module]]);
    assert.deepEqual(read, { ok: false, kind: "bad-request", reason: "bad pushModule" });
  }
  const many = Array.from({ length: MAX_EXTRA_OPTIONS + 1 }, (_, i) => [`f${i}`, "v"] as const);
  assert.deepEqual(interpretStatelessPublish(TOKEN, many), {
    ok: false,
    kind: "bad-request",
    reason: "too many publish-options",
  });
});
