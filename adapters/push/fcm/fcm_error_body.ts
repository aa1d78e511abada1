/**
 * Reads FCM HTTP v1 error answers (`{"error":{code, message, status, details[]}}`). Every
 * detail is looked at, not only the first: a 429 may carry only a `google.rpc.ErrorInfo`, a
 * 400 may list a `google.rpc.BadRequest` before the `FcmError`. Unknown fields and unknown
 * detail types are ignored; an unreadable body yields an empty reading (decide by status).
 *
 * @module
 */

import { z } from "zod";

/** FCM's error codes (`FcmError.errorCode`). */
export type FcmErrorCode =
  | "UNSPECIFIED_ERROR"
  | "INVALID_ARGUMENT"
  | "UNREGISTERED"
  | "SENDER_ID_MISMATCH"
  | "QUOTA_EXCEEDED"
  | "UNAVAILABLE"
  | "INTERNAL"
  | "THIRD_PARTY_AUTH_ERROR";

const FCM_ERROR_CODES: ReadonlySet<string> = new Set([
  "UNSPECIFIED_ERROR",
  "INVALID_ARGUMENT",
  "UNREGISTERED",
  "SENDER_ID_MISMATCH",
  "QUOTA_EXCEEDED",
  "UNAVAILABLE",
  "INTERNAL",
  "THIRD_PARTY_AUTH_ERROR",
]);

/** What an error answer says, as far as it could be read. */
export interface FcmErrorReading {
  /** `FcmError.errorCode` of the first FcmError detail, null without one (or unknown). */
  readonly fcmErrorCode: FcmErrorCode | null;
  /** The google.rpc status name (`NOT_FOUND`, `RESOURCE_EXHAUSTED`, ...), null if absent. */
  readonly status: string | null;
  /** `google.rpc.ErrorInfo.reason` values (`RATE_LIMIT_EXCEEDED`, ...). */
  readonly reasons: readonly string[];
  /** `google.rpc.BadRequest` field violations' field paths (`message.token`, ...). */
  readonly badFields: readonly string[];
  /** The human message, cut to 200 characters; FCM's messages hold no token. */
  readonly message: string | null;
}

const errorEnvelopeSchema = z.looseObject({
  error: z.looseObject({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
    details: z.array(z.unknown()).optional(),
  }),
});

const fcmErrorDetailSchema = z.looseObject({
  "@type": z.string().endsWith("google.firebase.fcm.v1.FcmError"),
  errorCode: z.string(),
});

const errorInfoDetailSchema = z.looseObject({
  "@type": z.string().endsWith("google.rpc.ErrorInfo"),
  reason: z.string(),
});

const badRequestDetailSchema = z.looseObject({
  "@type": z.string().endsWith("google.rpc.BadRequest"),
  fieldViolations: z.array(z.looseObject({ field: z.string().optional() })),
});

const EMPTY: FcmErrorReading = {
  fcmErrorCode: null,
  status: null,
  reasons: [],
  badFields: [],
  message: null,
};

/** Reads an error answer's body; see the module comment. */
export function readFcmError(body: string): FcmErrorReading {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return EMPTY;
  }
  const envelope = errorEnvelopeSchema.safeParse(json);
  if (!envelope.success) return EMPTY;
  const error = envelope.data.error;
  let fcmErrorCode: FcmErrorCode | null = null;
  const reasons: string[] = [];
  const badFields: string[] = [];
  for (const detail of error.details ?? []) {
    const fcm = fcmErrorDetailSchema.safeParse(detail);
    if (fcm.success) {
      if (fcmErrorCode === null && FCM_ERROR_CODES.has(fcm.data.errorCode)) {
        fcmErrorCode = fcm.data.errorCode as FcmErrorCode;
      }
      continue;
    }
    const info = errorInfoDetailSchema.safeParse(detail);
    if (info.success) {
      reasons.push(info.data.reason);
      continue;
    }
    const bad = badRequestDetailSchema.safeParse(detail);
    if (bad.success) {
      for (const violation of bad.data.fieldViolations) {
        if (violation.field !== undefined) badFields.push(violation.field);
      }
    }
  }
  return {
    fcmErrorCode,
    status: error.status ?? null,
    reasons,
    badFields,
    message: error.message === undefined ? null : error.message.slice(0, 200),
  };
}

/** Whether an INVALID_ARGUMENT answer blames the registration token (not our message). */
export function blamesToken(reading: FcmErrorReading): boolean {
  if (reading.badFields.some((field) => field === "message.token" || field === "token")) {
    return true;
  }
  return reading.message !== null && /registration token is not a valid/i.test(reading.message);
}
