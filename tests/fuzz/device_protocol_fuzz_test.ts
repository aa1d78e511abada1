/**
 * Property tests of the device request validation: any frame gives a valid typed request
 * or `{ok: false, error}` with a short message naming the problem, never a throw; valid
 * requests round-trip; prototype keys do nothing.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type DeviceRequest,
  type ParsedFrame,
  requestParser,
} from "../../adapters/device/device_protocol.ts";
import { CaseTally, check } from "./fuzz_params.ts";
import { scaledMs } from "../support/timing.ts";

const MAX_ACCOUNTS = 8;
const parse = requestParser(MAX_ACCOUNTS);
const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

/**
 * Error messages stay short whatever the input's size: a field path and zod's message, or
 * an action name cut to 64 characters (each at most 6 once escaped as JSON).
 */
const MAX_ERROR_LENGTH = 512;

/** Independent check of what a request may be once accepted. */
function assertValidRequest(request: DeviceRequest): void {
  assert.ok(request.version === 1 || request.version === 2);
  assert.match(request.deviceId, /^[0-9a-fA-F]{1,128}$/);
  switch (request.action) {
    case "set_channel_uri":
      assert.equal(typeof request.channelUri, "string");
      assert.ok(request.channelUri.length >= 1 && request.channelUri.length <= 2048);
      assert.deepEqual(Object.keys(request).sort(), [
        "action",
        "channelUri",
        "deviceId",
        "version",
      ]);
      break;
    case "set_push_accounts":
      assert.ok(Array.isArray(request.accountIds));
      assert.ok(request.accountIds.length <= MAX_ACCOUNTS);
      for (const id of request.accountIds) assert.match(id, /^[0-9A-Za-z_-]{1,128}$/);
      assert.deepEqual(Object.keys(request).sort(), [
        "accountIds",
        "action",
        "deviceId",
        "version",
      ]);
      break;
    case "request_test_push":
      assert.deepEqual(Object.keys(request).sort(), ["action", "deviceId", "version"]);
      break;
    default:
      assert.fail(`unexpected action ${JSON.stringify(request)}`);
  }
}

/** Parses, and checks the universal property: a valid request or a clear, short error. */
function parseChecked(frame: Uint8Array): ParsedFrame {
  const parsed = parse(frame);
  if (parsed.ok) {
    assertValidRequest(parsed.request);
  } else {
    assert.ok(parsed.version === 1 || parsed.version === 2);
    assert.equal(typeof parsed.error, "string");
    assert.ok(parsed.error.length > 0, "an empty error message");
    assert.ok(parsed.error.length <= MAX_ERROR_LENGTH, `error too long: ${parsed.error}`);
    assert.match(
      parsed.error,
      /^(invalid UTF-8|invalid JSON|invalid JSON: too complex|invalid request: expected a JSON object|unknown action ".*"|invalid field [\w.]+: .+)$/s,
    );
  }
  return parsed;
}

// ---- generators ----

const hex = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF"), minLength: min, maxLength: max });
const accountId = fc.string({
  unit: fc.constantFrom(..."0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"),
  minLength: 1,
  maxLength: 128,
});
const version = fc.constantFrom(1 as const, 2 as const);

/** A valid request, as the parser returns it. */
const validRequest: fc.Arbitrary<DeviceRequest> = fc.oneof(
  fc.record({
    action: fc.constant("set_channel_uri" as const),
    version,
    deviceId: hex(1, 128),
    channelUri: fc.string({ unit: "grapheme", minLength: 1, maxLength: 300 }).filter((s) =>
      s.length <= 2048
    ),
  }, { noNullPrototype: true }),
  fc.record({
    action: fc.constant("set_push_accounts" as const),
    version,
    deviceId: hex(1, 128),
    accountIds: fc.array(accountId, { maxLength: MAX_ACCOUNTS }),
  }, { noNullPrototype: true }),
  fc.record(
    { action: fc.constant("request_test_push" as const), version, deviceId: hex(1, 128) },
    { noNullPrototype: true },
  ),
);

/** The wire form of a request. */
function wire(request: DeviceRequest): Record<string, unknown> {
  const base = { version: request.version, action: request.action, device_id: request.deviceId };
  switch (request.action) {
    case "set_channel_uri":
      return { ...base, channel_uri: request.channelUri };
    case "set_push_accounts":
      return { ...base, accounts: request.accountIds.map((id) => ({ account_id: id })) };
    case "request_test_push":
      return base;
  }
}

/** Values of every JSON type, including the awkward ones. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    0,
    -0,
    1e308,
    -1e308,
    2.5,
    Number.MAX_SAFE_INTEGER + 2,
    "",
    " ",
    "2",
    "\u0001\u001f",
    "😀",
    "\u202e",
    "a\nb",
    "ab\n",
    "٣",
    null,
    true,
    [],
    {},
    [{}],
    { account_id: "a" },
    "__proto__",
  ),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ minLength: 600, maxLength: 3000 }),
);

/** Keys an attacker might try, next to the real ones. */
const oddKey = fc.oneof(
  fc.constantFrom(
    "__proto__",
    "constructor",
    "prototype",
    "toString",
    "hasOwnProperty",
    "version",
    "action",
    "device_id",
    "channel_uri",
    "accounts",
    "account_id",
  ),
  fc.string({ maxLength: 12 }),
);

/** JSON text of an object with `entries` as written, so `__proto__` stays an own key. */
function objectText(entries: [string, unknown][]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? "null"}`)}}`;
}

Deno.test("fuzz requestParser: arbitrary bytes never throw", () => {
  check(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.string({ unit: "binary", maxLength: 300 }).map(bytes),
        fc.jsonValue().map((v) => bytes(JSON.stringify(v) ?? "")),
      ),
      (frame) => {
        parseChecked(frame);
      },
    ),
    1000,
  );
});

Deno.test("fuzz requestParser: valid requests round-trip, with extra fields and any key order", () => {
  check(
    fc.property(
      validRequest,
      fc.array(fc.tuple(fc.string({ maxLength: 10 }), oddValue), { maxLength: 4 }),
      fc.nat(),
      (request, extras, shuffle) => {
        const known = Object.entries(wire(request));
        const names = new Set(known.map(([k]) => k));
        const entries = [...known, ...extras.filter(([k]) => !names.has(k))];
        // Rotate the keys: order must not matter.
        const cut = shuffle % entries.length;
        const text = objectText([...entries.slice(cut), ...entries.slice(0, cut)]);
        const parsed = parseChecked(bytes(text));
        assert.deepEqual(parsed, { ok: true, request }, text);
      },
    ),
    500,
  );
});

Deno.test("fuzz requestParser: one wrong field is refused, naming that field", () => {
  const fieldsOf = (request: DeviceRequest) => Object.keys(wire(request));
  const tally = new CaseTally();
  check(
    fc.property(
      validRequest.chain((request) =>
        fc.tuple(fc.constant(request), fc.constantFrom(...fieldsOf(request)), oddValue)
      ),
      ([request, field, value]) => {
        const message = { ...wire(request), [field]: value };
        const parsed = parseChecked(bytes(JSON.stringify(message)));
        if (parsed.ok) {
          // Only a value that happens to be valid for the field may pass, and then it is used.
          const again = parse(bytes(JSON.stringify(wire(parsed.request))));
          assert.deepEqual(again, parsed);
          tally.count("valid by chance");
          return;
        }
        tally.count("refused");
        if (field === "action") {
          assert.match(parsed.error, /^(unknown action |invalid field action: )/);
        } else {
          const path = parsed.error.match(/^invalid field ([\w.]+):/)?.[1];
          assert.ok(path === field || path?.startsWith(`${field}.`), parsed.error);
        }
      },
    ),
    1000,
  );
  // Most odd values are wrong for any field: the refusal checks must be what ran.
  tally.assertShare(["refused"], 0.8, "wrong fields refused");
});

Deno.test("fuzz requestParser: prototype keys and odd keys change nothing", () => {
  check(
    fc.property(
      fc.array(fc.tuple(oddKey, oddValue), { maxLength: 8 }),
      fc.option(validRequest, { nil: undefined }),
      (entries, request) => {
        const base = request ? Object.entries(wire(request)) : [];
        const text = objectText([...entries, ...base]);
        const parsed = parseChecked(bytes(text));
        // JSON.parse keeps the last of duplicate keys: the valid ones, written last, win.
        if (request) assert.deepEqual(parsed, { ok: true, request }, text);
        // Nothing leaked into the prototypes.
        const probe: Record<string, unknown> = {};
        for (const key of ["version", "action", "device_id", "accounts", "account_id", "x"]) {
          assert.equal(probe[key], undefined, `Object.prototype.${key} was set by ${text}`);
        }
        assert.equal(Object.getPrototypeOf(probe), Object.prototype);
      },
    ),
    500,
  );
});

Deno.test("fuzz requestParser: invalid UTF-8 anywhere is named", () => {
  const badSequences = [
    [0xff],
    [0x80],
    [0xc0, 0x80], // overlong NUL
    [0xed, 0xa0, 0x80], // a UTF-16 surrogate
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    [0xe2, 0x82], // truncated
  ];
  check(
    fc.property(validRequest, fc.constantFrom(...badSequences), fc.nat(), (request, bad, at) => {
      const good = bytes(JSON.stringify(wire(request)));
      const i = at % (good.length + 1);
      const frame = new Uint8Array([...good.subarray(0, i), ...bad, ...good.subarray(i)]);
      assert.deepEqual(parseChecked(frame), { ok: false, version: 2, error: "invalid UTF-8" });
    }),
    300,
  );
});

Deno.test("fuzz requestParser: truncated JSON is refused", () => {
  check(
    fc.property(validRequest, fc.nat(), (request, at) => {
      const good = bytes(JSON.stringify(wire(request)));
      const parsed = parseChecked(good.subarray(0, at % good.length));
      assert.ok(!parsed.ok);
      assert.match(parsed.error, /^invalid (JSON|UTF-8)$/);
    }),
    300,
  );
});

Deno.test("fuzz requestParser: deep nesting, huge numbers and long strings are answered quickly", () => {
  const n = 100_000;
  const wrap = (inner: string) =>
    `{"version":2,"action":"set_push_accounts","device_id":"ab","accounts":${inner}}`;
  const cases: [string, RegExp][] = [
    ["[".repeat(n) + "]".repeat(n), /^invalid request: expected a JSON object$/],
    ["[".repeat(n), /^invalid JSON$/],
    ['{"a":'.repeat(n) + "1" + "}".repeat(n), /^invalid field version: /],
    [wrap("[".repeat(n) + "]".repeat(n)), /^invalid field accounts\.0: /],
    [wrap(`[{"account_id":"a","x":${"[".repeat(n)}${"]".repeat(n)}}]`), /^$/],
    [`{"version":1${"0".repeat(400)},"action":"x"}`, /^invalid field version: /],
    [`{"version":2${"0".repeat(400)},"action":"x"}`, /^invalid field version: /],
    [`{"version":2,"action":"${"x".repeat(60_000)}"}`, /^unknown action "x{64}\.\.\."$/],
    [wrap(`[${"1,".repeat(30_000)}1]`), /^invalid field accounts: too many accounts/],
    [`{"version":2,"action":"request_test_push","device_id":"${"a".repeat(60_000)}"}`, /device_id/],
  ];
  for (const [text, expected] of cases) {
    const started = performance.now();
    const parsed = parseChecked(bytes(text));
    const ms = performance.now() - started;
    assert.ok(ms < scaledMs(2000), `${ms} ms for ${text.slice(0, 60)}`);
    if (expected.source === "^$") {
      assert.deepEqual(parsed, {
        ok: true,
        request: { action: "set_push_accounts", version: 2, deviceId: "ab", accountIds: ["a"] },
      });
    } else {
      assert.ok(!parsed.ok, text.slice(0, 60));
      assert.match(parsed.error, expected, text.slice(0, 60));
    }
  }
});
