/**
 * The operator's command line: `deno task cli <command>` (in a compiled binary:
 * `uwpx-push cli <command>`). It talks to a push server as a UWPX device would, and reads
 * the configured storage through the same adapters as the server.
 *
 * Results go to standard output, progress and errors to standard error. Exit codes: 0
 * success, 1 failure, 2 wrong usage. Secrets, channel tokens and whole node names are
 * masked unless `--show-secrets` is given.
 *
 * @module
 */

import { check } from "./cli/check_command.ts";
import {
  type CliOutput,
  type Command,
  consoleOutput,
  parse,
  UsageError,
} from "./cli/cli_support.ts";
import { register, testPush } from "./cli/device_commands.ts";
import { count, purge, showDevice, showNode, showRegistration } from "./cli/storage_commands.ts";
import { errorText } from "./readiness.ts";

export { mask } from "./cli/cli_support.ts";

export const CLI_USAGE = `UWPX push server: operator commands.

Usage: deno task cli <command> [options]

Commands that talk to a push server as a UWPX device does:
  register      set_channel_uri, then set_push_accounts; prints the answers
  test-push     request_test_push for a registered device
    --host HOST          the push server (default 127.0.0.1)
    --port PORT          its device port (default 1997)
    --ca FILE            trust this CA certificate (PEM) besides the system's
    --insecure           do not check the server's certificate (testing only)
    --device-id ID       register: default a new random id (shown in full only with
                         --show-secrets); test-push: required
    --channel-uri URI    register: the device's WNS channel URI (required)
    --account ID         register: an account id; repeat for several (default: one random)
    --protocol 1|2       protocol version (default 2)
    --timeout SECONDS    for connecting and for each answer (default 15)

Commands that read the configured storage (what a running server uses):
  show-device ID   a device's registration (registrations by command, e.g. p2's
                   register-push-fcm, are devices named <service>:<app>:<key>)
  show-registration SERVICE APP JID DEVICE_ID
                   a registration by command, by what the client sent (p2: the
                   account's JID and its android-id/device-id; e.g. fcm myapp
                   user@example.org 92afd7a91cdba9a0; Web Push: the endpoint)
  show-node NODE   the registration behind a node
  count            live devices and accounts (registrations by command included: one
                   device and one account each), then per app: SERVICE/APP: devices N,
                   accounts M
  purge            delete expired registrations (of every push service)
  check            validate the configuration, then try the TLS certificate, the storage,
                   a WNS access token (certificate and token: with tcp and wns only),
                   each app's credentials and the XMPP server's port
    --config FILE        the server's configuration (default configuration.json)

  --show-secrets   print node secrets, channel tokens, whole node names and whole device ids
                   (a device id is its device's only credential; show-device never
                   prints the one it was given)
  --verbose        also print the adapters' log lines (to standard error)
  --help           print this text`;

/** Runs a command; returns the exit code. */
export async function cli(
  args: readonly string[],
  output: CliOutput = consoleOutput,
): Promise<number> {
  try {
    const { values, positionals } = parse(args);
    const [command, ...rest] = positionals;
    if (values.help || command === undefined || command === "help") {
      output.out(CLI_USAGE);
      return command === undefined && !values.help ? 2 : 0;
    }
    const run = COMMANDS[command];
    if (!run) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    await run(values, rest, output);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      output.err(`${error.message}\n\n${CLI_USAGE}`);
      return 2;
    }
    output.err(`failed: ${errorText(error)}`);
    return 1;
  }
}

const COMMANDS: Record<string, Command> = {
  register,
  "test-push": testPush,
  "show-device": showDevice,
  "show-registration": showRegistration,
  "show-node": showNode,
  count,
  purge,
  check,
};

if (import.meta.main) Deno.exit(await cli(Deno.args));
