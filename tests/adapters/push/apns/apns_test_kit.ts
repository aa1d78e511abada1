/**
 * Shared setup of the APNs tests: a fake APNs with a test key and CA, a provider token and
 * a sender pointed at the fake, and the headers and payloads the domain builds.
 *
 * @module
 */

import { type ApnsHeaders, apnsHeaders } from "../../../../domain/payloads/apns_headers.ts";
import { apnsPayload, MONAL_PAYLOAD_SETTINGS } from "../../../../domain/payloads/apns_payload.ts";
import {
  type FakeApns,
  type FakeApnsCertificates,
  type FakeApnsOptions,
  generateApnsTestKey,
  generateFakeApnsCertificates,
  startFakeApns,
} from "../../../../adapters/push/apns/fake_apns_server.ts";
import {
  Http2ApnsSender,
  type Http2ApnsSenderOptions,
} from "../../../../adapters/push/apns/http2_apns_sender.ts";
import { ApnsProviderToken } from "../../../../adapters/push/apns/provider_token.ts";

export const KEY_ID = "KEY1234567";
export const TEAM_ID = "TEAM123456";
export const TOPIC = "im.monal.test";

/** A settable clock. */
export class TestClock {
  constructor(public t: number = Date.now()) {}
  now(): number {
    return this.t;
  }
}

let certificates: Promise<FakeApnsCertificates> | undefined;
let testKey: Promise<{ p8: string; publicKeyPem: string }> | undefined;

/** The same CA, leaf and key for every test of a process (generating them takes time). */
export function sharedMaterial() {
  certificates ??= generateFakeApnsCertificates();
  testKey ??= generateApnsTestKey();
  return Promise.all([certificates, testKey]);
}

/** A device token: 32 bytes of hex, different for each `n`. */
export function deviceToken(n: number): string {
  return n.toString(16).padStart(8, "0").repeat(8);
}

/** Monal's alert payload and headers, as the domain builds them. */
export function monalPush(now = Date.now()): { payload: string; headers: ApnsHeaders } {
  const payload = apnsPayload(MONAL_PAYLOAD_SETTINGS, null);
  return {
    payload: payload.json,
    headers: apnsHeaders(payload, { topic: TOPIC, ttlSeconds: 3600, collapseId: null }, now),
  };
}

/** A fake, a provider token and a sender; `close` stops both. */
export interface ApnsRig {
  readonly fake: FakeApns;
  readonly sender: Http2ApnsSender;
  readonly token: ApnsProviderToken;
  readonly clock: TestClock;
  close(): Promise<void>;
}

/** Starts a rig. `fakeClockOffsetMs` puts the fake's clock ahead of ours (skew). */
export async function startRig(
  options: {
    readonly fake?: Partial<FakeApnsOptions>;
    readonly sender?: Partial<Http2ApnsSenderOptions>;
    readonly fakeClockOffsetMs?: number;
  } = {},
): Promise<ApnsRig> {
  const [certs, key] = await sharedMaterial();
  const clock = new TestClock();
  const offset = options.fakeClockOffsetMs ?? 0;
  const fake = await startFakeApns({
    keys: [{ keyId: KEY_ID, teamId: TEAM_ID, publicKeyPem: key.publicKeyPem }],
    topics: [TOPIC],
    certificates: certs,
    clock: { now: () => clock.now() + offset },
    ...options.fake,
  });
  const token = await ApnsProviderToken.create({
    keyId: KEY_ID,
    teamId: TEAM_ID,
    privateKeyPem: key.p8,
    clock,
  });
  const sender = new Http2ApnsSender({
    environment: "production",
    providerToken: token,
    baseUrl: fake.url,
    caCerts: [fake.caCert],
    requestTimeoutMs: 5000,
    ...options.sender,
  });
  return {
    fake,
    sender,
    token,
    clock,
    async close() {
      await sender.close();
      await fake.close();
    },
  };
}

/**
 * A fake APNs on a settable clock, and the fields of an APNs app's configuration that point
 * at it (its key and CA written to a temp directory); `close` stops the fake and removes the
 * directory.
 */
export interface FakeApnsForApp {
  readonly fake: FakeApns;
  readonly clock: TestClock;
  readonly dir: string;
  /** `service`, `keyFile`, `keyId`, `teamId`, `topic`, `url`, `caFile`, and `coalesceMs: 0`. */
  readonly appConfig: Record<string, unknown>;
  close(): Promise<void>;
}

/** Starts a {@link FakeApnsForApp}, its directory named with `dirPrefix`. */
export async function startFakeApnsForApp(dirPrefix: string): Promise<FakeApnsForApp> {
  const [certs, key] = await sharedMaterial();
  const clock = new TestClock();
  const fake = await startFakeApns({
    keys: [{ keyId: KEY_ID, teamId: TEAM_ID, publicKeyPem: key.publicKeyPem }],
    topics: [TOPIC],
    certificates: certs,
    clock,
  });
  const dir = await Deno.makeTempDir({ prefix: dirPrefix });
  await Deno.writeTextFile(`${dir}/AuthKey.p8`, key.p8);
  await Deno.writeTextFile(`${dir}/ca.pem`, fake.caCert);
  return {
    fake,
    clock,
    dir,
    appConfig: {
      service: "apns",
      keyFile: `${dir}/AuthKey.p8`,
      keyId: KEY_ID,
      teamId: TEAM_ID,
      topic: TOPIC,
      url: fake.url,
      caFile: `${dir}/ca.pem`,
      coalesceMs: 0,
    },
    async close() {
      await fake.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
