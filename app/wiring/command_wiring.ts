/**
 * Registrations by command (XEP-0050): the door the XMPP link hands command IQs to, bounded
 * per sending server like publishes, and p2's commands served through it by the
 * {@link CommandRegistration} use case. Other dialects (`register-push-webpush`) register
 * their handlers in the same door.
 *
 * @module
 */

import { CommandDoor } from "../../adapters/xmpp/command_door.ts";
import { registerP2Commands } from "../../adapters/xmpp/p2_command_handlers.ts";
import type { Clock } from "../../domain/ports/clock.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import type { AppDirectory } from "../../domain/ports/registration_commands.ts";
import type { Config } from "../config.ts";
import { CommandLimits } from "../command_limits.ts";
import type { ReportLimit } from "../limit_reporter.ts";
import {
  CommandRegistration,
  type CommandRegistrationDeps,
} from "../use_cases/command_registration.ts";

/** The door, with its flood bound from `limits.xmpp.publishesPerServer`. */
export function commandDoorFor(
  limits: Config["limits"],
  deps: { readonly clock: Clock; readonly logger: Logger; readonly report: ReportLimit },
): CommandDoor {
  const commandLimits = new CommandLimits({
    perServer: limits.xmpp.publishesPerServer,
    maxKeys: limits.trackedKeys,
    clock: deps.clock,
    report: deps.report,
  });
  return new CommandDoor({ logger: deps.logger, admit: commandLimits.admit });
}

/** What p2's commands need besides the use case's deps. */
export interface RegistrationCommandDeps extends CommandRegistrationDeps {
  /** Which app a command is for (built from the configured apps). */
  readonly apps: AppDirectory;
  /** The push JID the answers name (the link's `pushBareJid`). */
  readonly jid: string;
}

/** Serves p2's `register-push-fcm` / `-apns` (and unregister) in `door`. */
export function serveRegistrationCommands(
  door: CommandDoor,
  deps: RegistrationCommandDeps,
): CommandRegistration {
  const { apps, jid, ...useCaseDeps } = deps;
  const registrations = new CommandRegistration(useCaseDeps);
  registerP2Commands(door, ["fcm", "apns"], { registrations, apps, jid });
  return registrations;
}
