/**
 * Where a device's pushes go: a push service, the app registered with it, and the device's
 * address there. WNS: the app id and the channel URI; FCM and APNs: the app and the device
 * token; Web Push: the subscription's endpoint. The domain and the use cases never look
 * inside: the delivery port picks the service's adapter by `service`.
 *
 * @module
 */

/** One device's place at one push service. */
export interface PushTarget {
  /** The push service's name, as the delivery port knows it (`wns`, ...). */
  readonly service: string;
  /** The app registered with that service (credentials and payload rules are per app). */
  readonly app: string;
  /** The device's address at the service (WNS: its channel URI). */
  readonly address: string;
}

/**
 * The service and app of the targets a front door registers with an address alone (the
 * UWPX device protocol sends a channel URI; the wiring says which service and app it is).
 */
export interface TargetDefaults {
  readonly service: string;
  readonly app: string;
}

/** A key naming one target, for per-target limits, backoff and coalescing. */
export function targetKey(target: PushTarget): string {
  return `${target.service}\n${target.app}\n${target.address}`;
}
