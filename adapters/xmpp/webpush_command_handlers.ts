/**
 * Our Web Push registration commands as handlers of the {@link CommandDoor}:
 * `register-push-webpush` (fields `endpoint`, `p256dh`, `auth`; answered like p2's command,
 * `status="completed"` with a form of `jid`, `node`, `secret`) and `unregister-push-webpush`
 * (field `endpoint`; answered `status="completed"`, no form). The fields are read by
 * `webpush_commands.ts`; the app is the resource of the IQ's `to`, else the default Web Push
 * app (contract §4); no such app is `item-not-found`. The registration key is the dialect's
 * own (SHA-256 of bare JID NUL endpoint), so the stored device is `webpush:<app>:<key>`.
 *
 * @module
 */

import { xml } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import type {
  AppDirectory,
  CommandOutcome,
  RegistrationCommands,
} from "../../domain/ports/registration_commands.ts";
import { WEBPUSH, webPushRegistrationKey } from "../../domain/webpush_registration.ts";
import { bareJidOf } from "../../domain/p2_registration.ts";
import type { CommandContext, CommandDoor } from "./command_door.ts";
import { NS_COMMANDS, registerResult } from "./fcm_commands.ts";
import { stanzaError } from "./iq_answers.ts";
import {
  readWebPushCommand,
  REGISTER_PUSH_WEBPUSH,
  UNREGISTER_PUSH_WEBPUSH,
  webPushRegistration,
} from "./webpush_commands.ts";

/** What the handlers need. */
export interface WebPushCommandDeps {
  readonly registrations: RegistrationCommands;
  readonly apps: AppDirectory;
  /** The JID the answer's `jid` field names: where the user's server is to publish. */
  readonly jid: string;
  /**
   * The app's endpoint rules with DNS (https, no private address unless allowed): null when
   * `endpoint` passes, else why not (`forbidden-address`...). Absent: syntax only.
   */
  readonly checkEndpoint?: (app: string, endpoint: string) => Promise<string | null>;
  /** The answer's `sessionid`; the time in milliseconds by default, as p2's. */
  readonly sessionId?: () => string;
}

/** Registers `register-push-webpush` and `unregister-push-webpush` in `door`. */
export function registerWebPushCommands(door: CommandDoor, deps: WebPushCommandDeps): void {
  const handler = (context: CommandContext) => handleWebPush(context, deps);
  door.register(REGISTER_PUSH_WEBPUSH, "Register for Web Push (UnifiedPush)", handler);
  door.register(UNREGISTER_PUSH_WEBPUSH, "Unregister from Web Push (UnifiedPush)", handler);
}

async function handleWebPush(context: CommandContext, deps: WebPushCommandDeps): Promise<Element> {
  const read = readWebPushCommand(context.iq);
  if (!read.ok) {
    const type = read.condition === "item-not-found" ? "cancel" : "modify";
    return stanzaError(type, read.condition, read.reason);
  }
  const app = deps.apps.appFor(WEBPUSH, context.requestedApp);
  if (app === null) return stanzaError("cancel", "item-not-found", "no such app");
  const command = read.value;
  const node = command.action === "register" ? REGISTER_PUSH_WEBPUSH : UNREGISTER_PUSH_WEBPUSH;
  const sessionId = (deps.sessionId ?? (() => String(Date.now())))();
  // The dialect has no device id: the endpoint is the subscription (see the key's rules).
  const base = { service: WEBPUSH, app, from: command.from, deviceId: "" };
  if (command.action === "unregister") {
    const key = await webPushRegistrationKey(bareJidOf(command.from), command.fields.endpoint);
    const outcome = await deps.registrations.unregister({ ...base, key });
    if (outcome.kind !== "unregistered") return errorOf(outcome);
    return xml("command", {
      xmlns: NS_COMMANDS,
      node,
      sessionid: sessionId,
      status: "completed",
    });
  }
  // Refused now rather than at every push: the client hears why and can pick another service.
  const refusal = await deps.checkEndpoint?.(app, command.fields.endpoint) ?? null;
  if (refusal !== null) {
    return stanzaError("cancel", "not-allowed", `the endpoint is not allowed (${refusal})`);
  }
  const registration = await webPushRegistration(command.from, app, command.fields);
  const outcome = await deps.registrations.register({
    ...base,
    address: registration.target.address,
    key: registration.key,
  });
  if (outcome.kind !== "registered") return errorOf(outcome);
  return registerResult(node, {
    jid: deps.jid,
    node: outcome.node,
    secret: outcome.secret,
    sessionId,
  });
}

/** The error for an outcome other than success: only "nothing there" is final. */
function errorOf(outcome: CommandOutcome): Element {
  switch (outcome.kind) {
    case "not-found":
      return stanzaError("cancel", "item-not-found", "no such registration");
    case "throttled":
      return stanzaError("wait", "resource-constraint", outcome.reason);
    default:
      return stanzaError(
        "wait",
        "internal-server-error",
        outcome.kind === "unavailable" ? outcome.reason : "try later",
      );
  }
}
