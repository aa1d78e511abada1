import assert from "node:assert/strict";
import webpush from "web-push";
import { z } from "zod";
import { type WebPushAppConfig, WebPushAppSchema } from "../../../app/config/webpush_app.ts";

const SUBJECT = "mailto:ops@push.example.org";

function problems(input: unknown): string[] {
  const result = WebPushAppSchema.safeParse(input);
  assert.ok(!result.success, "expected the entry to be refused");
  return result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
}

Deno.test("WebPushAppSchema: defaults fill everything optional", () => {
  const parsed: WebPushAppConfig = WebPushAppSchema.parse({
    service: "webpush",
    vapid: { subject: SUBJECT },
  });
  assert.deepEqual(parsed, {
    service: "webpush",
    default: false,
    vapid: { subject: SUBJECT },
    ttlSeconds: 86_400,
    urgency: "normal",
    topic: true,
    allowPrivateAddresses: false,
    requestTimeoutSeconds: 10,
    maxResponseBytes: 8192,
    maxInFlight: 64,
    maxQueued: 10_000,
    maxInFlightPerHost: 16,
    maxInFlightPerEndpoint: 2,
    maxQueueWaitSeconds: 5,
    maxAttempts: 4,
    encryptionWorkers: 0,
    ecdh: "webcrypto",
    coalesceMs: 250,
  });
});

Deno.test("WebPushAppSchema: keys made by web-push's generateVAPIDKeys are accepted", () => {
  const keys = webpush.generateVAPIDKeys();
  const parsed = WebPushAppSchema.parse({
    service: "webpush",
    default: true,
    vapid: { subject: "https://push.example.org/contact", keys },
    urgency: "high",
    allowPrivateAddresses: true,
  });
  assert.deepEqual(parsed.vapid.keys, keys);
  assert.equal(parsed.default, true);
  assert.equal(parsed.urgency, "high");
});

Deno.test("WebPushAppSchema: bad entries are refused, naming the field", () => {
  const base = { service: "webpush", vapid: { subject: SUBJECT } };
  assert.equal(WebPushAppSchema.parse({ ...base, ecdh: "openssl" }).ecdh, "openssl");
  assert.match(problems({ ...base, ecdh: "libressl" }).join("\n"), /^ecdh:/m);
  assert.match(problems({ ...base, vapid: {} }).join("\n"), /^vapid\.subject:/m);
  assert.match(
    problems({ ...base, vapid: { subject: "http://push.example.org" } }).join("\n"),
    /vapid\.subject: the VAPID subject must be a mailto: address or an https: URL/,
  );
  assert.match(
    problems({ ...base, vapid: { subject: "ops@push.example.org" } }).join("\n"),
    /vapid\.subject/,
  );
  const keys = webpush.generateVAPIDKeys();
  assert.match(
    problems({ ...base, vapid: { subject: SUBJECT, keys, keysFile: "/etc/vapid.json" } })
      .join("\n"),
    /vapid\.keysFile: give vapid\.keys or vapid\.keysFile, not both/,
  );
  assert.match(
    problems({ ...base, vapid: { subject: SUBJECT, keys: { ...keys, privateKey: "short" } } })
      .join("\n"),
    /vapid\.keys\.privateKey/,
  );
  assert.match(
    problems({ ...base, vapid: { subject: SUBJECT, keys: { publicKey: keys.publicKey } } })
      .join("\n"),
    /vapid\.keys\.privateKey/,
  );
  assert.match(problems({ ...base, urgency: "urgent" }).join("\n"), /^urgency:/m);
  assert.match(problems({ ...base, ttlSeconds: -1 }).join("\n"), /^ttlSeconds:/m);
  assert.match(problems({ ...base, ttlSeconds: 2_419_201 }).join("\n"), /^ttlSeconds:/m);
  assert.match(
    problems({ ...base, maxInFlightPerEndpoint: 0 }).join("\n"),
    /maxInFlightPerEndpoint/,
  );
  assert.match(problems({ ...base, maxAttempts: 11 }).join("\n"), /^maxAttempts:/m);
  assert.match(problems({ ...base, requestTimeoutSeconds: 0 }).join("\n"), /requestTimeoutSeconds/);
  assert.match(problems({ ...base, maxResponseBytes: 10 }).join("\n"), /maxResponseBytes/);
  // A misspelt field is an error, not silently ignored.
  assert.match(problems({ ...base, allowPrivateAddress: true }).join("\n"), /allowPrivateAddress/);
  assert.match(problems({ ...base, service: "fcm" }).join("\n"), /^service:/m);
});

Deno.test("WebPushAppSchema: fits a discriminated union on service, as apps.ts builds it", () => {
  const Other = z.object({ service: z.literal("fcm"), default: z.boolean().default(false) });
  const App = z.discriminatedUnion("service", [WebPushAppSchema, Other]);
  const parsed = App.parse({ service: "webpush", vapid: { subject: SUBJECT } });
  assert.equal(parsed.service, "webpush");
  assert.equal(App.parse({ service: "fcm" }).service, "fcm");
});
