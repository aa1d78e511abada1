import assert from "node:assert/strict";
import { DeviceRequestLimits, TOO_MANY_REQUESTS } from "../../app/device_limits.ts";
import type { LimitName } from "../../domain/ports/metrics.ts";
import { FakeClock } from "../support/fakes.ts";

function limits(overrides: { closeAfterRefusals?: number } = {}) {
  const clock = new FakeClock();
  const hits: LimitName[] = [];
  const limiter = new DeviceRequestLimits({
    perConnection: { burst: 4, perSecond: 1 },
    perDevice: { burst: 2, perSecond: 0.1 },
    maxDevices: 100,
    closeAfterRefusals: overrides.closeAfterRefusals ?? 3,
    clock,
    report: (limit) => hits.push(limit),
  });
  /** One request as the device port checks it: the frame, then the device. */
  const request = (connection: object, device: string) =>
    limiter.admitFrame(connection) ?? limiter.admitRequest(connection, device);
  return { clock, hits, limiter, request };
}

Deno.test("DeviceRequestLimits: a connection over its rate is told to slow down", () => {
  const { clock, hits, limiter } = limits({ closeAfterRefusals: 100 });
  const connection = {};
  for (let i = 0; i < 4; i++) assert.equal(limiter.admitFrame(connection), null);
  assert.deepEqual(limiter.admitFrame(connection), { error: TOO_MANY_REQUESTS, close: false });
  assert.deepEqual(hits, ["requests_per_connection"]);
  // Another connection is not affected; this one recovers with time.
  assert.equal(limiter.admitFrame({}), null);
  clock.advance(1000);
  assert.equal(limiter.admitFrame(connection), null);
});

Deno.test("DeviceRequestLimits: one device is limited across connections, other devices are not", () => {
  const { hits, request } = limits({ closeAfterRefusals: 100 });
  assert.equal(request({}, "aa"), null);
  assert.equal(request({}, "AA"), null, "the same hex id, however spelled");
  assert.deepEqual(request({}, "aa"), { error: TOO_MANY_REQUESTS, close: false });
  assert.equal(request({}, "bb"), null);
  assert.deepEqual(hits, ["requests_per_device"]);
});

Deno.test("DeviceRequestLimits: refused again and again, the connection is closed", () => {
  const { request, clock } = limits({ closeAfterRefusals: 3 });
  const patient = {};
  const abusive = {};
  assert.equal(request(abusive, "aa"), null);
  assert.equal(request(abusive, "aa"), null);
  // Refused twice, then it waits and gets an answer: the count starts over.
  assert.equal(request(patient, "aa")?.close, false);
  assert.equal(request(patient, "aa")?.close, false);
  clock.advance(10_000);
  assert.equal(request(patient, "aa"), null);
  assert.equal(request(patient, "aa")?.close, false);
  // The third refusal in a row ends the connection.
  assert.equal(request(abusive, "aa")?.close, false);
  assert.equal(request(abusive, "aa")?.close, false);
  assert.deepEqual(request(abusive, "aa"), { error: TOO_MANY_REQUESTS, close: true });
});
