/**
 * Operator commands that read the configured storage, as a running server would:
 * `show-device`, `show-node`, `count`, `purge`.
 *
 * @module
 */

import type { RegistrationStore } from "../../domain/ports/storage.ts";
import type { PushTarget } from "../../domain/push_target.ts";
import { shortId } from "../log_ids.ts";
import { bareJidOf, p2DeviceHash } from "../../domain/p2_registration.ts";
import { WEBPUSH, webPushRegistrationKey } from "../../domain/webpush_registration.ts";
import { commandRegistrationId } from "../use_cases/command_registration.ts";
import { openStore } from "../open_store.ts";
import {
  channel,
  cliLogger,
  type CliOutput,
  exists,
  Failure,
  type Flags,
  mask,
  noArguments,
  oneArgument,
  readConfig,
  UsageError,
  when,
} from "./cli_support.ts";

/** `show-device ID`: a device's registration. */
export async function showDevice(flags: Flags, args: string[], output: CliOutput): Promise<void> {
  const deviceId = oneArgument(args, "show-device needs a device id");
  const show = flags["show-secrets"] ?? false;
  await withStore(flags, output, async (store) => {
    const device = await store.findDevice(deviceId, Date.now());
    if (device === null) {
      throw new Failure(`no live registration for device ${shortId(deviceId)}`);
    }
    // Never in full: the operator typed it, and whoever reads this should not learn it.
    output.out(`device: ${shortId(device.deviceId)}`);
    output.out(`channel: ${address(device.target, show)}`);
    if (device.target !== null) output.out(`push service: ${serviceOf(device.target)}`);
    // Registrations by command store version 0: they speak no UWPX device protocol.
    output.out(`protocol version: ${device.version || "none (registered by command)"}`);
    output.out(`expires: ${when(device.expiresAt)}`);
    output.out(`accounts: ${device.accounts.length}`);
    for (const account of device.accounts) {
      output.out(
        `  ${account.accountId}: node ${show ? account.node : mask(account.node)}` +
          ` secret ${show ? account.secret : mask(account.secret)}`,
      );
    }
  });
}

/**
 * `show-registration SERVICE APP JID DEVICE_ID`: a registration by command (p2's
 * `register-push-fcm` and kin), found by what the client sent: stored as the device
 * `<service>:<app>:<SHA-1 of bare JID NUL device id>`; for `webpush` DEVICE_ID is the
 * subscription's endpoint and the key our dialect's (SHA-256 of bare JID NUL endpoint).
 */
export async function showRegistration(
  flags: Flags,
  args: string[],
  output: CliOutput,
): Promise<void> {
  if (args.length !== 4) {
    throw new UsageError("show-registration needs SERVICE APP JID DEVICE_ID");
  }
  const [service, app, jid, deviceId] = args;
  const key = service === WEBPUSH
    ? await webPushRegistrationKey(bareJidOf(jid), deviceId)
    : await p2DeviceHash(bareJidOf(jid), deviceId);
  await showDevice(flags, [commandRegistrationId(service, app, key)], output);
}

/** `show-node NODE`: the registration behind a node. */
export async function showNode(flags: Flags, args: string[], output: CliOutput): Promise<void> {
  const node = oneArgument(args, "show-node needs a node");
  const show = flags["show-secrets"] ?? false;
  await withStore(flags, output, async (store) => {
    const target = await store.findNode(node, Date.now());
    if (target === null) throw new Failure("no live registration behind this node");
    output.out(`node: ${show ? target.node : mask(target.node)}`);
    output.out(`account: ${target.accountId}`);
    // The device id, or the hash SQLite keeps instead: whole only when asked for.
    output.out(`device: ${show ? target.deviceId : shortId(target.deviceId)}`);
    output.out(`secret: ${show ? target.secret : mask(target.secret)}`);
    output.out(`channel: ${address(target.target, show)}`);
    if (target.target !== null) output.out(`push service: ${serviceOf(target.target)}`);
  });
}

/**
 * `count`: live devices and accounts, then the same per app (`<service>/<app>: devices N,
 * accounts M`, sorted by service then app). The totals come first, as they always did, so
 * scripts reading the first two lines keep working.
 */
export async function count(flags: Flags, args: string[], output: CliOutput): Promise<void> {
  noArguments(args);
  await withStore(flags, output, async (store) => {
    output.err("counting…");
    const { devices, accounts, byApp } = await store.count(Date.now());
    output.out(`devices: ${devices}`);
    output.out(`accounts: ${accounts}`);
    for (const app of byApp) {
      output.out(`${app.service}/${app.app}: devices ${app.devices}, accounts ${app.accounts}`);
    }
  });
}

/** `purge`: deletes expired registrations. */
export async function purge(flags: Flags, args: string[], output: CliOutput): Promise<void> {
  noArguments(args);
  await withStore(flags, output, async (store) => {
    output.err("purging expired registrations…");
    const purged = await store.purgeExpired(Date.now());
    output.out(`purged: ${purged} devices`);
  });
}

/** Opens the configured store, runs `work`, closes the store. */
async function withStore(
  flags: Flags,
  output: CliOutput,
  work: (store: RegistrationStore) => Promise<void>,
): Promise<void> {
  const config = await readConfig(flags);
  const url = config.db.url;
  if (url === "memory:") {
    throw new Failure("db.url is memory:: the server's registrations live in its own process");
  }
  if (url.startsWith("sqlite:")) {
    // Opening would create an empty database: say the path is wrong instead.
    const path = url.slice("sqlite:".length);
    if (!(await exists(path))) throw new Failure(`no SQLite database at ${path}`);
  }
  output.err(`opening ${url.split(":")[0]} storage…`);
  const store = await openStore(url, cliLogger(flags));
  try {
    await work(store);
  } finally {
    await store.close();
  }
}

/** A stored target's address for operators (masked unless asked), or why there is none. */
function address(target: PushTarget | null, show: boolean): string {
  if (target === null) return "(gone: its push service said so)";
  // Only WNS addresses are URLs whose token is a part; the others are tokens whole.
  if (target.service === "wns" || show) return channel(target.address, show);
  return mask(target.address);
}

/** A stored target's service and app, for operators. */
function serviceOf(target: PushTarget): string {
  return `${target.service} (app ${target.app})`;
}
