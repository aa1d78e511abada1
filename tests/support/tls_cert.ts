/**
 * A self-signed certificate for 127.0.0.1/localhost, made once per test process.
 *
 * @module
 */

import selfsigned from "selfsigned";

/** PEM certificate and key. */
export interface TestCertificate {
  readonly cert: string;
  readonly key: string;
}

let cached: Promise<TestCertificate> | undefined;

/** A certificate valid for `localhost` and `127.0.0.1`. */
export function testCertificate(): Promise<TestCertificate> {
  cached ??= newTestCertificate();
  return cached;
}

/**
 * A new self-signed certificate (its own key, so its own trust anchor) for `localhost` and
 * `127.0.0.1`, valid for `days`.
 */
export function newTestCertificate(days = 2): Promise<TestCertificate> {
  return selfsigned.generate([{ name: "commonName", value: "localhost" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + days * 24 * 60 * 60 * 1000),
    extensions: [{
      name: "subjectAltName",
      altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }],
    }],
  }).then((pems: { cert: string; private: string }) => ({ cert: pems.cert, key: pems.private }));
}

/** Writes the certificate and key to files in `dir`; returns their paths. */
export async function writeTestCertificate(
  dir: string,
): Promise<{ certPath: string; keyPath: string; cert: string }> {
  const { cert, key } = await testCertificate();
  const certPath = `${dir}/server.cert`;
  const keyPath = `${dir}/server.key`;
  await Deno.writeTextFile(certPath, cert);
  await Deno.writeTextFile(keyPath, key);
  return { certPath, keyPath, cert };
}
