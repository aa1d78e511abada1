/**
 * A Web Push subscription as a client hands it over (the browser's `PushSubscription.toJSON()`
 * shape, which UnifiedPush connectors also produce): `{endpoint, keys: {p256dh, auth}}`,
 * validated with zod and turned into what the sender needs.
 *
 * @module
 */

import { z } from "zod";
import { ReceiverKeys } from "./aes128gcm.ts";
import { MAX_ENDPOINT_BYTES } from "./endpoint_policy.ts";
import { fromBase64Url, isP256Point } from "./p256_keys.ts";

function decodes(bytes: number, check: (decoded: Uint8Array) => boolean = () => true) {
  return (text: string) => {
    try {
      const decoded = fromBase64Url(text);
      return decoded.byteLength === bytes && check(decoded);
    } catch {
      return false;
    }
  };
}

/** The JSON form of a subscription; the endpoint's policy is checked by the sender. */
export const subscriptionSchema = z.object({
  endpoint: z.string().min(1).max(MAX_ENDPOINT_BYTES),
  keys: z.object({
    p256dh: z.string().regex(/^[A-Za-z0-9_-]+={0,2}$/).refine(
      decodes(65, isP256Point),
      "p256dh must be an uncompressed P-256 point, base64url",
    ),
    auth: z.string().regex(/^[A-Za-z0-9_-]+={0,2}$/).refine(
      decodes(16),
      "auth must be 16 bytes, base64url",
    ),
  }),
});

/** The JSON form of a subscription. */
export type SubscriptionJson = z.infer<typeof subscriptionSchema>;

/** A subscription ready for the sender: its endpoint and imported keys. */
export interface WebPushSubscription {
  readonly endpoint: string;
  readonly keys: ReceiverKeys;
}

/** Validates and imports a subscription; throws a ZodError or RangeError when malformed. */
export async function loadSubscription(input: unknown): Promise<WebPushSubscription> {
  const parsed = subscriptionSchema.parse(input);
  return {
    endpoint: parsed.endpoint,
    keys: await ReceiverKeys.import(
      fromBase64Url(parsed.keys.p256dh),
      fromBase64Url(parsed.keys.auth),
    ),
  };
}
