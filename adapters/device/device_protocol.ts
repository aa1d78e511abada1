/**
 * The device protocol's messages: validation of what a UWPX device sends (zod, at the edge)
 * and the exact JSON shapes of the answers (the seed's examples, tests/fixtures/protocol/*.json).
 *
 * @module
 */

import type { AccountAnswer } from "../../domain/ports/device_use_cases.ts";
import { z } from "zod";
import { mintNode, mintSecret } from "../../domain/minting.ts";

/** Protocol versions the UWPX client speaks. */
const Version = z.union([z.literal(1), z.literal(2)]);

/** Device ids are hex strings (64 characters from the UWPX client). */
const DeviceId = z.string().regex(/^[0-9a-fA-F]{1,128}$/, "must be 1 to 128 hex characters");

/** The longest account id accepted (the client's are 64 hex characters). */
const MAX_ACCOUNT_ID_LENGTH = 128;

/** Account ids are chosen by the client (SHA-256 hex in practice): keep them tame. */
const AccountId = z.string().regex(
  /^[0-9A-Za-z_-]{1,128}$/,
  "must be 1 to 128 letters, digits, '-' or '_'",
);

/**
 * The largest answer, NUL included, that reaches the UWPX client whole: it reads 4096 bytes
 * at a time and stops at the first short read, so an answer must arrive in one piece. One
 * write of at most one TLS record's plaintext (16 KiB) does.
 */
export const MAX_ANSWER_BYTES = 16 * 1024;

/** The largest channel URI accepted; real ones are a few hundred bytes. */
const MAX_CHANNEL_URI_LENGTH = 2048;

/** A request, validated and typed. */
export type DeviceRequest =
  | {
    readonly action: "set_channel_uri";
    readonly version: 1 | 2;
    readonly deviceId: string;
    readonly channelUri: string;
  }
  | {
    readonly action: "set_push_accounts";
    readonly version: 1 | 2;
    readonly deviceId: string;
    readonly accountIds: readonly string[];
  }
  | { readonly action: "request_test_push"; readonly version: 1 | 2; readonly deviceId: string };

/** The result of reading one frame: a request, or the error to answer with. */
export type ParsedFrame =
  | { readonly ok: true; readonly request: DeviceRequest }
  | {
    readonly ok: false;
    readonly version: 1 | 2;
    readonly error: string;
    /** The limit the request broke, when it broke one rather than the protocol. */
    readonly limit?: "accounts_per_device";
  };

/** Builds the request parser for a given account limit. */
export function requestParser(maxAccounts: number): (frame: Uint8Array) => ParsedFrame {
  const Envelope = z.object({ version: Version, action: z.string() });
  const SetChannelUri = z.object({
    device_id: DeviceId,
    channel_uri: z.string().min(1).max(MAX_CHANNEL_URI_LENGTH),
  });
  const SetPushAccounts = z.object({
    device_id: DeviceId,
    accounts: z.array(z.object({ account_id: AccountId })).max(
      maxAccounts,
      `too many accounts: this push server takes at most ${maxAccounts} per device`,
    ),
  });
  const RequestTestPush = z.object({ device_id: DeviceId });
  const decoder = new TextDecoder("utf-8", { fatal: true });

  return (frame) => {
    let text: string;
    try {
      text = decoder.decode(frame);
    } catch {
      return { ok: false, version: 2, error: "invalid UTF-8" };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      // Anything but a SyntaxError is the engine giving up (a RangeError on nesting or size).
      const what = error instanceof SyntaxError ? "invalid JSON" : "invalid JSON: too complex";
      return { ok: false, version: 2, error: what };
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return { ok: false, version: 2, error: "invalid request: expected a JSON object" };
    }
    const envelope = Envelope.safeParse(json);
    if (!envelope.success) return invalid(2, envelope.error);
    const { version, action } = envelope.data;
    switch (action) {
      case "set_channel_uri": {
        const body = SetChannelUri.safeParse(json);
        if (!body.success) return invalid(version, body.error);
        return {
          ok: true,
          request: {
            action,
            version,
            deviceId: body.data.device_id,
            channelUri: body.data.channel_uri,
          },
        };
      }
      case "set_push_accounts":
      case "set_accounts": {
        const body = SetPushAccounts.safeParse(json);
        if (!body.success) {
          const [issue] = body.error.issues;
          const tooMany = issue.code === "too_big" && issue.path.join(".") === "accounts";
          const refused = invalid(version, body.error);
          return tooMany ? { ...refused, limit: "accounts_per_device" } : refused;
        }
        return {
          ok: true,
          request: {
            action: "set_push_accounts",
            version,
            deviceId: body.data.device_id,
            accountIds: body.data.accounts.map((a) => a.account_id),
          },
        };
      }
      case "request_test_push": {
        const body = RequestTestPush.safeParse(json);
        if (!body.success) return invalid(version, body.error);
        return { ok: true, request: { action, version, deviceId: body.data.device_id } };
      }
      default:
        return { ok: false, version, error: `unknown action ${quoted(action)}` };
    }
  };
}

/** The longest piece of a device's own text an error answer (and its log line) repeats. */
const MAX_ECHOED_CHARS = 64;

/** `text` as a JSON string, cut to {@link MAX_ECHOED_CHARS} characters. */
function quoted(text: string): string {
  return JSON.stringify(
    text.length > MAX_ECHOED_CHARS ? `${text.slice(0, MAX_ECHOED_CHARS)}...` : text,
  );
}

/** Names the first problem zod found: the field's path and what is wrong with it. */
function invalid(version: 1 | 2, error: z.ZodError): ParsedFrame {
  const issue = error.issues[0];
  const path = issue.path.length > 0 ? issue.path.join(".") : "request";
  return { ok: false, version, error: `invalid field ${path}: ${issue.message}` };
}

/** `{"version","action":"response","status":1}` */
export function successResponse(version: 1 | 2): string {
  return JSON.stringify({ version, action: "response", status: 1 });
}

/** `{"version","action":"response","status":0,"error"}` */
export function errorResponse(version: 1 | 2, error: string): string {
  return JSON.stringify({ version, action: "response", status: 0, error });
}

/** The answer to a successful `set_push_accounts`. */
export function accountsResponse(
  version: 1 | 2,
  pushBareJid: string,
  accounts: readonly AccountAnswer[],
): string {
  return JSON.stringify({
    version,
    action: "response",
    status: 1,
    push_bare_jid: pushBareJid,
    accounts: accounts.map((a) => ({
      account_id: a.accountId,
      node: a.node,
      secret: a.secret,
      success: a.success,
    })),
  });
}

/**
 * The size in bytes, NUL included, of the largest `set_push_accounts` answer for
 * `maxAccounts` accounts: every account id as long as accepted, nodes and secrets as long
 * as minted, every `success` false.
 */
export function largestAccountsAnswerBytes(maxAccounts: number, pushBareJid: string): number {
  const zeros = (length: number) => new Uint8Array(length);
  const account: AccountAnswer = {
    accountId: "f".repeat(MAX_ACCOUNT_ID_LENGTH),
    node: mintNode(zeros),
    secret: mintSecret(zeros),
    success: false,
  };
  const accounts = Array.from({ length: maxAccounts }, () => account);
  return new TextEncoder().encode(accountsResponse(2, pushBareJid, accounts)).length + 1;
}
