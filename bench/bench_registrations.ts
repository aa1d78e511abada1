/**
 * The made-up registrations the push scenarios load: WNS devices in the original server's
 * layout, or one FCM or APNs app's registrations as the command door stores them. One
 * description per registration, which the SQLite and the Redis bulk loaders both write.
 *
 * @module
 */

import { COMMAND_REGISTRATION_VERSION } from "../app/use_cases/command_registration.ts";

/** Whose registrations a storage holds: WNS devices whose channels point at `url`, or an app's. */
export type BenchFleet =
  | { readonly service: "wns"; readonly url: string }
  | { readonly service: "fcm" | "apns" };

/** The FCM app of push-inproc-fcm. */
export const FCM_BENCH_APP = "bench";
/** The APNs app of push-inproc-apns. */
export const APNS_BENCH_APP = "bench-ios";

/** One registration: a device with one account, in storage-neutral terms. */
export interface BenchRegistration {
  readonly deviceId: string;
  readonly service: string;
  readonly app: string;
  /** The WNS channel URI, FCM registration token or APNs device token. */
  readonly address: string;
  readonly version: number;
  readonly accountId: string;
  readonly node: string;
  readonly secret: string;
}

/** The made-up registration number `i`: one device, one account, one node. */
export function benchIds(i: number) {
  const n = i.toString(36);
  return {
    deviceId: i.toString(16).padStart(64, "0"),
    accountId: `account-${n}`,
    // The shapes minting gives: 20-character nodes, 32-character secrets, URL-safe.
    node: `n${n.padStart(19, "0")}`,
    secret: `s${n.padStart(31, "0")}`,
    channelPath: `/channel/d${n}?token=%2bbench${n.padStart(48, "0")}`,
  };
}

/** FCM registration token `i`: the shape of a real one (about 150 characters). */
export function fcmBenchToken(i: number): string {
  return `bench${i}:APA91b${"x".repeat(134)}`;
}

/** Device token `i`: 64 lower-case hex digits. */
export function apnsBenchToken(i: number): string {
  return i.toString(16).padStart(64, "0");
}

/** Registration number `i` of `fleet`, as the server would have stored it. */
export function benchRegistration(fleet: BenchFleet, i: number): BenchRegistration {
  const { node, secret, deviceId, accountId, channelPath } = benchIds(i);
  if (fleet.service === "wns") {
    // Version 2: what the UWPX client sends.
    const address = fleet.url + channelPath;
    return { deviceId, service: "wns", app: "wns", address, version: 2, accountId, node, secret };
  }
  // Registered by command: the device id is `<service>:<app>:<key>`, the account id the key.
  const hash = i.toString(16).padStart(40, "0");
  const app = fleet.service === "fcm" ? FCM_BENCH_APP : APNS_BENCH_APP;
  return {
    deviceId: `${fleet.service}:${app}:${hash}`,
    service: fleet.service,
    app,
    address: fleet.service === "fcm" ? fcmBenchToken(i) : apnsBenchToken(i),
    version: COMMAND_REGISTRATION_VERSION,
    accountId: hash,
    node,
    secret,
  };
}
