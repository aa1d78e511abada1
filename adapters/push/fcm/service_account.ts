/**
 * The Firebase service-account key file (JSON, from the Firebase console's "Service
 * accounts" page): the fields the FCM HTTP v1 sender needs, checked with zod. Other fields
 * (client_id, auth_uri, ...) are allowed and ignored. Error messages name fields, never
 * values: the file holds a private key.
 *
 * @module
 */

import { z } from "zod";

/** Google's token endpoint, what `token_uri` says in real key files. */
export const GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token";

const PEM_PRIVATE_KEY =
  /^\s*-----BEGIN PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PRIVATE KEY-----\s*$/;

/** The checked part of a service-account key file. */
export const serviceAccountSchema = z.object({
  type: z.literal("service_account"),
  project_id: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$|^\d{1,20}$/, "not a project id"),
  private_key_id: z.string().regex(/^[0-9a-f]{1,64}$/i, "not a key id").optional(),
  private_key: z.string().regex(PEM_PRIVATE_KEY, "not a PEM PKCS#8 private key"),
  client_email: z.email(),
  token_uri: z.url({ protocol: /^https?$/ }).default(GOOGLE_TOKEN_URI),
});

/** A service account: project, identity, signing key and token endpoint. */
export type ServiceAccount = z.output<typeof serviceAccountSchema>;

/** The key file could not be used; the message names the bad fields only. */
export class ServiceAccountError extends Error {
  override name = "ServiceAccountError";
}

/**
 * Checks a parsed key file.
 *
 * @throws {ServiceAccountError} listing the invalid fields (never their values).
 */
export function parseServiceAccount(json: unknown): ServiceAccount {
  const parsed = serviceAccountSchema.safeParse(json);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) =>
      `${issue.path.join(".") || "(file)"}: ${
        issue.code === "invalid_type" ? "missing or not a string" : issue.message
      }`
    );
    throw new ServiceAccountError(`invalid service-account key file (${fields.join("; ")})`);
  }
  return parsed.data;
}

/**
 * Reads and checks a key file.
 *
 * @throws {ServiceAccountError} when it cannot be read, is not JSON, or fails the schema.
 */
export async function readServiceAccountFile(path: string): Promise<ServiceAccount> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ServiceAccountError(
      `cannot read the service-account key file ${path}: ${
        error instanceof Error ? error.name : "error"
      }`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's message can quote the file: keep it out.
    throw new ServiceAccountError(`the service-account key file ${path} is not JSON`);
  }
  return parseServiceAccount(json);
}
