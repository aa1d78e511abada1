import { wnsDelivery } from "../support/wns_delivery.ts";
import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { encodeFrame } from "../../adapters/device/frame_decoder.ts";
import { DeviceServer } from "../../adapters/device/tls_device_server.ts";
import { MemoryStore } from "../../adapters/storage/memory/memory_store.ts";
import { MemoryWnsSender } from "../../adapters/push/wns/memory_wns_sender.ts";
import { DEFAULT_CHANNEL_URI_PATTERN } from "../../app/config.ts";
import { DeviceService } from "../../app/use_cases/device_service.ts";
import type { LimitName } from "../../domain/ports/metrics.ts";
import {
  RegistrationCounter,
  RegistrationLimits,
  REGISTRATIONS_FULL,
  TOO_MANY_REGISTRATIONS,
} from "../../app/registration_limits.ts";
import { FakeClock, seededRandom } from "../support/fakes.ts";
import { RecordingLogger } from "../support/recording_logger.ts";
import { testCertificate } from "../support/tls_cert.ts";

const CHANNEL = "https://db5p.notify.windows.com/?token=AwYAAAD8sampleToken%2bValue";
const FLOODER = "203.0.113.7";
const NEIGHBOUR = "203.0.113.99"; // The same /24 as the flooder.
const ELSEWHERE = "198.51.100.20";

const hexId = (n: number) => n.toString(16).padStart(64, "0");

async function setup(
  options: { maxDevices?: number; maxAccounts?: number; devices?: number; accounts?: number } = {},
) {
  const clock = new FakeClock();
  const store = new MemoryStore(clock);
  const logger = new RecordingLogger();
  const hits: LimitName[] = [];
  const counter = new RegistrationCounter({ store, clock, logger, refreshMs: 0 });
  await counter.start();
  const limits = new RegistrationLimits({
    newDevicesPerPrefix: { burst: options.devices ?? 10, perSecond: 0.1 },
    newAccountsPerPrefix: { burst: options.accounts ?? 40, perSecond: 0.5 },
    newRegistrationsPerJid: { perSecond: 1000, burst: 1000 },
    maxDevices: options.maxDevices ?? 0,
    maxAccounts: options.maxAccounts ?? 0,
    maxPrefixes: 1000,
    counter,
    clock,
    report: (limit) => hits.push(limit),
  });
  const service = new DeviceService({
    store,
    ...wnsDelivery(new MemoryWnsSender()),
    provisioner: { provision: (added) => Promise.resolve(new Set(added)) },
    clock,
    random: seededRandom(3),
    logger,
    channelUriPattern: new RegExp(DEFAULT_CHANNEL_URI_PATTERN),
    pushBareJid: "push.example.org",
    admission: limits,
  });
  return { clock, store, service, limits, counter, hits };
}

Deno.test("registration limits: a flood of new devices from one network is held; others register", async () => {
  const { service, hits, clock } = await setup({ devices: 10 });
  let admitted = 0;
  for (let i = 0; i < 640; i++) {
    const result = await service.setChannelUri(hexId(i), CHANNEL, 2, FLOODER);
    if (result.ok) admitted++;
    else assert.equal(result.error, TOO_MANY_REGISTRATIONS);
  }
  // Issue 13: 640 devices from one address in 20 s. Now: the burst.
  assert.equal(admitted, 10);
  assert.ok(hits.includes("new_devices_per_prefix"));
  // The same /24 shares the bucket; another network does not.
  assert.equal((await service.setChannelUri(hexId(10_000), CHANNEL, 2, NEIGHBOUR)).ok, false);
  for (let i = 0; i < 10; i++) {
    assert.ok((await service.setChannelUri(hexId(20_000 + i), CHANNEL, 2, ELSEWHERE)).ok);
  }
  // A device already registered registers again from the flooded network, at no cost.
  for (let i = 0; i < 20; i++) {
    assert.ok((await service.setChannelUri(hexId(0), CHANNEL, 2, FLOODER)).ok);
  }
  // The bucket refills at its rate.
  clock.advance(10_000);
  assert.ok((await service.setChannelUri(hexId(30_000), CHANNEL, 2, FLOODER)).ok);
  assert.equal((await service.setChannelUri(hexId(30_001), CHANNEL, 2, FLOODER)).ok, false);
});

Deno.test("registration limits: only accounts a device did not have count", async () => {
  const { service, hits } = await setup({ accounts: 40 });
  const device = hexId(1);
  assert.ok((await service.setChannelUri(device, CHANNEL, 2, FLOODER)).ok);
  const accounts = Array.from({ length: 32 }, (_, i) => hexId(100 + i));
  assert.ok((await service.setPushAccounts(device, accounts, FLOODER)).ok);
  // The same accounts again, many times: free.
  for (let i = 0; i < 50; i++) {
    assert.ok((await service.setPushAccounts(device, accounts, FLOODER)).ok);
  }
  // 8 new ones fit in what is left; 32 more do not.
  const more = accounts.slice(8).concat(Array.from({ length: 8 }, (_, i) => hexId(200 + i)));
  assert.ok((await service.setPushAccounts(device, more, FLOODER)).ok);
  const flood = Array.from({ length: 32 }, (_, i) => hexId(300 + i));
  const refused = await service.setPushAccounts(device, flood, FLOODER);
  assert.deepEqual(refused, { ok: false, error: TOO_MANY_REGISTRATIONS });
  assert.ok(hits.includes("new_accounts_per_prefix"));
  // Another network is not affected.
  const other = hexId(2);
  assert.ok((await service.setChannelUri(other, CHANNEL, 2, ELSEWHERE)).ok);
  assert.ok((await service.setPushAccounts(other, flood, ELSEWHERE)).ok);
});

Deno.test("registration limits: the global caps refuse new devices and accounts with a clear error", async () => {
  const { service, limits, counter, store, clock } = await setup({
    maxDevices: 3,
    maxAccounts: 4,
    devices: 100,
    accounts: 100,
  });
  for (let i = 0; i < 3; i++) {
    assert.ok((await service.setChannelUri(hexId(i), CHANNEL, 2, `192.0.2.${i}`)).ok);
  }
  assert.deepEqual(await service.setChannelUri(hexId(9), CHANNEL, 2, ELSEWHERE), {
    ok: false,
    error: REGISTRATIONS_FULL,
  });
  // Known devices still work.
  assert.ok((await service.setChannelUri(hexId(0), CHANNEL, 2, ELSEWHERE)).ok);
  assert.ok((await service.setPushAccounts(hexId(0), [hexId(50), hexId(51), hexId(52)])).ok);
  const over = await service.setPushAccounts(hexId(1), [hexId(60), hexId(61)]);
  assert.deepEqual(over, { ok: false, error: REGISTRATIONS_FULL });
  // Removed accounts make room.
  assert.ok((await service.setPushAccounts(hexId(0), [hexId(50)])).ok);
  assert.ok((await service.setPushAccounts(hexId(1), [hexId(60), hexId(61)])).ok);
  assert.deepEqual(limits.levels(), { devices: 3, accounts: 3, maxDevices: 3, maxAccounts: 4 });
  // What expired goes at the next count.
  clock.advance(400 * 24 * 60 * 60 * 1000);
  await store.purgeExpired(clock.now());
  await counter.refresh();
  assert.deepEqual(limits.levels(), { devices: 0, accounts: 0, maxDevices: 3, maxAccounts: 4 });
  assert.ok((await service.setChannelUri(hexId(9), CHANNEL, 2, ELSEWHERE)).ok);
});

Deno.test("registration counter: counts the store, and keeps what was admitted during a count", async () => {
  const clock = new FakeClock();
  const release = Promise.withResolvers<void>();
  const counter = new RegistrationCounter({
    store: {
      count: () =>
        release.promise.then(() => ({
          devices: 100,
          accounts: 700,
          byApp: [
            { service: "fcm", app: "conversations", devices: 40, accounts: 40 },
            { service: "wns", app: "wns", devices: 60, accounts: 660 },
          ],
        })),
    },
    clock,
    logger: new RecordingLogger(),
    refreshMs: 0,
  });
  const counting = counter.start();
  counter.added(1, 5);
  release.resolve();
  await counting;
  assert.equal(counter.devices, 101);
  assert.equal(counter.accounts, 705);
  counter.added(0, -10);
  assert.equal(counter.accounts, 695);
  // Per app: as counted, whatever was admitted since (its app is not known here).
  assert.deepEqual(counter.byApp, [
    { service: "fcm", app: "conversations", devices: 40, accounts: 40 },
    { service: "wns", app: "wns", devices: 60, accounts: 660 },
  ]);
  const failing = new RegistrationCounter({
    store: { count: () => Promise.reject(new Error("down")) },
    clock,
    logger: new RecordingLogger(),
    refreshMs: 0,
  });
  await failing.refresh();
  assert.equal(failing.devices, 0);
  assert.deepEqual(failing.byApp, []);
});

/** Sends one frame from `localAddress` over TLS and resolves with the answer's JSON. */
function requestFrom(port: number, localAddress: string, message: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const tcp = netConnect({ host: "127.0.0.1", port, localAddress });
    tcp.on("error", reject);
    const socket = tlsConnect({ socket: tcp, rejectUnauthorized: false });
    socket.on("error", reject);
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk;
      const end = text.indexOf("\0");
      if (end === -1) return;
      socket.destroy();
      resolve(JSON.parse(text.slice(0, end)));
    });
    socket.write(encodeFrame(JSON.stringify(message)));
  });
}

Deno.test("registration limits over the device port: one network's flood is held, another registers", async () => {
  const { service } = await setup({ devices: 5 });
  const { cert, key } = await testCertificate();
  const server = await DeviceServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    cert,
    key,
    useCases: service,
    logger: new RecordingLogger(),
  });
  const register = (from: string, id: number) =>
    requestFrom(server.addr.port, from, {
      version: 2,
      action: "set_channel_uri",
      device_id: hexId(id),
      channel_uri: CHANNEL,
    }) as Promise<{ status: number; error?: string }>;
  try {
    const flood = [];
    for (let i = 0; i < 20; i++) flood.push(await register(`127.0.0.${2 + (i % 8)}`, i));
    assert.equal(flood.filter((a) => a.status === 1).length, 5);
    assert.ok(flood.slice(5).every((a) => a.error === TOO_MANY_REGISTRATIONS));
    for (let i = 0; i < 5; i++) assert.equal((await register("127.0.1.2", 100 + i)).status, 1);
    // A device of the flooded network that is already known registers again.
    assert.equal((await register("127.0.0.2", 0)).status, 1);
  } finally {
    await server.close();
  }
});
