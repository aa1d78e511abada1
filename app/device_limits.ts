/**
 * The device port's request rates: a token bucket per connection and one per device id.
 * Over either, the device is answered `status: 0` with {@link TOO_MANY_REQUESTS} and its
 * connection stays usable; a connection refused `closeAfterRefusals` times in a row (a
 * client that does not slow down) is closed after that answer.
 *
 * @module
 */

import type { DeviceRequestLimiter, LimitRefusal } from "../domain/ports/device_use_cases.ts";
import type { Clock } from "../domain/ports/clock.ts";
import type { ReportLimit } from "./limit_reporter.ts";
import { KeyedRateLimiter, type Rate, TokenBucket } from "./rate_limiter.ts";

/** What a device over a request rate is told. */
export const TOO_MANY_REQUESTS = "too many requests: slow down";

/** Settings of {@link DeviceRequestLimits}. */
export interface DeviceRequestLimitsOptions {
  readonly perConnection: Rate;
  readonly perDevice: Rate;
  /** Device ids tracked at once (see `KeyedRateLimiter`). */
  readonly maxDevices: number;
  /** Refusals in a row after which a connection is closed. */
  readonly closeAfterRefusals: number;
  readonly clock: Clock;
  readonly report: ReportLimit;
}

/** A connection's bucket and its refusals in a row. */
interface ConnectionState {
  readonly bucket: TokenBucket;
  refusals: number;
}

/** Request rates per connection and per device id. */
export class DeviceRequestLimits implements DeviceRequestLimiter {
  readonly #options: DeviceRequestLimitsOptions;
  /** Gone with their connections. */
  readonly #connections = new WeakMap<object, ConnectionState>();
  readonly #devices: KeyedRateLimiter<string>;

  constructor(options: DeviceRequestLimitsOptions) {
    this.#options = options;
    new TokenBucket(options.perConnection, 0); // Fails at start-up on a bad rate.
    this.#devices = new KeyedRateLimiter({
      rate: options.perDevice,
      maxKeys: options.maxDevices,
      clock: options.clock,
    });
  }

  admitFrame(connection: object): LimitRefusal | null {
    const state = this.#state(connection);
    if (state.bucket.take(this.#options.clock.now())) return null;
    return this.#refuse(state, "requests_per_connection");
  }

  admitRequest(connection: object, deviceId: string): LimitRefusal | null {
    const state = this.#state(connection);
    // Hex ids: one device, however its id is spelled.
    if (this.#devices.take(deviceId.toLowerCase())) {
      state.refusals = 0;
      return null;
    }
    return this.#refuse(state, "requests_per_device");
  }

  #state(connection: object): ConnectionState {
    let state = this.#connections.get(connection);
    if (state === undefined) {
      state = {
        bucket: new TokenBucket(this.#options.perConnection, this.#options.clock.now()),
        refusals: 0,
      };
      this.#connections.set(connection, state);
    }
    return state;
  }

  #refuse(
    state: ConnectionState,
    limit: "requests_per_connection" | "requests_per_device",
  ): LimitRefusal {
    state.refusals++;
    const close = state.refusals >= this.#options.closeAfterRefusals;
    this.#options.report(limit, close ? { closed: true } : {});
    return { error: TOO_MANY_REQUESTS, close };
  }
}
