/**
 * The configuration every test and benchmark server starts from: loopback only, a free
 * device port, the test certificate, SQLite in the test's directory and the fake WNS (whose
 * channels the pattern admits). Harnesses add their XMPP section and what they change.
 *
 * @module
 */

/** The fake WNS, as far as the configuration names it. */
export interface FakeWnsEndpoint {
  /** Base URL of the fake's channels (`<url>/channel/...`). */
  readonly url: string;
  readonly tokenUrl: string;
  readonly packetId: string;
  readonly clientSecret: string;
}

/** What differs between harnesses. */
export interface TestConfigOptions {
  /** The test's temporary directory: SQLite lives there unless `dbUrl` says otherwise. */
  readonly dir: string;
  readonly dbUrl?: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly wns: FakeWnsEndpoint;
  /** Merged into `wns` (e.g. `coalesceMs: 0`, another `requestTimeoutSeconds`). */
  readonly wnsExtra?: Record<string, unknown>;
  /** Merged into `tcp` (e.g. `maxConnections`). */
  readonly tcpExtra?: Record<string, unknown>;
  /** The whole `xmpp` section: component or client mode. */
  readonly xmpp: Record<string, unknown>;
  /** The `apps` section, if any. */
  readonly apps?: Record<string, unknown>;
}

/** The configuration JSON, sections as objects so harnesses can change them before parsing. */
export function testConfigJson(
  options: TestConfigOptions,
): Record<string, Record<string, unknown>> {
  const { wns } = options;
  return {
    db: { url: options.dbUrl ?? `sqlite:${options.dir}/push.db` },
    tcp: {
      host: "127.0.0.1",
      port: 0,
      tls: { serverCertPath: options.certPath, serverKeyPath: options.keyPath },
      ...options.tcpExtra,
    },
    wns: {
      clientSecret: wns.clientSecret,
      packetId: wns.packetId,
      tokenUrl: wns.tokenUrl,
      channelUriPattern: `^${wns.url.replaceAll(".", "\\.")}/channel/.*`,
      requestTimeoutSeconds: 5,
      ...options.wnsExtra,
    },
    xmpp: options.xmpp,
    ...(options.apps ? { apps: options.apps } : {}),
  };
}
