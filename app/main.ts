/**
 * The command line, as the original server's binary:
 * `deno task start [--noInput] [--help] [path/to/configuration.json]`.
 *
 * @module
 */

import { ConsoleLogger } from "../adapters/logging/console_logger.ts";
import { loadConfig } from "./config.ts";
import { cli } from "./cli.ts";
import { startPushServer } from "./push_server.ts";
import { systemResolver } from "../adapters/push/webpush/endpoint_policy.ts";

const USAGE = `UWPX push server: an XEP-0357 app server that bridges XMPP push
notifications to the push services of the apps configured: WNS (the UWPX client), FCM
(Android apps, p2's registration commands) and APNs (Apple apps, fpush's stateless
dialect and p2's register-push-apns).

Usage: deno task start [--noInput] [--help] [path/to/configuration.json]

  path        the configuration file (default: configuration.json); created from a
              template if it does not exist
  --noInput   do not read commands from standard input (for services)
  --help      print this text

Without --noInput, typing q and Enter quits. SIGINT and SIGTERM shut down gracefully:
requests in progress are answered for up to shutdownTimeoutSeconds (a second signal cuts
that short). SIGHUP reloads the TLS certificate of the device port (configured with the
wns and tcp sections; without them there is nothing to reload).

Operator commands: deno task cli --help (in a compiled binary: uwpx-push cli --help).`;

/** Runs the CLI; returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  // The compiled binary carries the operator commands too: `uwpx-push cli <command>`.
  if (args[0] === "cli") return await cli(args.slice(1));
  const flags = args.filter((a) => a.startsWith("--"));
  const paths = args.filter((a) => !a.startsWith("--"));
  const unknown = flags.filter((f) => f !== "--noInput" && f !== "--help");
  if (flags.includes("--help")) {
    console.log(USAGE);
    return 0;
  }
  if (unknown.length > 0 || paths.length > 1) {
    console.error(`unknown arguments: ${[...unknown, ...paths.slice(1)].join(" ")}\n\n${USAGE}`);
    return 2;
  }
  const path = paths[0] ?? "configuration.json";
  const loaded = await loadConfig(path);
  if (!loaded.ok) {
    console.error(`Configuration ${path} is not usable:`);
    for (const problem of loaded.problems) console.error(`  - ${problem}`);
    return 1;
  }
  const { config } = loaded;
  const logger = new ConsoleLogger(config.log.level, config.log.format);
  let server;
  try {
    // The system's DNS for Web Push endpoints: named here only, never by tests.
    server = await startPushServer(config, logger, { webpush: { resolve: systemResolver } });
  } catch (error) {
    logger.error("could not start", { reason: (error as Error).message });
    return 1;
  }

  const stopped = Promise.withResolvers<void>();
  const stop = () => stopped.resolve();
  const reload = () => {
    if (server.devices === null) {
      logger.info("SIGHUP: no device port (no tcp section), no certificate to reload");
      return;
    }
    logger.info("SIGHUP: reloading the TLS certificate");
    server.reloadCertificate();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const hangUp = addSignalListener("SIGHUP", reload);
  if (!flags.includes("--noInput")) watchForQuit(stop);
  await stopped.promise;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  if (hangUp) Deno.removeSignalListener("SIGHUP", reload);
  // A second signal while draining: stop waiting.
  const force = () => {
    logger.warn("second signal: shutting down now");
    Deno.exit(1);
  };
  Deno.addSignalListener("SIGINT", force);
  Deno.addSignalListener("SIGTERM", force);
  logger.info("shutting down", { timeoutSeconds: config.shutdownTimeoutSeconds });
  await server.close();
  Deno.removeSignalListener("SIGINT", force);
  Deno.removeSignalListener("SIGTERM", force);
  return 0;
}

/** Adds a signal listener where the platform has the signal (SIGHUP: not on Windows). */
function addSignalListener(signal: Deno.Signal, listener: () => void): boolean {
  try {
    Deno.addSignalListener(signal, listener);
    return true;
  } catch {
    return false;
  }
}

/** Calls `quit` when a line `q` is typed. The end of standard input changes nothing. */
async function watchForQuit(quit: () => void): Promise<void> {
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let pending = "";
  for await (const chunk of lines) {
    pending += chunk;
    const parts = pending.split("\n");
    pending = parts.pop() ?? "";
    if (parts.some((line) => line.trim() === "q")) return quit();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
