/**
 * The RFC 8030 `Topic` header: a new message with the same topic replaces an undelivered one
 * at the push service, so repeated wakeups for one account collapse into one.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { toBase64Url } from "./p256_keys.ts";

/** A topic is 1–32 characters of the URL-safe base64 alphabet (RFC 8030 §5.4). */
export const TOPIC_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * A topic for `key` (e.g. the account id): the first 24 bytes of its SHA-256, base64url (32
 * characters). Hashed, so the push service does not learn the account.
 */
export function topicFor(key: string): Promise<string> {
  // node:crypto's synchronous hash: WebCrypto's asynchronous digest cost a push about as
  // much as its HTTP request (bench/webpush_app.ts profile).
  const digest = createHash("sha256").update(key).digest();
  return Promise.resolve(toBase64Url(new Uint8Array(digest.subarray(0, 24))));
}
