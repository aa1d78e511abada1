/**
 * Node and secret minting. Pure: the caller hands in the random bytes, so tests can be
 * deterministic and production can use `crypto.getRandomValues`.
 *
 * @module
 */

/** A source of random bytes. Production passes a CSPRNG. */
export type RandomBytes = (length: number) => Uint8Array;

/** 15 bytes = 120 random bits, more than the 96 the protocol asks for; 20 base64url chars. */
export const NODE_BYTES = 15;
/** 24 bytes = 192 random bits, more than the 128 the protocol asks for; 32 base64url chars. */
export const SECRET_BYTES = 24;

/** URL-safe base64 without padding (RFC 4648 section 5). */
export function base64Url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** Mints a fresh PubSub node name. */
export function mintNode(random: RandomBytes): string {
  return base64Url(checked(random(NODE_BYTES), NODE_BYTES));
}

/** The shape of every node {@link mintNode} makes: exactly 20 base64url characters. */
const MINTED_NODE = /^[A-Za-z0-9_-]{20}$/;

/**
 * Whether `name` has the shape of a node {@link mintNode} makes. Any other name (the
 * account's bookmarks, avatar, OMEMO nodes...) is not ours, whatever else is known of it.
 */
export function isMintedNode(name: string): boolean {
  return MINTED_NODE.test(name);
}

/** Mints a fresh publish secret. */
export function mintSecret(random: RandomBytes): string {
  return base64Url(checked(random(SECRET_BYTES), SECRET_BYTES));
}

function checked(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length !== length) {
    throw new Error(`random source returned ${bytes.length} bytes, expected ${length}`);
  }
  return bytes;
}
