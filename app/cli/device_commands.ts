/**
 * Operator commands that talk to a push server as a UWPX device does: `register` and
 * `test-push`.
 *
 * @module
 */

import { z } from "zod";
import { DeviceClient } from "../../adapters/device/device_client.ts";
import { shortId } from "../log_ids.ts";
import { errorText } from "../readiness.ts";
import {
  type CliOutput,
  Failure,
  type Flags,
  mask,
  noArguments,
  randomHex,
  readFile,
  UsageError,
  within,
} from "./cli_support.ts";

const ServerOptions = z.object({
  host: z.string().min(1).default("127.0.0.1"),
  port: z.coerce.number().int().min(1).max(65535).default(1997),
  protocol: z.enum(["1", "2"]).default("2").transform(Number).pipe(z.union([
    z.literal(1),
    z.literal(2),
  ])),
  timeout: z.coerce.number().positive().max(600).default(15),
});

/** A device-protocol answer, as far as the CLI reads it. */
const Answer = z.object({
  status: z.union([z.literal(0), z.literal(1)]),
  error: z.string().optional(),
  push_bare_jid: z.string().optional(),
  accounts: z.array(z.object({
    account_id: z.string(),
    node: z.string(),
    secret: z.string(),
    success: z.boolean(),
  })).optional(),
});
type Answer = z.infer<typeof Answer>;

/** `register`: set_channel_uri, then set_push_accounts; prints the answers. */
export async function register(flags: Flags, args: string[], output: CliOutput): Promise<void> {
  noArguments(args);
  const server = serverOptions(flags);
  const channelUri = flags["channel-uri"];
  if (!channelUri) throw new UsageError("register needs --channel-uri");
  const deviceId = flags["device-id"] ?? randomHex();
  const accountIds = flags.account ?? [randomHex()];
  const show = flags["show-secrets"] ?? false;
  // The device id is the device's only credential: shown in full only when asked for.
  output.out(`device_id: ${show ? deviceId : shortId(deviceId)}`);
  const client = await connect(server, flags, output);
  try {
    output.err("set_channel_uri…");
    const channel = await request(client, server, {
      version: server.protocol,
      action: "set_channel_uri",
      device_id: deviceId,
      channel_uri: channelUri,
    });
    output.out(`set_channel_uri: ${describe(channel)}`);
    if (channel.status !== 1) throw new Failure("the server refused the channel");
    output.err(`set_push_accounts (${accountIds.length} accounts)…`);
    const accounts = await request(client, server, {
      version: server.protocol,
      action: "set_push_accounts",
      device_id: deviceId,
      accounts: accountIds.map((account_id) => ({ account_id })),
    });
    output.out(`set_push_accounts: ${describe(accounts)}`);
    if (accounts.status !== 1) throw new Failure("the server refused the accounts");
    output.out(`push_bare_jid: ${accounts.push_bare_jid ?? "(none)"}`);
    for (const account of accounts.accounts ?? []) {
      output.out(
        `account ${account.account_id}: node ${account.node}` +
          ` secret ${show ? account.secret : mask(account.secret)}` +
          ` ${account.success ? "ready" : "NOT READY"}`,
      );
    }
    if ((accounts.accounts ?? []).some((a) => !a.success)) {
      throw new Failure("some accounts are not ready on the XMPP side");
    }
  } finally {
    client.close();
  }
}

/** `test-push`: request_test_push for a registered device. */
export async function testPush(flags: Flags, args: string[], output: CliOutput): Promise<void> {
  noArguments(args);
  const server = serverOptions(flags);
  const deviceId = flags["device-id"];
  if (!deviceId) throw new UsageError("test-push needs --device-id");
  const client = await connect(server, flags, output);
  try {
    output.err("request_test_push…");
    const answer = await request(client, server, {
      version: server.protocol,
      action: "request_test_push",
      device_id: deviceId,
    });
    output.out(`request_test_push: ${describe(answer)}`);
    if (answer.status !== 1) throw new Failure("no test push was sent");
  } finally {
    client.close();
  }
}

function serverOptions(flags: Flags): z.infer<typeof ServerOptions> {
  const parsed = ServerOptions.safeParse({
    host: flags.host,
    port: flags.port,
    protocol: flags.protocol,
    timeout: flags.timeout,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`--${issue.path.join(".")}: ${issue.message}`);
  }
  return parsed.data;
}

async function connect(
  server: z.infer<typeof ServerOptions>,
  flags: Flags,
  output: CliOutput,
): Promise<DeviceClient> {
  const caCerts = flags.ca ? [await readFile(flags.ca, "--ca")] : undefined;
  output.err(`connecting to ${server.host}:${server.port}${flags.insecure ? " (insecure)" : ""}…`);
  try {
    return await within(
      DeviceClient.connect({
        hostname: server.host,
        port: server.port,
        caCerts,
        insecure: flags.insecure ?? false,
      }),
      server.timeout,
      "connecting",
    );
  } catch (error) {
    throw new Failure(`cannot connect to ${server.host}:${server.port}: ${errorText(error)}`);
  }
}

async function request(
  client: DeviceClient,
  server: z.infer<typeof ServerOptions>,
  message: Record<string, unknown>,
): Promise<Answer> {
  const raw = await within(client.request(message), server.timeout, "waiting for the answer");
  const parsed = Answer.safeParse(raw);
  if (!parsed.success) throw new Failure("the server's answer is not a device-protocol answer");
  return parsed.data;
}

function describe(answer: Answer): string {
  return answer.status === 1 ? "ok" : `refused: ${answer.error ?? "(no reason given)"}`;
}
