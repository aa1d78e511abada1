/**
 * Throwaway service accounts for the fake FCM, the tests, the demo and the benchmarks: a
 * fresh RSA 2048 key pair (WebCrypto, PEM PKCS#8 / SPKI) and a key file shaped like the
 * Firebase console's, whose `token_uri` points wherever the caller says (the fake's).
 *
 * @module
 */

/** A generated key pair in PEM, and the key id a key file names it by. */
export interface ServiceAccountKeyPair {
  /** `-----BEGIN PRIVATE KEY-----` PKCS#8. */
  readonly privateKeyPem: string;
  /** `-----BEGIN PUBLIC KEY-----` SPKI: what the fake verifies assertions with. */
  readonly publicKeyPem: string;
  /** 40 hex characters, like `private_key_id`. */
  readonly keyId: string;
}

/** Makes an RSA 2048 key pair for RS256. */
export async function generateServiceAccountKey(): Promise<ServiceAccountKeyPair> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  return {
    privateKeyPem: pem("PRIVATE KEY", pkcs8),
    publicKeyPem: pem("PUBLIC KEY", spki),
    keyId: crypto.getRandomValues(new Uint8Array(20)).toHex(),
  };
}

/** The fields of a key file as the Firebase console writes them. */
export interface ServiceAccountJson {
  readonly type: "service_account";
  readonly project_id: string;
  readonly private_key_id: string;
  readonly private_key: string;
  readonly client_email: string;
  readonly client_id: string;
  readonly auth_uri: string;
  readonly token_uri: string;
}

/** A key file for `key`, in project `projectId`, trading assertions at `tokenUri`. */
export function serviceAccountJson(
  key: ServiceAccountKeyPair,
  projectId: string,
  tokenUri: string,
): ServiceAccountJson {
  return {
    type: "service_account",
    project_id: projectId,
    private_key_id: key.keyId,
    private_key: key.privateKeyPem,
    client_email: `firebase-adminsdk-fake@${projectId}.iam.gserviceaccount.com`,
    client_id: "100000000000000000000",
    auth_uri: "https://accounts.google.com/o/oauth2/auth",
    token_uri: tokenUri,
  };
}

function pem(label: string, der: Uint8Array): string {
  const lines = der.toBase64().match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
