/**
 * The configuration file: the original server's keys (`db.url`, `tcp.port`, `tcp.tls.*`,
 * `wns.clientSecret`, `wns.packetId`, `xmpp.bareJid`, `xmpp.password`, `xmpp.host`,
 * `xmpp.port`) plus this server's optional ones. Validated with zod; every invalid field is
 * reported with its path. `wns` and `tcp` are the UWPX client's (its WNS app, its device
 * port): both or neither; without them the server serves only the apps of `apps`.
 *
 * @module
 */

import { z } from "zod";
import {
  largestAccountsAnswerBytes,
  MAX_ANSWER_BYTES,
} from "../adapters/device/device_protocol.ts";
import { DEFAULT_GONE_CHANNEL_GRACE_DAYS, DEFAULT_LIFETIME_DAYS } from "../domain/registration.ts";
import { AppsSchema } from "./config/apps.ts";

/** Only real WNS channels: `https://<host>.notify.windows.com/?token=...` (or `/w/?token=`). */
export const DEFAULT_CHANNEL_URI_PATTERN =
  "^https://[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.notify\\.windows\\.com/(w/)?\\?token=[A-Za-z0-9%._~+/=-]+$";

import { DEFAULT_WNS_TOKEN_URL, entraTokenUrl } from "../adapters/push/wns/wns_token_source.ts";

/** The classic flow's token endpoint, when `wns.tokenUrl` does not name another. */
export { DEFAULT_WNS_TOKEN_URL as DEFAULT_TOKEN_URL };

const Port = z.number().int().min(0).max(65535);

const Regex = z.string().refine((source) => {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}, "must be a valid regular expression");

const DbUrl = z.string().refine(
  (url) =>
    url.startsWith("sqlite:") || url === "memory:" || /^(rediss?|redis-sentinel):\/\//.test(url),
  "must be sqlite:PATH, memory: or redis://... (also rediss://..., redis-sentinel://...)",
);

/** A token-bucket rate: bursts of `burst` events, `perSecond` sustained; defaults given. */
const Rate = (burst: number, perSecond: number) =>
  z.object({
    burst: z.number().int().min(1).default(burst),
    perSecond: z.number().positive().default(perSecond),
  }).prefault({});

/**
 * The WNS OAuth flow, one of two: the classic one (the package SID as client id) or
 * Microsoft Entra's client-credentials flow; `tokenUrl` is either's endpoint, defaulted.
 */
export type WnsTokenFlow =
  | { readonly flow: "classic"; readonly packetId: string; readonly tokenUrl: string }
  | {
    readonly flow: "entra";
    readonly tenantId: string;
    readonly appId: string;
    readonly tokenUrl: string;
  };

/** Entra's flow when `entra` is set (then `packetId` is ignored), else the classic one. */
function wnsTokenFlow(
  packetId: string | undefined,
  entra: { tenantId: string; appId: string } | undefined,
  tokenUrl: string | undefined,
): WnsTokenFlow {
  if (entra) {
    return { flow: "entra", ...entra, tokenUrl: tokenUrl ?? entraTokenUrl(entra.tenantId) };
  }
  // The schema's refinement has made sure one of the two is there.
  return { flow: "classic", packetId: packetId!, tokenUrl: tokenUrl ?? DEFAULT_WNS_TOKEN_URL };
}

/** What both XMPP modes have: validated apart from the mode, so a bad mode hides nothing. */
const XmppShared = z.object({
  bareJid: z.string().min(1),
  password: z.string().min(1),
  host: z.string().min(1).optional(),
  port: Port.optional(),
});

/** The mode and what only it has: client mode's TLS (absent: required, built-in roots). */
const XmppMode = z.discriminatedUnion("mode", [
  z.object({
    mode: z.literal("client").default("client"),
    tls: z.object({
      required: z.boolean().default(true),
      caFile: z.string().min(1).optional(),
      /** TLS from the first byte (XEP-0368) rather than STARTTLS. */
      direct: z.boolean().default(false),
    }).prefault({}),
  }),
  // Component mode ignores `tls`.
  z.object({ mode: z.literal("component") }),
], { error: "must be client or component" });

/**
 * Each mode's endpoint defaults. Component mode: `127.0.0.1:5347`. Client mode: the JID's
 * domain, port 5222 (STARTTLS) or 5223 (direct TLS).
 */
function withModeDefaults(xmpp: z.infer<typeof XmppShared> & z.infer<typeof XmppMode>) {
  if (xmpp.mode === "component") {
    return { ...xmpp, host: xmpp.host ?? "127.0.0.1", port: xmpp.port ?? 5347 };
  }
  return {
    ...xmpp,
    host: xmpp.host ?? xmpp.bareJid.slice(xmpp.bareJid.indexOf("@") + 1),
    port: xmpp.port ?? (xmpp.tls.direct ? 5223 : 5222),
  };
}

/** The configuration schema. */
export const ConfigSchema = z.object({
  db: z.object({ url: DbUrl.default("sqlite:push.db") }).prefault({}),
  tcp: z.object({
    host: z.string().min(1).default("0.0.0.0"),
    port: Port.default(1997),
    tls: z.object({
      serverCertPath: z.string().min(1),
      serverKeyPath: z.string().min(1),
      /** How often the files are checked for a renewal; 0: only on SIGHUP. */
      reloadCheckSeconds: z.number().nonnegative().default(5),
    }),
    maxConnections: z.number().int().positive().default(1024),
    /** Each answer must fit one TLS record (see the refinement below): 64 by default. */
    maxAccountsPerDevice: z.number().int().positive().max(1000).default(64),
    idleTimeoutSeconds: z.number().positive().default(60),
  }).optional(),
  wns: z.object({
    clientSecret: z.string().min(1),
    /** The classic flow's client id; not used with `entra`. */
    packetId: z.string().min(1).optional(),
    /** The Microsoft Entra client-credentials flow, instead of the classic one. */
    entra: z.object({ tenantId: z.string().min(1), appId: z.string().min(1) }).optional(),
    tokenUrl: z.url({ protocol: /^https?$/ }).optional(),
    channelUriPattern: Regex.default(DEFAULT_CHANNEL_URI_PATTERN),
    requestTimeoutSeconds: z.number().positive().default(10),
    /** WNS requests in flight at once, and pushes waiting behind them. */
    maxInFlight: z.number().int().positive().default(64),
    maxQueued: z.number().int().nonnegative().default(10_000),
    /** Requests to one WNS host, and to one channel, in flight at once. */
    maxInFlightPerHost: z.number().int().positive().default(32),
    maxInFlightPerChannel: z.number().int().positive().default(2),
    /** A push waiting this long for a request slot is given up: its publish is answered wait. */
    maxQueueWaitSeconds: z.number().positive().default(5),
    /** Attempts per push on WNS 5xx, network errors and timeouts (the first included). */
    maxAttempts: z.number().int().min(1).max(10).default(4),
    /** Pushes for one account within this window after a push are merged (0: off). */
    coalesceMs: z.number().int().nonnegative().max(10_000).default(250),
  }).refine((wns) => wns?.packetId !== undefined || wns?.entra !== undefined, {
    message: "set packetId (classic flow) or entra (Microsoft Entra flow)",
    path: ["packetId"],
    // Also when other fields are wrong, so every problem is reported at once.
    when: (payload) => typeof payload.value === "object" && payload.value !== null,
  }).transform(({ packetId, entra, tokenUrl, ...wns }) => ({
    ...wns,
    token: wnsTokenFlow(packetId, entra, tokenUrl),
  })).optional(),
  // An object first: a missing section is one problem, not one per half.
  xmpp: z.looseObject({}).pipe(z.intersection(XmppShared, XmppMode)).transform(withModeDefaults),
  log: z.object({
    level: z.enum(["debug", "info", "warn", "error"]).default("info"),
    format: z.enum(["logfmt", "json"]).default("logfmt"),
  }).prefault({}),
  /** Metrics and health probes over HTTP; absent: no HTTP port. */
  http: z.object({
    host: z.string().min(1).default("127.0.0.1"),
    port: Port,
  }).optional(),
  /**
   * What one client or server may cost (the README's Limits section). The device port's
   * connection cap, account cap and idle timeout are `tcp.*`.
   */
  limits: z.object({
    device: z.object({
      /** Concurrent connections from one address (IPv6: one /64); 0: no such limit. */
      connectionsPerAddress: z.number().int().nonnegative().default(32),
      /** Concurrent connections from one IPv4 /24 or IPv6 /56; 0: no such limit. */
      connectionsPerPrefix: z.number().int().nonnegative().default(256),
      /** A connection that has not completed its TLS handshake by then is closed. */
      handshakeTimeoutSeconds: z.number().positive().default(10),
      /** A request frame must be complete this long after its first byte. */
      frameTimeoutSeconds: z.number().positive().default(10),
      /**
       * When all `tcp.maxConnections` are taken, a connection without a request for this
       * long is closed to admit a new one; 0: the new one is refused instead.
       */
      evictIdleAfterSeconds: z.number().nonnegative().default(5),
      /** The largest request frame. */
      maxFrameBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
      requestsPerConnection: Rate(10, 2),
      requestsPerDevice: Rate(10, 0.2),
      /** Requests refused in a row (over a rate) after which the connection is closed. */
      closeAfterRefusals: z.number().int().positive().default(10),
    }).prefault({}),
    xmpp: z.object({
      publishesPerNode: Rate(30, 1),
      publishesPerServer: Rate(500, 100),
      /** The largest stanza accepted from the XMPP server; a larger one ends the stream. */
      maxStanzaBytes: z.number().int().min(4096).default(1024 * 1024),
      /** How long a node storage did not know is answered unknown without a lookup; 0: off. */
      unknownNodeCacheSeconds: z.number().nonnegative().max(60).default(5),
      unknownNodeCacheSize: z.number().int().positive().default(10_000),
    }).prefault({}),
    /**
     * New registrations: rates per source network (IPv4 /24, IPv6 /56) and caps on live
     * registrations. A known device registering again, or keeping its accounts, is not new.
     */
    registrations: z.object({
      newDevicesPerPrefix: Rate(64, 0.1),
      newAccountsPerPrefix: Rate(256, 0.5),
      /** New registrations by command per account (bare JID): 16 at once, then 10 an hour. */
      newRegistrationsPerJid: Rate(16, 10 / 3600),
      /** Live devices and accounts at most; 0: no cap. */
      maxDevices: z.number().int().nonnegative().default(1_000_000),
      maxAccounts: z.number().int().nonnegative().default(10_000_000),
      /** How often live registrations are counted in storage for the caps; 0: only at start. */
      countRefreshSeconds: z.number().nonnegative().default(300),
    }).prefault({}),
    /** Device ids, nodes and servers whose rates are tracked at once, per limit. */
    trackedKeys: z.number().int().positive().default(100_000),
  }).prefault({}),
  /**
   * How long registrations live (the README's "Registration lifetime"): `lifetimeDays`
   * after their last use (a registration request or a delivered push), and
   * `goneChannelGraceDays` after WNS said the device's channel is gone, unless the device
   * sends a new one meanwhile.
   */
  registration: z.object({
    lifetimeDays: z.number().positive().max(3650).default(DEFAULT_LIFETIME_DAYS),
    goneChannelGraceDays: z.number().positive().max(3650).default(
      DEFAULT_GONE_CHANNEL_GRACE_DAYS,
    ),
  }).prefault({}),
  /**
   * Apps besides the WNS one (`wns` section), by name: FCM apps with their service-account
   * files (`config/apps.ts`). Absent: none.
   */
  apps: AppsSchema,
  /** How long a shutdown may take to answer what is in progress before it cuts it off. */
  shutdownTimeoutSeconds: z.number().nonnegative().default(10),
}).superRefine(
  uwpxBothOrNeither,
  // Also when other fields are wrong, so every problem is reported at once.
  { when: (payload) => typeof payload.value === "object" && payload.value !== null },
).refine(
  // The real client reads an answer whole only if it arrives in one piece: the largest
  // `set_push_accounts` answer must fit one TLS record.
  (config) =>
    config.tcp === undefined ||
    largestAccountsAnswerBytes(config.tcp.maxAccountsPerDevice, config.xmpp.bareJid) <=
      MAX_ANSWER_BYTES,
  {
    message: `too many accounts for one answer of at most ${MAX_ANSWER_BYTES} bytes ` +
      "(one TLS record, as the UWPX client needs): lower it",
    path: ["tcp", "maxAccountsPerDevice"],
  },
);

/** A validated configuration, defaults applied. */
export type Config = z.infer<typeof ConfigSchema>;

/** A configuration with the UWPX client's sections: its WNS app (`wns`), device port (`tcp`). */
export type UwpxConfig = Config & {
  readonly tcp: NonNullable<Config["tcp"]>;
  readonly wns: NonNullable<Config["wns"]>;
};

/** Whether `config` serves the UWPX client (the schema allows `wns` and `tcp` only together). */
export function hasUwpx(config: Config): config is UwpxConfig {
  return config.tcp !== undefined && config.wns !== undefined;
}

/**
 * The UWPX client needs both its sections (WNS credentials to push, the device port to
 * register); and a server with neither and no app in `apps` has nothing to push to. Reads the
 * sections loosely: it also runs when they have problems of their own.
 */
function uwpxBothOrNeither(config: Record<string, unknown>, context: z.RefinementCtx): void {
  const { tcp, wns, apps } = config as { tcp?: unknown; wns?: unknown; apps?: unknown };
  const problem = (path: "tcp" | "wns", message: string) =>
    context.addIssue({ code: "custom", path: [path], message });
  if (tcp !== undefined && wns === undefined) {
    problem(
      "wns",
      "the UWPX client needs wns (its WNS credentials) as well as tcp: add wns, " +
        "or remove tcp to serve only the apps in apps",
    );
  } else if (wns !== undefined && tcp === undefined) {
    problem(
      "tcp",
      "the UWPX client needs tcp (its device port and TLS certificate) as well " +
        "as wns: add tcp, or remove wns to serve only the apps in apps",
    );
  } else if (tcp === undefined && wns === undefined) {
    const hasApps = typeof apps === "object" && apps !== null && Object.keys(apps).length > 0;
    if (!hasApps) {
      const message = "nothing to push to: configure wns and tcp (the UWPX client), " +
        "or at least one app in apps";
      problem("tcp", message);
      problem("wns", message);
    }
  }
}

/** The file written when none exists: the original server's template, with our defaults. */
export const CONFIG_TEMPLATE = {
  db: { url: "sqlite:push.db" },
  tcp: {
    port: 1997,
    tls: {
      serverCertPath: "Path to your 'domain.cert' file",
      serverKeyPath: "Path to your 'domain.key' file",
    },
  },
  wns: {
    clientSecret: "The secret obtained from the Devcenter",
    packetId: "The UWPX package ID starting with: 'ms-app://...'",
  },
  xmpp: {
    mode: "component",
    bareJid: "The push server's JID: the component domain (e.g. 'push.example.org')",
    password: "The component secret shared with your XMPP server",
    host: "Your XMPP server's host name",
    port: 5347,
  },
};

/** Reading a configuration file: the config, or what is wrong, one line per problem. */
export type ConfigResult =
  | { readonly ok: true; readonly config: Config }
  | { readonly ok: false; readonly created: boolean; readonly problems: readonly string[] };

/** Validates parsed JSON. */
export function parseConfig(json: unknown): ConfigResult {
  const result = ConfigSchema.safeParse(json);
  if (result.success) return { ok: true, config: result.data };
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join(".") : "(file)";
    return `${path}: ${issue.message}`;
  });
  return { ok: false, created: false, problems };
}

/** Reads and validates a file; creates it from the template when it does not exist. */
export async function loadConfig(path: string): Promise<ConfigResult> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      return { ok: false, created: false, problems: [`${path}: ${(error as Error).message}`] };
    }
    try {
      await Deno.writeTextFile(path, JSON.stringify(CONFIG_TEMPLATE, null, 4) + "\n");
    } catch (writeError) {
      const reason = (writeError as Error).message;
      return { ok: false, created: false, problems: [`${path}: could not create it: ${reason}`] };
    }
    return {
      ok: false,
      created: true,
      problems: [`${path} did not exist: created it from the template; fill it in and restart`],
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, created: false, problems: [`${path}: invalid JSON: ${error}`] };
  }
  return parseConfig(json);
}
