/**
 * A fake FCM on 127.0.0.1 for tests, the demo and benchmarks: Google's OAuth token endpoint
 * (JWT bearer grant, the assertion verified with `jose` against the service account's public
 * key, independently of our signer) and FCM HTTP v1's send endpoint (Bearer token, project,
 * message body checked as FCM does), with a record of what it accepted. It can be told to
 * answer, per registration token, every error body of fcm-v1.md §4, to hold or cut a request,
 * to go down for a while, and to expire its access tokens. Quiet: it never logs.
 *
 * @module
 */

import { abortableSleep, closeOnce, enqueue } from "../fake_service_kit.ts";
import { decodeProtectedHeader, importSPKI, jwtVerify } from "jose";
import { z } from "zod";
import {
  generateServiceAccountKey,
  type ServiceAccountJson,
  serviceAccountJson,
  type ServiceAccountKeyPair,
} from "./throwaway_service_account.ts";

const TOKEN_PATH = "/token";
const SEND_PATH = /^\/v1\/projects\/([^/]+)\/messages:send$/;
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ACCEPTED_SCOPES = [
  "https://www.googleapis.com/auth/firebase.messaging",
  "https://www.googleapis.com/auth/cloud-platform",
];
const FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError";
const BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest";
const ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo";
const TOKEN_INVALID_TEXT = "The registration token is not a valid FCM registration token";

/** One canned error answer. */
export interface FakeFcmErrorAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

function googleError(
  code: number,
  status: string,
  message: string,
  details?: readonly unknown[],
): unknown {
  return { error: { code, message, status, ...(details ? { details } : {}) } };
}

const fcmError = (errorCode: string) => ({ "@type": FCM_ERROR, errorCode });

/**
 * Every error answer of fcm-v1.md §4, by name. The shapes follow Google's error-codes page
 * and real bodies (the 429 RATE_LIMIT_EXCEEDED body has no FcmError entry at all).
 */
export const FAKE_FCM_ERRORS = {
  UNREGISTERED: {
    status: 404,
    body: googleError(404, "NOT_FOUND", "Requested entity was not found.", [
      fcmError("UNREGISTERED"),
    ]),
  },
  /** A garbled token, the BadRequest detail listed before the FcmError. */
  INVALID_ARGUMENT_TOKEN: {
    status: 400,
    body: googleError(400, "INVALID_ARGUMENT", TOKEN_INVALID_TEXT, [
      {
        "@type": BAD_REQUEST,
        fieldViolations: [{ field: "message.token", description: TOKEN_INVALID_TEXT }],
      },
      fcmError("INVALID_ARGUMENT"),
    ]),
  },
  /** A garbled token, said only in the message (no field violation). */
  INVALID_ARGUMENT_TOKEN_MESSAGE_ONLY: {
    status: 400,
    body: googleError(400, "INVALID_ARGUMENT", TOKEN_INVALID_TEXT, [
      fcmError("INVALID_ARGUMENT"),
    ]),
  },
  /** Something wrong with the message, not the token. */
  INVALID_ARGUMENT_MESSAGE: {
    status: 400,
    body: googleError(
      400,
      "INVALID_ARGUMENT",
      "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), Field 'ttl', Illegal duration format",
      [
        fcmError("INVALID_ARGUMENT"),
        {
          "@type": BAD_REQUEST,
          fieldViolations: [{
            field: "message.android.ttl",
            description: "Illegal duration format",
          }],
        },
      ],
    ),
  },
  QUOTA_EXCEEDED: {
    status: 429,
    body: googleError(429, "RESOURCE_EXHAUSTED", "Sending limit exceeded.", [
      fcmError("QUOTA_EXCEEDED"),
    ]),
    headers: { "Retry-After": "60" },
  },
  /** The project quota body quoted in firebase-admin-go#719: ErrorInfo and Help, no FcmError. */
  RATE_LIMIT_EXCEEDED: {
    status: 429,
    body: googleError(
      429,
      "RESOURCE_EXHAUSTED",
      "Quota exceeded for quota metric 'Send requests' and limit 'Send requests per minute' of service 'fcm.googleapis.com' for consumer 'project_number:000000000000'.",
      [
        {
          "@type": ERROR_INFO,
          reason: "RATE_LIMIT_EXCEEDED",
          domain: "googleapis.com",
          metadata: {
            service: "fcm.googleapis.com",
            quota_metric: "fcm.googleapis.com/send_requests",
            quota_limit: "SendRequestsPerMinutePerProject",
            consumer: "projects/000000000000",
          },
        },
        {
          "@type": "type.googleapis.com/google.rpc.Help",
          links: [{
            description: "Request a higher quota limit.",
            url: "https://cloud.google.com/docs/quota",
          }],
        },
      ],
    ),
  },
  UNAVAILABLE: {
    status: 503,
    body: googleError(503, "UNAVAILABLE", "The service is currently unavailable.", [
      fcmError("UNAVAILABLE"),
    ]),
    headers: { "Retry-After": "10" },
  },
  INTERNAL: {
    status: 500,
    body: googleError(500, "INTERNAL", "Internal error encountered.", [fcmError("INTERNAL")]),
  },
  UNSPECIFIED_ERROR: {
    status: 500,
    body: googleError(500, "INTERNAL", "Unknown error.", [fcmError("UNSPECIFIED_ERROR")]),
  },
  SENDER_ID_MISMATCH: {
    status: 403,
    body: googleError(403, "PERMISSION_DENIED", "SenderId mismatch", [
      fcmError("SENDER_ID_MISMATCH"),
    ]),
  },
  THIRD_PARTY_AUTH_ERROR: {
    status: 401,
    body: googleError(
      401,
      "UNAUTHENTICATED",
      "Auth error from APNS or Web Push Service",
      [fcmError("THIRD_PARTY_AUTH_ERROR")],
    ),
  },
  /** API disabled or role missing: no FcmError. */
  PERMISSION_DENIED: {
    status: 403,
    body: googleError(
      403,
      "PERMISSION_DENIED",
      "Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/fake' (or it may not exist).",
      [{ "@type": ERROR_INFO, reason: "IAM_PERMISSION_DENIED", domain: "iam.googleapis.com" }],
    ),
  },
  /** Expired or invalid access token: no FcmError. */
  UNAUTHENTICATED: {
    status: 401,
    body: googleError(
      401,
      "UNAUTHENTICATED",
      "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
    ),
  },
  /** Wrong project id in the URL: 404 without FcmError. */
  PROJECT_NOT_FOUND: {
    status: 404,
    body: googleError(404, "NOT_FOUND", "Requested entity was not found."),
  },
} as const satisfies Record<string, FakeFcmErrorAnswer>;

/** A name of {@link FAKE_FCM_ERRORS}. */
export type FakeFcmErrorName = keyof typeof FAKE_FCM_ERRORS;

/** Options of {@link startFakeFcm}. */
export interface FakeFcmOptions {
  /** The project the send endpoint serves. Default "fake-project". */
  readonly projectId?: string;
  /** The service account's key; generated when absent. */
  readonly key?: ServiceAccountKeyPair;
  /** `expires_in` of issued access tokens, seconds. Default 3599. */
  readonly tokenExpiresIn?: number;
  /** Keep every message and token request (default true); false: counters only. */
  readonly record?: boolean;
}

/** A message the fake accepted. */
export interface FakeFcmMessage {
  readonly token: string;
  readonly data: Readonly<Record<string, string>>;
  readonly android: Readonly<Record<string, unknown>> | undefined;
  /** The access token it came with. */
  readonly accessToken: string;
  /** The request body as received. */
  readonly body: string;
}

/** A token request the fake answered, with the assertion's verified header and claims. */
export interface FakeFcmTokenRequest {
  readonly status: number;
  /** Why it was refused (`invalid_grant: ...`), null when a token was issued. */
  readonly refusal: string | null;
  readonly header: Readonly<Record<string, unknown>> | null;
  readonly claims: Readonly<Record<string, unknown>> | null;
}

/** A send request the fake answered. */
export interface FakeFcmSendRequest {
  readonly path: string;
  readonly status: number;
  readonly errorName: FakeFcmErrorName | null;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: string;
}

/** Counters kept with or without recording. */
export interface FakeFcmCounters {
  readonly sends: number;
  readonly delivered: number;
  readonly tokenRequests: number;
  readonly tokensIssued: number;
}

/** A running fake FCM; see {@link startFakeFcm}. */
export interface FakeFcm {
  /** `http://127.0.0.1:<port>`: the sender's base URL. */
  readonly url: string;
  /** The token endpoint: a key file's `token_uri`. */
  readonly tokenUri: string;
  readonly projectId: string;
  /** The key the token endpoint trusts. */
  readonly key: ServiceAccountKeyPair;
  /** A key file for the trusted key, `token_uri` pointing here. */
  readonly serviceAccount: ServiceAccountJson;
  /** A registration token shaped like FCM's (accepted like any well-formed token). */
  deviceToken(): string;
  readonly messages: readonly FakeFcmMessage[];
  readonly sendRequests: readonly FakeFcmSendRequest[];
  readonly tokenRequests: readonly FakeFcmTokenRequest[];
  readonly issuedTokens: readonly string[];
  readonly counters: FakeFcmCounters;
  /** Answers every send to `token` with the named error until {@link heal}. */
  failAlways(token: string, error: FakeFcmErrorName): void;
  /** Answers the next send to `token` with the named error (queued, in order). */
  failNext(token: string, error: FakeFcmErrorName, headers?: Record<string, string>): void;
  /** Forgets what {@link failAlways} said about `token`. */
  heal(token: string): void;
  /** Answers every send with the named error for `durationMs`. */
  outage(error: FakeFcmErrorName, durationMs: number): void;
  /** Holds the next send to `token` for `delayMs` before answering. */
  delayNext(token: string, delayMs: number): void;
  /** Cuts the connection of the next send to `token` while answering. */
  resetNext(token: string): void;
  /** Answers the next token request with `status` and `body` (JSON). */
  failNextToken(status: number, body: unknown): void;
  /** Makes every access token issued so far invalid (the send endpoint then answers 401). */
  expireTokens(): void;
  /** `expires_in` of tokens issued from now on. */
  setTokenLifetime(seconds: number): void;
  /** Clears records, counters, failures and delays; issued tokens stay valid. */
  reset(): void;
  /** Resolves with the accepted messages once there are `n`; rejects after the timeout. */
  waitForMessages(n: number, timeoutMs: number): Promise<readonly FakeFcmMessage[]>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** What FCM checks of a send request body (the parts an XMPP app server uses). */
const sendBodySchema = z.strictObject({
  message: z.strictObject({
    token: z.string().regex(/^[\x21-\x7e]{1,4096}$/).optional(),
    topic: z.string().optional(),
    condition: z.string().optional(),
    data: z.record(z.string(), z.string()).optional(),
    android: z.strictObject({
      priority: z.enum(["HIGH", "NORMAL", "high", "normal"]).optional(),
      ttl: z.string().regex(/^\d+(\.\d{1,9})?s$/).refine((ttl) => parseFloat(ttl) <= 2_419_200, {
        message: "TTL over 4 weeks",
      }).optional(),
      collapse_key: z.string().optional(),
      restricted_package_name: z.string().optional(),
      direct_boot_ok: z.boolean().optional(),
      data: z.record(z.string(), z.string()).optional(),
    }).optional(),
  }),
  validate_only: z.boolean().optional(),
});

/** Starts a fake FCM on 127.0.0.1 with a free port. */
export async function startFakeFcm(options: FakeFcmOptions = {}): Promise<FakeFcm> {
  const key = options.key ?? await generateServiceAccountKey();
  const publicKey = await importSPKI(key.publicKeyPem, "RS256");
  const projectId = options.projectId ?? "fake-project";
  let tokenLifetime = options.tokenExpiresIn ?? 3599;
  const recording = options.record ?? true;

  const tokens = new Map<string, number>(); // access token -> epoch ms it stops working
  const issuedTokens: string[] = [];
  const messages: FakeFcmMessage[] = [];
  const sendRequests: FakeFcmSendRequest[] = [];
  const tokenRequests: FakeFcmTokenRequest[] = [];
  const counters = { sends: 0, delivered: 0, tokenRequests: 0, tokensIssued: 0 };
  const failing = new Map<string, FakeFcmErrorName>();
  const failNextQueue = new Map<
    string,
    { name: FakeFcmErrorName; headers: Record<string, string> }[]
  >();
  const delays = new Map<string, number[]>();
  const resets = new Map<string, number>();
  const tokenFailures: { status: number; body: unknown }[] = [];
  let outage: { name: FakeFcmErrorName; until: number } | null = null;
  let waiters: { n: number; resolve: (m: readonly FakeFcmMessage[]) => void }[] = [];
  const closing = new AbortController();

  const handleToken = async (request: Request): Promise<Response> => {
    counters.tokenRequests++;
    const injected = tokenFailures.shift();
    const record = (entry: FakeFcmTokenRequest) => {
      if (recording) tokenRequests.push(entry);
    };
    if (injected) {
      record({ status: injected.status, refusal: "injected", header: null, claims: null });
      return Response.json(injected.body, { status: injected.status });
    }
    const refuse = (description: string, header: Record<string, unknown> | null = null) => {
      record({ status: 400, refusal: `invalid_grant: ${description}`, header, claims: null });
      return Response.json({ error: "invalid_grant", error_description: description }, {
        status: 400,
      });
    };
    if (request.method !== "POST") return new Response(null, { status: 405 });
    if (!request.headers.get("content-type")?.startsWith("application/x-www-form-urlencoded")) {
      return refuse("Bad Request");
    }
    const form = new URLSearchParams(await request.text());
    if (form.get("grant_type") !== JWT_BEARER) {
      record({ status: 400, refusal: "unsupported_grant_type", header: null, claims: null });
      return Response.json({
        error: "unsupported_grant_type",
        error_description: "Invalid grant_type",
      }, {
        status: 400,
      });
    }
    const assertion = form.get("assertion") ?? "";
    let header: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(assertion) as Record<string, unknown>;
    } catch {
      return refuse("Invalid JWT");
    }
    let claims: Record<string, unknown>;
    try {
      const verified = await jwtVerify(assertion, publicKey, {
        algorithms: ["RS256"],
        issuer: account.client_email,
        audience: account.token_uri,
        requiredClaims: ["iat", "exp", "scope"],
        clockTolerance: 60,
      });
      claims = verified.payload as Record<string, unknown>;
    } catch (error) {
      return refuse(
        `Invalid JWT Signature or claims (${(error as { code?: string }).code ?? "error"})`,
        header,
      );
    }
    if (header.typ !== undefined && header.typ !== "JWT") return refuse("Invalid JWT type", header);
    if (header.kid !== undefined && header.kid !== key.keyId) {
      return refuse("Invalid key id", header);
    }
    const iat = claims.iat as number;
    const exp = claims.exp as number;
    if (exp - iat > 3600 || exp <= iat) {
      return refuse(
        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        header,
      );
    }
    const scopes = String(claims.scope).split(" ");
    if (!scopes.some((scope) => ACCEPTED_SCOPES.includes(scope))) {
      return refuse("Invalid scope", header);
    }
    const accessToken = `ya29.fake-${randomToken(32)}`;
    tokens.set(accessToken, Date.now() + tokenLifetime * 1000);
    counters.tokensIssued++;
    if (recording) issuedTokens.push(accessToken);
    record({ status: 200, refusal: null, header, claims });
    return Response.json({
      access_token: accessToken,
      expires_in: tokenLifetime,
      token_type: "Bearer",
    });
  };

  const handleSend = async (request: Request, path: string): Promise<Response> => {
    counters.sends++;
    const text = await request.text();
    const headers = recording ? [...request.headers].map(([k, v]) => [k, v] as const) : [];
    const record = (status: number, errorName: FakeFcmErrorName | null) => {
      if (recording) sendRequests.push({ path, status, errorName, headers, body: text });
    };
    const answerError = (name: FakeFcmErrorName, extraHeaders: Record<string, string> = {}) => {
      const canned: FakeFcmErrorAnswer = FAKE_FCM_ERRORS[name];
      record(canned.status, name);
      return Response.json(canned.body, {
        status: canned.status,
        headers: { ...canned.headers, ...extraHeaders },
      });
    };
    const invalid = (field: string, description: string) => {
      record(400, null);
      return Response.json(
        googleError(400, "INVALID_ARGUMENT", `Invalid value at '${field}': ${description}`, [
          fcmError("INVALID_ARGUMENT"),
          { "@type": BAD_REQUEST, fieldViolations: [{ field, description }] },
        ]),
        { status: 400 },
      );
    };

    if (request.method !== "POST") return new Response(null, { status: 405 });
    // FCM's order: authentication, project, body.
    const auth = request.headers.get("authorization");
    const expiresAt = auth?.startsWith("Bearer ") ? tokens.get(auth.slice(7)) : undefined;
    if (expiresAt === undefined || Date.now() >= expiresAt) return answerError("UNAUTHENTICATED");
    const project = SEND_PATH.exec(path)![1];
    if (decodeURIComponent(project) !== projectId) return answerError("PROJECT_NOT_FOUND");
    if (!request.headers.get("content-type")?.startsWith("application/json")) {
      return invalid("(body)", "Content-Type must be application/json");
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return invalid("(body)", "Invalid JSON payload received.");
    }
    const parsed = sendBodySchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return invalid(issue.path.join(".") || "(body)", issue.message);
    }
    const message = parsed.data.message;
    const targets = [message.token, message.topic, message.condition].filter((t) =>
      t !== undefined
    );
    if (targets.length !== 1 || message.token === undefined) {
      return invalid("message", "exactly one of token, topic, condition (token here)");
    }
    const data = message.data ?? {};
    for (const dataKey of Object.keys(data)) {
      if (dataKey === "from" || dataKey === "gcm" || dataKey.startsWith("google")) {
        return invalid(`message.data.${dataKey}`, "reserved key");
      }
    }
    let dataBytes = 0;
    for (const [k, v] of Object.entries(data)) {
      dataBytes += new TextEncoder().encode(k).byteLength + new TextEncoder().encode(v).byteLength;
    }
    if (dataBytes > 4096) return invalid("message.data", "Message is too big");

    const token = message.token;
    const delay = delays.get(token)?.shift();
    if (delay !== undefined) await abortableSleep(delay, closing.signal);
    if ((resets.get(token) ?? 0) > 0) {
      resets.set(token, resets.get(token)! - 1);
      record(0, null);
      const body = new ReadableStream({ pull: (c) => c.error(new Error("reset")) });
      return new Response(body, { status: 200 });
    }
    if (outage !== null && Date.now() >= outage.until) outage = null;
    const next = failNextQueue.get(token)?.shift();
    if (next) return answerError(next.name, next.headers);
    const always = failing.get(token);
    if (always) return answerError(always);
    if (outage !== null) return answerError(outage.name);

    counters.delivered++;
    record(200, null);
    if (recording) {
      messages.push({
        token,
        data,
        android: message.android,
        accessToken: auth!.slice(7),
        body: text,
      });
    }
    if (waiters.length > 0) {
      const ready = waiters.filter((w) => counters.delivered >= w.n);
      waiters = waiters.filter((w) => counters.delivered < w.n);
      for (const waiter of ready) waiter.resolve(messages.slice());
    }
    return Response.json({
      name: `projects/${projectId}/messages/0:${Date.now()}%${randomHex(8)}`,
    });
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    onError: () => new Response(null, { status: 500 }),
  }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === TOKEN_PATH) return handleToken(request);
    if (SEND_PATH.test(path)) return handleSend(request, path);
    return new Response("Not Found", { status: 404 });
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  const account = serviceAccountJson(key, projectId, `${url}${TOKEN_PATH}`);

  const close = closeOnce(server, closing);

  return {
    url,
    tokenUri: `${url}${TOKEN_PATH}`,
    projectId,
    key,
    serviceAccount: account,
    deviceToken: () => `${randomToken(16)}:APA91b${randomToken(104)}`,
    messages,
    sendRequests,
    tokenRequests,
    issuedTokens,
    counters,
    failAlways(token, error) {
      failing.set(token, error);
    },
    failNext(token, error, headers = {}) {
      enqueue(failNextQueue, token, { name: error, headers });
    },
    heal(token) {
      failing.delete(token);
    },
    outage(error, durationMs) {
      outage = { name: error, until: Date.now() + durationMs };
    },
    delayNext(token, delayMs) {
      enqueue(delays, token, delayMs);
    },
    resetNext(token) {
      resets.set(token, (resets.get(token) ?? 0) + 1);
    },
    failNextToken(status, body) {
      tokenFailures.push({ status, body });
    },
    expireTokens() {
      for (const token of tokens.keys()) tokens.set(token, 0);
    },
    setTokenLifetime(seconds) {
      tokenLifetime = seconds;
    },
    reset() {
      messages.length = 0;
      sendRequests.length = 0;
      tokenRequests.length = 0;
      counters.sends = 0;
      counters.delivered = 0;
      counters.tokenRequests = 0;
      counters.tokensIssued = 0;
      failing.clear();
      failNextQueue.clear();
      delays.clear();
      resets.clear();
      tokenFailures.length = 0;
      outage = null;
    },
    waitForMessages(n, timeoutMs) {
      if (counters.delivered >= n) return Promise.resolve(messages.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          reject(
            new Error(
              `fake FCM: expected ${n} message(s) within ${timeoutMs} ms, got ${counters.delivered}`,
            ),
          );
        }, timeoutMs);
        const waiter = {
          n,
          resolve: (m: readonly FakeFcmMessage[]) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        waiters.push(waiter);
      });
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function randomHex(bytes: number): string {
  return crypto.getRandomValues(new Uint8Array(bytes)).toHex();
}

function randomToken(bytes: number): string {
  return crypto.getRandomValues(new Uint8Array(bytes)).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}
