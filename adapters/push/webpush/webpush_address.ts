/**
 * A Web Push target's address (`PushTarget.address`, contract §3): the whole subscription in
 * one string, so a stored target is all the sender needs:
 *
 * ```
 * <endpoint>#<p256dh>#<auth>
 * ```
 *
 * - `endpoint`: the push resource URL, `https:`, at most 1000 bytes, no fragment (so it
 *   holds no `#`: the separator cannot be ambiguous), no whitespace;
 * - `p256dh`: the subscription's 65-byte uncompressed P-256 point, base64url, no padding;
 * - `auth`: its 16-byte auth secret, base64url, no padding.
 *
 * The same layout as ejabberd Business Edition's `p1:push:webpush` ids. The endpoint comes
 * first, so the delivery policy's per-host key (the URL's host) and per-endpoint key work on
 * the address as they do on WNS channel URIs. The address holds a capability URL and a
 * decryption secret: never log it (log ids shorten it).
 *
 * @module
 */

import { MAX_ENDPOINT_BYTES } from "./endpoint_policy.ts";
import { fromBase64Url, isP256Point, toBase64Url } from "./p256_keys.ts";

/** The parts of an address. */
export interface WebPushAddressParts {
  readonly endpoint: string;
  /** base64url (padding allowed when formatting; never in the address). */
  readonly p256dh: string;
  readonly auth: string;
}

/** Thrown for a string that is not a Web Push address; the message never quotes it. */
export class WebPushAddressError extends Error {
  override name = "WebPushAddressError";
}

const SEPARATOR = "#";
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;
const encoder = new TextEncoder();

function decoded(text: string, bytes: number, what: string): Uint8Array<ArrayBuffer> {
  if (!BASE64URL.test(text)) throw new WebPushAddressError(`${what} is not base64url`);
  let raw: Uint8Array<ArrayBuffer>;
  try {
    raw = fromBase64Url(text);
  } catch {
    throw new WebPushAddressError(`${what} is not base64url`);
  }
  if (raw.byteLength !== bytes) throw new WebPushAddressError(`${what} is not ${bytes} bytes`);
  return raw;
}

function checkEndpoint(endpoint: string): void {
  if (endpoint === "") throw new WebPushAddressError("the endpoint is empty");
  if (encoder.encode(endpoint).byteLength > MAX_ENDPOINT_BYTES) {
    throw new WebPushAddressError(`the endpoint is longer than ${MAX_ENDPOINT_BYTES} bytes`);
  }
  // deno-lint-ignore no-control-regex -- refusing control characters is the point
  if (/[\s\x00-\x1f\x7f#]/.test(endpoint)) {
    throw new WebPushAddressError("the endpoint has whitespace, controls or a fragment");
  }
  const url = URL.parse(endpoint);
  if (url === null || url.protocol !== "https:" || url.hostname === "") {
    throw new WebPushAddressError("the endpoint is not an https: URL");
  }
}

/** The parts, checked and normalized (keys without padding). Throws {@link WebPushAddressError}. */
function normalized(parts: WebPushAddressParts): WebPushAddressParts {
  checkEndpoint(parts.endpoint);
  const p256dh = decoded(parts.p256dh, 65, "p256dh");
  if (!isP256Point(p256dh)) {
    throw new WebPushAddressError("p256dh is not an uncompressed P-256 point");
  }
  const auth = decoded(parts.auth, 16, "auth");
  return { endpoint: parts.endpoint, p256dh: toBase64Url(p256dh), auth: toBase64Url(auth) };
}

/** The address of a subscription. Throws {@link WebPushAddressError} for bad parts. */
export function formatWebPushAddress(parts: WebPushAddressParts): string {
  const checked = normalized(parts);
  return [checked.endpoint, checked.p256dh, checked.auth].join(SEPARATOR);
}

/** Reads an address back into its parts. Throws {@link WebPushAddressError} for anything else. */
export function parseWebPushAddress(address: string): WebPushAddressParts {
  if (typeof address !== "string" || address.length > 2 * MAX_ENDPOINT_BYTES) {
    throw new WebPushAddressError("not a Web Push address");
  }
  const parts = address.split(SEPARATOR);
  if (parts.length !== 3) {
    throw new WebPushAddressError("a Web Push address is endpoint#p256dh#auth");
  }
  const [endpoint, p256dh, auth] = parts;
  const checked = normalized({ endpoint, p256dh, auth });
  // Only the canonical form is an address: one subscription, one string (per-target keys).
  if (checked.p256dh !== p256dh || checked.auth !== auth) {
    throw new WebPushAddressError("the keys are not in canonical base64url (no padding)");
  }
  return checked;
}
