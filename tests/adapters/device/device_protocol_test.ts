import assert from "node:assert/strict";
import {
  accountsResponse,
  errorResponse,
  type ParsedFrame,
  requestParser,
  successResponse,
} from "../../../adapters/device/device_protocol.ts";
import { encodeFrame } from "../../../adapters/device/frame_decoder.ts";

const DEVICE = "5486bd868050a620141f4e81c9f1d2c67ab0de27e5e26d218ca41c9394ee806b";
const ACC = "dadbbb9327c711e4b626f7820fb299871d23d6020683bbd1e08d37e0246c7e90";
const CHANNEL = "https://db5p.notify.windows.com/?token=abc";

const parse = requestParser(4);
const bytes = (text: string) => new TextEncoder().encode(text);
const parseJson = (value: unknown) => parse(bytes(JSON.stringify(value)));

const sharedText = (name: string) =>
  Deno.readTextFileSync(new URL(`../../fixtures/protocol/${name}`, import.meta.url));
const shared = (name: string) => JSON.parse(sharedText(name)) as Record<string, unknown>;

function failure(parsed: ParsedFrame): { version: number; error: string } {
  assert.ok(!parsed.ok, "expected a failure");
  return { version: parsed.version, error: parsed.error };
}

Deno.test("requestParser: set_channel_uri, versions 1 and 2", () => {
  for (const version of [1, 2] as const) {
    assert.deepEqual(
      parseJson({ version, action: "set_channel_uri", device_id: DEVICE, channel_uri: CHANNEL }),
      {
        ok: true,
        request: { action: "set_channel_uri", version, deviceId: DEVICE, channelUri: CHANNEL },
      },
    );
  }
});

Deno.test("requestParser: set_push_accounts and its alias set_accounts, versions 1 and 2", () => {
  for (const action of ["set_push_accounts", "set_accounts"]) {
    for (const version of [1, 2] as const) {
      assert.deepEqual(
        parseJson({
          version,
          action,
          device_id: DEVICE,
          accounts: [{ account_id: ACC }, { account_id: "b-2_c" }],
        }),
        {
          ok: true,
          request: {
            action: "set_push_accounts",
            version,
            deviceId: DEVICE,
            accountIds: [ACC, "b-2_c"],
          },
        },
        `${action} v${version}`,
      );
    }
  }
  const empty = parseJson({
    version: 2,
    action: "set_push_accounts",
    device_id: DEVICE,
    accounts: [],
  });
  assert.ok(empty.ok && empty.request.action === "set_push_accounts");
  assert.deepEqual(empty.request.accountIds, []);
});

Deno.test("requestParser: request_test_push, versions 1 and 2", () => {
  for (const version of [1, 2] as const) {
    assert.deepEqual(parseJson({ version, action: "request_test_push", device_id: DEVICE }), {
      ok: true,
      request: { action: "request_test_push", version, deviceId: DEVICE },
    });
  }
});

Deno.test("requestParser: the seed's example requests parse", () => {
  const channel = parse(bytes(sharedText("set_channel_uri.request.json")));
  assert.deepEqual(channel, {
    ok: true,
    request: {
      action: "set_channel_uri",
      version: 2,
      deviceId: DEVICE,
      channelUri: shared("set_channel_uri.request.json").channel_uri,
    },
  });
  const accounts = parse(bytes(sharedText("set_push_accounts.request.json")));
  assert.deepEqual(accounts, {
    ok: true,
    request: {
      action: "set_push_accounts",
      version: 2,
      deviceId: DEVICE,
      accountIds: [
        "DADBBB9327C711E4B626F7820FB299871D23D6020683BBD1E08D37E0246C7E90",
        "16ECAB1875791E2B6ED0C9A6DAE5A12A79D92120E1C3AFBD3A9C8535CE44666D",
      ],
    },
  });
  const test = parse(bytes(sharedText("request_test_push.request.json")));
  assert.deepEqual(test, {
    ok: true,
    request: { action: "request_test_push", version: 2, deviceId: DEVICE },
  });
});

Deno.test("requestParser: unknown extra fields are ignored", () => {
  const parsed = parseJson({
    version: 2,
    action: "request_test_push",
    device_id: DEVICE,
    extra: { nested: true },
  });
  assert.ok(parsed.ok);
});

Deno.test("requestParser: not JSON", () => {
  for (const text of ["", "{", "hello", '{"version":2,}', "{'version':2}"]) {
    assert.deepEqual(failure(parse(bytes(text))), { version: 2, error: "invalid JSON" }, text);
  }
});

Deno.test("requestParser: invalid UTF-8", () => {
  const frame = new Uint8Array([...bytes('{"version":2,"action":"'), 0xff, 0xfe, ...bytes('"}')]);
  assert.deepEqual(failure(parse(frame)), { version: 2, error: "invalid UTF-8" });
  // A truncated multi-byte sequence.
  assert.deepEqual(failure(parse(new Uint8Array([0x7b, 0xe2, 0x82]))), {
    version: 2,
    error: "invalid UTF-8",
  });
});

Deno.test("requestParser: JSON that is not an object", () => {
  for (const value of [[], [{ version: 2 }], "text", 42, null, true]) {
    assert.deepEqual(failure(parseJson(value)), {
      version: 2,
      error: "invalid request: expected a JSON object",
    }, JSON.stringify(value));
  }
});

Deno.test("requestParser: unknown action is named, answered in the request's version", () => {
  assert.deepEqual(failure(parseJson({ version: 1, action: "delete_everything" })), {
    version: 1,
    error: 'unknown action "delete_everything"',
  });
  assert.deepEqual(failure(parseJson({ version: 2, action: "response" })), {
    version: 2,
    error: 'unknown action "response"',
  });
});

Deno.test("requestParser: a long unknown action is repeated cut short", () => {
  // Regression (found by tests/fuzz/device_protocol_fuzz_test.ts): a 64 KiB action used to
  // come back whole in the answer and in the log line.
  const action = "x".repeat(60_000);
  assert.deepEqual(failure(parseJson({ version: 2, action })), {
    version: 2,
    error: `unknown action "${"x".repeat(64)}..."`,
  });
});

Deno.test("requestParser: JSON the engine gives up on is invalid JSON, not invalid UTF-8", () => {
  // Regression: every non-SyntaxError of decoding or parsing was reported as invalid UTF-8.
  // V8's JSON.parse is not recursive, so the RangeError is simulated.
  const parse = JSON.parse;
  JSON.parse = () => {
    throw new RangeError("Maximum call stack size exceeded");
  };
  try {
    assert.deepEqual(failure(parseJson({ version: 2 })), {
      version: 2,
      error: "invalid JSON: too complex",
    });
  } finally {
    JSON.parse = parse;
  }
  const deep = "[".repeat(100_000) + "]".repeat(100_000);
  assert.deepEqual(failure(requestParser(4)(bytes(deep))), {
    version: 2,
    error: "invalid request: expected a JSON object",
  });
});

Deno.test("requestParser: bad or missing version and action", () => {
  for (const version of [0, 3, "2", 2.5, null, undefined]) {
    const { version: answered, error } = failure(
      parseJson({ version, action: "request_test_push", device_id: DEVICE }),
    );
    assert.equal(answered, 2);
    assert.match(error, /^invalid field version: /, String(version));
  }
  assert.match(failure(parseJson({ version: 2 })).error, /^invalid field action: /);
  assert.match(failure(parseJson({ version: 2, action: 7 })).error, /^invalid field action: /);
});

Deno.test("requestParser: missing device_id", () => {
  for (const action of ["set_channel_uri", "set_push_accounts", "request_test_push"]) {
    const parsed = parseJson({
      version: 1,
      action,
      channel_uri: CHANNEL,
      accounts: [{ account_id: ACC }],
    });
    const { version, error } = failure(parsed);
    assert.equal(version, 1);
    assert.match(error, /^invalid field device_id: /, action);
  }
});

Deno.test("requestParser: wrong types and shapes name the field", () => {
  const cases: [unknown, RegExp][] = [
    [
      { action: "set_channel_uri", device_id: 123, channel_uri: CHANNEL },
      /^invalid field device_id: /,
    ],
    [
      { action: "set_channel_uri", device_id: "not hex!", channel_uri: CHANNEL },
      /device_id: must be 1 to 128 hex/,
    ],
    [
      { action: "set_channel_uri", device_id: "a".repeat(129), channel_uri: CHANNEL },
      /device_id: must be 1 to 128 hex/,
    ],
    [
      { action: "set_channel_uri", device_id: "", channel_uri: CHANNEL },
      /^invalid field device_id: /,
    ],
    [{ action: "set_channel_uri", device_id: DEVICE }, /^invalid field channel_uri: /],
    [
      { action: "set_channel_uri", device_id: DEVICE, channel_uri: ["x"] },
      /^invalid field channel_uri: /,
    ],
    [
      { action: "set_channel_uri", device_id: DEVICE, channel_uri: "" },
      /^invalid field channel_uri: /,
    ],
    [
      { action: "set_channel_uri", device_id: DEVICE, channel_uri: "h".repeat(2049) },
      /^invalid field channel_uri: /,
    ],
    [{ action: "set_push_accounts", device_id: DEVICE }, /^invalid field accounts: /],
    [
      { action: "set_push_accounts", device_id: DEVICE, accounts: { account_id: ACC } },
      /^invalid field accounts: /,
    ],
    [
      { action: "set_push_accounts", device_id: DEVICE, accounts: [ACC] },
      /^invalid field accounts\.0: /,
    ],
    [
      { action: "set_push_accounts", device_id: DEVICE, accounts: [{}] },
      /^invalid field accounts\.0\.account_id: /,
    ],
    [{
      action: "set_push_accounts",
      device_id: DEVICE,
      accounts: [{ account_id: ACC }, { account_id: 5 }],
    }, /^invalid field accounts\.1\.account_id: /],
    [
      { action: "set_push_accounts", device_id: DEVICE, accounts: [{ account_id: "a b" }] },
      /accounts\.0\.account_id: must be 1 to 128 letters/,
    ],
    [
      { action: "set_push_accounts", device_id: DEVICE, accounts: [{ account_id: "" }] },
      /accounts\.0\.account_id: /,
    ],
    [{ action: "request_test_push", device_id: [DEVICE] }, /^invalid field device_id: /],
  ];
  for (const [fields, pattern] of cases) {
    const request = { version: 2, ...(fields as Record<string, unknown>) };
    const { version, error } = failure(parseJson(request));
    assert.equal(version, 2);
    assert.match(error, pattern, JSON.stringify(request));
  }
});

Deno.test("requestParser: too many accounts", () => {
  const accounts = (n: number) => Array.from({ length: n }, (_, i) => ({ account_id: `acc${i}` }));
  assert.ok(
    parseJson({ version: 2, action: "set_push_accounts", device_id: DEVICE, accounts: accounts(4) })
      .ok,
  );
  assert.deepEqual(
    failure(
      parseJson({
        version: 2,
        action: "set_push_accounts",
        device_id: DEVICE,
        accounts: accounts(5),
      }),
    ),
    {
      version: 2,
      error:
        "invalid field accounts: too many accounts: this push server takes at most 4 per device",
    },
  );
  assert.ok(
    !requestParser(32)(bytes(JSON.stringify({
      version: 2,
      action: "set_accounts",
      device_id: DEVICE,
      accounts: accounts(33),
    }))).ok,
  );
});

Deno.test("answers: exactly the seed's response shapes", () => {
  assert.deepEqual(JSON.parse(successResponse(2)), shared("success.response.json"));
  assert.equal(successResponse(2), JSON.stringify(shared("success.response.json")));
  const error = shared("error.response.json");
  assert.equal(errorResponse(2, error.error as string), JSON.stringify(error));
  const accounts = shared("set_push_accounts.response.json");
  const answer = accountsResponse(
    2,
    accounts.push_bare_jid as string,
    (accounts.accounts as Record<string, unknown>[]).map((a) => ({
      accountId: a.account_id as string,
      node: a.node as string,
      secret: a.secret as string,
      success: a.success as boolean,
    })),
  );
  assert.equal(answer, JSON.stringify(accounts));
  assert.deepEqual(JSON.parse(successResponse(1)), { version: 1, action: "response", status: 1 });
});

Deno.test("answers: an error text with quotes or NULs cannot break the framing", () => {
  const frame = encodeFrame(errorResponse(2, 'bad "value"\0 here'));
  assert.equal(frame.indexOf(0), frame.length - 1, "the only NUL ends the frame");
  assert.equal(
    JSON.parse(new TextDecoder().decode(frame.subarray(0, -1))).error,
    'bad "value"\0 here',
  );
});
