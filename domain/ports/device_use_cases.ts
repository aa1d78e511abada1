/**
 * The device side's ports: the use cases the device port (a front door such as the UWPX TLS
 * protocol in `adapters/device/`) calls, and the request-rate limiter it consults first.
 * `app/use_cases/device_service.ts` and `app/device_limits.ts` implement them.
 *
 * @module
 */

/** One account in a `set_push_accounts` answer. */
export interface AccountAnswer {
  readonly accountId: string;
  readonly node: string;
  readonly secret: string;
  readonly success: boolean;
}

/** The use cases the device port calls (implemented by `app/use_cases/device_service.ts`). */
export interface DeviceUseCases {
  /** `address`, here and below: the device's IP address (for registration limits). */
  setChannelUri(
    deviceId: string,
    channelUri: string,
    version: number,
    address?: string,
  ): Promise<{ ok: true } | { ok: false; error: string }>;
  setPushAccounts(deviceId: string, accountIds: readonly string[], address?: string): Promise<
    | {
      ok: true;
      value: { pushBareJid: string; accounts: readonly AccountAnswer[] };
    }
    | { ok: false; error: string }
  >;
  requestTestPush(deviceId: string): Promise<{ ok: true } | { ok: false; error: string }>;
}

/** A request over a limit: the error the device is told, and whether its connection ends. */
export interface LimitRefusal {
  readonly error: string;
  readonly close: boolean;
}

/** Request rate limits (implemented by `app/device_limits.ts`). */
export interface DeviceRequestLimiter {
  /**
   * A frame arrived on `connection` (an object standing for it, the same for its whole
   * life): null to answer it, or a refusal.
   */
  admitFrame(connection: object): LimitRefusal | null;
  /** A valid request for `deviceId` arrived on `connection`: null to answer it. */
  admitRequest(connection: object, deviceId: string): LimitRefusal | null;
}
