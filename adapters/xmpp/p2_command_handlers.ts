/**
 * p2's registration commands as handlers of the {@link CommandDoor}: `register-push-<service>`
 * and `unregister-push-<service>` for the services named (p2.md §1–2, §6): one-stage execute,
 * fields `token` and `device-id` or `android-id`, answered `status="completed"` with p2's form
 * of `jid`, `node`, `secret`; unregister answered as p2 does. The app is the resource of the
 * IQ's `to`, else the service's default (contract §4); no such app is `item-not-found`.
 *
 * @module
 */

import type { Element } from "@xmpp/xml";
import type { P2Service } from "../../domain/p2_registration.ts";
import type {
  AppDirectory,
  CommandOutcome,
  RegistrationCommands,
} from "../../domain/ports/registration_commands.ts";
import type { CommandContext, CommandDoor } from "./command_door.ts";
import { p2UnregisterResult, readP2Command, registerResult } from "./fcm_commands.ts";
import { stanzaError } from "./iq_answers.ts";
import { apnsDeviceTokenSchema } from "../../domain/fpush_publish.ts";

/** What p2's handlers need. */
export interface P2CommandDeps {
  readonly registrations: RegistrationCommands;
  readonly apps: AppDirectory;
  /** The JID the answer's `jid` field names: where the user's server is to publish. */
  readonly jid: string;
  /** The answer's `sessionid`; p2 sends the time in milliseconds. */
  readonly sessionId?: () => string;
}

/** Registers p2's commands for `services` in `door`. */
export function registerP2Commands(
  door: CommandDoor,
  services: readonly P2Service[],
  deps: P2CommandDeps,
): void {
  for (const service of services) {
    const label = service.toUpperCase();
    door.register(
      `register-push-${service}`,
      `Register for ${label} push`,
      (context) => handleP2(context, deps),
    );
    door.register(
      `unregister-push-${service}`,
      `Unregister from ${label} push`,
      (context) => handleP2(context, deps),
    );
  }
}

async function handleP2(context: CommandContext, deps: P2CommandDeps): Promise<Element> {
  const command = readP2Command(context.iq);
  if (!command.ok) {
    const type = command.condition === "item-not-found" ? "cancel" : "modify";
    return stanzaError(type, command.condition, command.reason);
  }
  // p2 itself stores MUC registrations under the account's key (p2.md §3) and Conversations
  // never sends one: refused for good rather than mixed up with the account's registration.
  if (command.fields.muc !== undefined) {
    return stanzaError("cancel", "feature-not-implemented", "MUC registrations are not supported");
  }
  const app = deps.apps.appFor(command.service, context.requestedApp);
  if (app === null) return stanzaError("cancel", "item-not-found", "no such app");
  const { service, from } = command;
  const { deviceId } = command.fields;
  if (command.action === "unregister") {
    const outcome = await deps.registrations.unregister({ service, app, from, deviceId });
    return outcome.kind === "unregistered"
      ? p2UnregisterResult(command.commandNode)
      : errorOf(outcome);
  }
  let address = command.fields.token;
  if (service === "apns") {
    // The same tokens as the stateless dialect: whole bytes of hex, stored in lower case.
    const token = apnsDeviceTokenSchema.safeParse(address);
    if (!token.success) {
      return stanzaError("modify", "bad-request", "token is not an APNs device token");
    }
    address = token.data;
  }
  const outcome = await deps.registrations.register({ service, app, from, deviceId, address });
  if (outcome.kind !== "registered") return errorOf(outcome);
  return registerResult(command.commandNode, {
    jid: deps.jid,
    node: outcome.node,
    secret: outcome.secret,
    sessionId: (deps.sessionId ?? (() => String(Date.now())))(),
  });
}

/** The error for an outcome other than success: only "nothing there" is final. */
function errorOf(outcome: CommandOutcome): Element {
  switch (outcome.kind) {
    case "not-found":
      return stanzaError("cancel", "item-not-found");
    case "throttled":
      return stanzaError("wait", "resource-constraint", outcome.reason);
    case "unavailable":
      return stanzaError("wait", "internal-server-error", outcome.reason);
    default:
      return stanzaError("wait", "internal-server-error", "unexpected outcome");
  }
}
