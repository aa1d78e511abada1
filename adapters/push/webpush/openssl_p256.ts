/**
 * The ephemeral P-256 key pair and ECDH of one Web Push message (RFC 8291) computed by the
 * system's OpenSSL 3 `libcrypto` through Deno FFI: an opt-in alternative to WebCrypto
 * (`apps.<name>.ecdh: "openssl"`), because OpenSSL's assembly P-256 makes a key pair and its
 * shared secret with about 4× less CPU than Deno's WebCrypto on the project's machine (137
 * against ~610 µs; BENCHMARKS.md, Web Push). Needs `--allow-ffi`. The calls are synchronous.
 *
 * Only the `EC_KEY` calls are bound (deprecated in OpenSSL 3.0 but present and stable, and
 * simple to bind safely): a fresh key per call, the peer's point parsed (and checked on the
 * curve) by `EC_POINT_oct2point`, every allocation freed on every path.
 *
 * @module
 */

/**
 * OpenSSL 3's libcrypto by its soname: the dynamic loader finds it where the system keeps
 * it (Debian's libssl3 on any architecture, distroless images, other distributions).
 */
export const DEFAULT_LIBCRYPTO_PATH = "libcrypto.so.3";

const NID_X9_62_PRIME256V1 = 415;
const POINT_CONVERSION_UNCOMPRESSED = 4;

const SYMBOLS = {
  EC_KEY_new_by_curve_name: { parameters: ["i32"], result: "pointer" },
  EC_KEY_generate_key: { parameters: ["pointer"], result: "i32" },
  EC_KEY_get0_group: { parameters: ["pointer"], result: "pointer" },
  EC_KEY_get0_public_key: { parameters: ["pointer"], result: "pointer" },
  EC_KEY_get0_private_key: { parameters: ["pointer"], result: "pointer" },
  BN_bn2binpad: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  EC_POINT_point2oct: {
    parameters: ["pointer", "pointer", "i32", "buffer", "usize", "pointer"],
    result: "usize",
  },
  EC_POINT_new: { parameters: ["pointer"], result: "pointer" },
  EC_POINT_oct2point: {
    parameters: ["pointer", "pointer", "buffer", "usize", "pointer"],
    result: "i32",
  },
  ECDH_compute_key: {
    parameters: ["buffer", "usize", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  EC_POINT_free: { parameters: ["pointer"], result: "void" },
  EC_KEY_free: { parameters: ["pointer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** One message's ephemeral public point and its ECDH secret with the receiver. */
export interface EphemeralAgreement {
  /** The ephemeral public key, uncompressed (65 bytes). */
  readonly publicKeyBytes: Uint8Array<ArrayBuffer>;
  /** The 32-byte ECDH shared secret (x coordinate). */
  readonly secret: Uint8Array<ArrayBuffer>;
}

/** Thrown when libcrypto cannot be opened (missing library, or no `--allow-ffi`). */
export class OpenSslUnavailableError extends Error {
  override name = "OpenSslUnavailableError";
}

/** Thrown when OpenSSL refuses an input or a step fails (e.g. a point not on the curve). */
export class OpenSslP256Error extends Error {
  override name = "OpenSslP256Error";
}

/** P-256 key pairs and ECDH from OpenSSL's libcrypto; see the module comment. */
export class OpenSslP256 {
  readonly #lib: Deno.DynamicLibrary<typeof SYMBOLS>;

  private constructor(lib: Deno.DynamicLibrary<typeof SYMBOLS>) {
    this.#lib = lib;
  }

  /** Opens libcrypto; throws {@link OpenSslUnavailableError} when it cannot. */
  static open(path: string = DEFAULT_LIBCRYPTO_PATH): OpenSslP256 {
    try {
      return new OpenSslP256(Deno.dlopen(path, SYMBOLS));
    } catch (error) {
      throw new OpenSslUnavailableError(
        `cannot load OpenSSL's libcrypto (${path}): ${(error as Error).message}`,
      );
    }
  }

  /**
   * A fresh ephemeral key pair and its ECDH secret with `peer` (a 65-byte uncompressed
   * point). Throws {@link OpenSslP256Error} for a point not on the curve.
   */
  agree(peer: Uint8Array): EphemeralAgreement {
    return this.#agree(peer, false);
  }

  /** Like {@link agree}, plus the private scalar (32 bytes): for tests that cross-check. */
  agreeRevealingPrivateKey(peer: Uint8Array): EphemeralAgreement & { privateKey: Uint8Array } {
    return this.#agree(peer, true) as EphemeralAgreement & { privateKey: Uint8Array };
  }

  /** Closes the library; the object must not be used afterwards. */
  close(): void {
    this.#lib.close();
  }

  #agree(peer: Uint8Array, reveal: boolean): EphemeralAgreement & { privateKey?: Uint8Array } {
    if (peer.byteLength !== 65 || peer[0] !== 0x04) {
      throw new OpenSslP256Error("the peer key must be a 65-byte uncompressed P-256 point");
    }
    // A copy the caller cannot change while OpenSSL reads it.
    const peerBytes = peer.slice();
    const s = this.#lib.symbols;
    const key = s.EC_KEY_new_by_curve_name(NID_X9_62_PRIME256V1);
    if (key === null) throw new OpenSslP256Error("EC_KEY_new_by_curve_name failed");
    let point: Deno.PointerValue = null;
    try {
      if (s.EC_KEY_generate_key(key) !== 1) throw new OpenSslP256Error("key generation failed");
      const group = s.EC_KEY_get0_group(key);
      const publicKeyBytes = new Uint8Array(65);
      const written = s.EC_POINT_point2oct(
        group,
        s.EC_KEY_get0_public_key(key),
        POINT_CONVERSION_UNCOMPRESSED,
        publicKeyBytes,
        65n,
        null,
      );
      if (Number(written) !== 65) throw new OpenSslP256Error("public key encoding failed");
      point = s.EC_POINT_new(group);
      if (point === null) throw new OpenSslP256Error("EC_POINT_new failed");
      if (s.EC_POINT_oct2point(group, point, peerBytes, 65n, null) !== 1) {
        throw new OpenSslP256Error("the peer key is not a point on P-256");
      }
      const secret = new Uint8Array(32);
      if (s.ECDH_compute_key(secret, 32n, point, key, null) !== 32) {
        throw new OpenSslP256Error("ECDH failed");
      }
      if (!reveal) return { publicKeyBytes, secret };
      const privateKey = new Uint8Array(32);
      if (s.BN_bn2binpad(s.EC_KEY_get0_private_key(key), privateKey, 32) !== 32) {
        throw new OpenSslP256Error("private key encoding failed");
      }
      return { publicKeyBytes, secret, privateKey };
    } finally {
      if (point !== null) s.EC_POINT_free(point);
      s.EC_KEY_free(key);
    }
  }
}
