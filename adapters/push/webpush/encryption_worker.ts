/**
 * The worker side of {@link EncryptionPool} (`encryption_pool.ts`): encrypts one message per
 * request with {@link encryptAes128gcm} (a fresh ephemeral key each time, as RFC 8291 wants)
 * and answers the body, its buffer transferred. Receiving keys are imported once per
 * subscription and kept (a bounded map, oldest out first).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { encryptAes128gcm, ReceiverKeys } from "./aes128gcm.ts";
import type { OpenSslP256 } from "./openssl_p256.ts";

/** What the pool sends. */
export interface EncryptRequest {
  readonly id: number;
  readonly plaintext: Uint8Array<ArrayBuffer>;
  readonly p256dh: Uint8Array<ArrayBuffer>;
  readonly auth: Uint8Array<ArrayBuffer>;
  /** Whose P-256 makes the ephemeral pair and ECDH (`apps.<name>.ecdh`). */
  readonly ecdh: "webcrypto" | "openssl";
}

/** What the worker answers. */
export type EncryptAnswer =
  | { readonly id: number; readonly body: Uint8Array<ArrayBuffer> }
  | { readonly id: number; readonly error: string };

const MAX_KEYS = 4096;
const keys = new Map<string, Promise<ReceiverKeys>>();

function receiverOf(p256dh: Uint8Array<ArrayBuffer>, auth: Uint8Array<ArrayBuffer>) {
  const name = `${p256dh.toHex()}${auth.toHex()}`;
  let found = keys.get(name);
  if (found === undefined) {
    found = ReceiverKeys.import(p256dh, auth);
    keys.set(name, found);
    if (keys.size > MAX_KEYS) keys.delete(keys.keys().next().value!);
    found.catch(() => keys.delete(name));
  }
  return found;
}

// Loaded on the first request that asks for it (the module needs --allow-ffi only then).
let openssl: Promise<OpenSslP256> | undefined;

async function optionsFor(ecdh: EncryptRequest["ecdh"]) {
  if (ecdh !== "openssl") return {};
  openssl ??= import("./openssl_p256.ts").then((m) => m.OpenSslP256.open());
  const p256 = await openssl;
  return { agree: (point: Uint8Array) => p256.agree(point) };
}

self.onmessage = async (event: MessageEvent<EncryptRequest>) => {
  const { id, plaintext, p256dh, auth, ecdh } = event.data;
  try {
    const options = await optionsFor(ecdh);
    const body = await encryptAes128gcm(plaintext, await receiverOf(p256dh, auth), options);
    self.postMessage({ id, body } satisfies EncryptAnswer, [body.buffer]);
  } catch (error) {
    self.postMessage({ id, error: String(error) } satisfies EncryptAnswer);
  }
};
