/**
 * What a fake APNs checks in a push and the reason it answers (apns.md §3–5), apart from
 * any HTTP server, so the test fake ({@link startFakeApns}) and a benchmark's lean responder
 * judge requests identically: method, path, the provider JWT (verified with `jose`: ES256
 * with the key's public half, `kid`, `iss`, `iat` no older than an hour; renewals no closer
 * than 20 minutes on one connection), topic, push type against the payload, priority,
 * expiration, collapse id, apns-id, payload size, device token.
 *
 * Stricter than Apple in two places, to catch our own bugs: a background push must have
 * priority 5 and a silent payload, and a non-zero `apns-expiration` in the past is refused
 * (BadExpirationDate) — fpush's "1970" bug.
 *
 * @module
 */

import { importSPKI, jwtVerify } from "jose";
import type { Clock } from "../../../domain/ports/clock.ts";

/** A provider key the fake trusts. */
export interface FakeApnsKey {
  readonly keyId: string;
  readonly teamId: string;
  /** The public half of the `.p8`, SPKI PEM. */
  readonly publicKeyPem: string;
}

/** A request as the checks see it. */
export interface CheckedRequest {
  readonly method: string;
  readonly path: string;
  /** Lower-case names, repeated headers joined; the authorization header included. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Body size in bytes. */
  readonly bytes: number;
}

/** What one connection remembers of the provider tokens it saw. */
export interface ConnectionTokenState {
  lastJwt: string | null;
  lastIat: number | null;
}

/** The verified JWT's header and claims. */
export interface VerifiedJwt {
  readonly kid: string;
  readonly iss: string;
  readonly iat: number;
}

/** The verdict on a request. */
export interface CheckVerdict {
  /** 200 when every check passed. */
  readonly status: number;
  readonly reason: string | null;
  /** The device token from the path, or null. */
  readonly token: string | null;
  readonly jwt: VerifiedJwt | null;
}

const PAYLOAD_LIMIT = 4096;
const PUSH_TYPES = new Set([
  "alert",
  "background",
  "voip",
  "location",
  "complication",
  "fileprovider",
  "mdm",
  "liveactivity",
  "pushtotalk",
]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HOUR_S = 3600;
const MIN_RENEWAL_S = 20 * 60;
const MAX_CACHED_JWTS = 100;

/** Judges pushes the way APNs does. */
export class FakeApnsChecker {
  readonly #keys: ReadonlyMap<string, { readonly teamId: string; readonly key: CryptoKey }>;
  readonly #topics: ReadonlySet<string>;
  readonly #clock: Clock;
  /** Verified JWTs, so a benchmark does not measure ECDSA verification for every push. */
  readonly #verified = new Map<string, VerifiedJwt>();
  /** Signature verifications done. */
  verifications = 0;

  private constructor(
    keys: ReadonlyMap<string, { readonly teamId: string; readonly key: CryptoKey }>,
    topics: readonly string[],
    clock: Clock,
  ) {
    this.#keys = keys;
    this.#topics = new Set(topics);
    this.#clock = clock;
  }

  /** A checker trusting `keys` for `topics`, with the time from `clock`. */
  static async create(
    keys: readonly FakeApnsKey[],
    topics: readonly string[],
    clock: Clock,
  ): Promise<FakeApnsChecker> {
    const imported = new Map<string, { teamId: string; key: CryptoKey }>();
    for (const key of keys) {
      imported.set(key.keyId, {
        teamId: key.teamId,
        key: await importSPKI(key.publicKeyPem, "ES256") as CryptoKey,
      });
    }
    return new FakeApnsChecker(imported, topics, clock);
  }

  /**
   * The verdict on `request`, in APNs's order. `connection` carries the renewal rule
   * across the requests of one connection; null: not checked.
   */
  async check(
    request: CheckedRequest,
    connection: ConnectionTokenState | null,
  ): Promise<CheckVerdict> {
    const token = /^\/3\/device\/([^/?]*)$/.exec(request.path)?.[1] ?? null;
    let jwt: VerifiedJwt | null = null;
    const verdict = (status: number, reason: string | null): CheckVerdict => ({
      status,
      reason,
      token,
      jwt,
    });
    const headers = request.headers;
    if (request.method !== "POST") return verdict(405, "MethodNotAllowed");
    if (token === null) return verdict(404, "BadPath");
    if (token === "") return verdict(400, "MissingDeviceToken");
    const authorization = headers.authorization;
    if (authorization === undefined || !authorization.startsWith("bearer ")) {
      return verdict(403, "MissingProviderToken");
    }
    const bearer = authorization.slice("bearer ".length);
    jwt = await this.#verify(bearer);
    if (jwt === null) return verdict(403, "InvalidProviderToken");
    const nowS = Math.floor(this.#clock.now() / 1000);
    if (nowS - jwt.iat > HOUR_S) return verdict(403, "ExpiredProviderToken");
    if (connection !== null && bearer !== connection.lastJwt) {
      if (connection.lastIat !== null && jwt.iat - connection.lastIat < MIN_RENEWAL_S) {
        return verdict(429, "TooManyProviderTokenUpdates");
      }
      connection.lastJwt = bearer;
      connection.lastIat = jwt.iat;
    }
    const topic = headers["apns-topic"];
    if (topic === undefined) return verdict(400, "MissingTopic");
    if (!this.#topics.has(topic)) return verdict(400, "TopicDisallowed");
    const pushType = headers["apns-push-type"] ?? "alert";
    if (!PUSH_TYPES.has(pushType)) return verdict(400, "InvalidPushType");
    const priority = headers["apns-priority"] ?? "10";
    if (!["10", "5", "1"].includes(priority)) return verdict(400, "BadPriority");
    if (pushType === "background" && priority !== "5") return verdict(400, "BadPriority");
    const expiration = headers["apns-expiration"];
    if (expiration !== undefined) {
      if (!/^\d{1,12}$/.test(expiration)) return verdict(400, "BadExpirationDate");
      if (expiration !== "0" && Number(expiration) < nowS) {
        return verdict(400, "BadExpirationDate");
      }
    }
    const collapseId = headers["apns-collapse-id"];
    if (collapseId !== undefined && new TextEncoder().encode(collapseId).length > 64) {
      return verdict(400, "BadCollapseId");
    }
    if (headers["apns-id"] !== undefined && !UUID.test(headers["apns-id"])) {
      return verdict(400, "BadMessageId");
    }
    if (request.bytes === 0) return verdict(400, "PayloadEmpty");
    if (request.bytes > PAYLOAD_LIMIT) return verdict(413, "PayloadTooLarge");
    if (!/^[0-9a-f]{64,512}$/i.test(token)) return verdict(400, "BadDeviceToken");
    if (!payloadMatches(pushType, request.body)) return verdict(400, "InvalidPushType");
    return verdict(200, null);
  }

  async #verify(jwt: string): Promise<VerifiedJwt | null> {
    const cached = this.#verified.get(jwt);
    if (cached !== undefined) return cached;
    try {
      this.verifications++;
      const [headerPart] = jwt.split(".");
      const header = JSON.parse(atob(headerPart.replaceAll("-", "+").replaceAll("_", "/")));
      const key = typeof header.kid === "string" ? this.#keys.get(header.kid) : undefined;
      if (key === undefined) return null;
      const { payload } = await jwtVerify(jwt, key.key, {
        algorithms: ["ES256"],
        issuer: key.teamId,
        // Ages are judged against the fake's clock above, not jose's.
        currentDate: new Date(this.#clock.now()),
        clockTolerance: HOUR_S * 24 * 365,
      });
      if (typeof payload.iat !== "number") return null;
      const verified = { kid: header.kid, iss: key.teamId, iat: payload.iat };
      if (this.#verified.size >= MAX_CACHED_JWTS) this.#verified.clear();
      this.#verified.set(jwt, verified);
      return verified;
    } catch {
      return null;
    }
  }
}

/** Whether the JSON payload fits the push type: alerts show something, background is silent. */
function payloadMatches(pushType: string, body: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return false;
  }
  const aps = (parsed as { aps?: Record<string, unknown> } | null)?.aps;
  if (typeof aps !== "object" || aps === null) return false;
  if (pushType === "alert") return "alert" in aps || "sound" in aps || "badge" in aps;
  if (pushType === "background") return aps["content-available"] === 1 && !("alert" in aps);
  return true;
}
