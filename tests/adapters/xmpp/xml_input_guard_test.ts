/**
 * Regression tests: XML the xmpp.js parser cannot take used to throw out of the socket's
 * data listener and kill the process (found by tests/fuzz/publish_fuzz_test.ts). The links
 * must instead end the stream with `bad-format` and reconnect.
 */

import assert from "node:assert/strict";
import { ClientLink } from "../../../adapters/xmpp/client_link.ts";
import { ComponentLink } from "../../../adapters/xmpp/component_link.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

const DOMAIN = "push.localhost";
const STREAM_HEADER = (xmlns: string) =>
  `<?xml version='1.0'?><stream:stream xmlns='${xmlns}' ` +
  `xmlns:stream='http://etherx.jabber.org/streams' from='${DOMAIN}' id='s1' version='1.0'>`;

/** A TCP server whose connections the test drives by hand. */
class RawServer {
  readonly listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly conns: Deno.Conn[] = [];
  readonly #encoder = new TextEncoder();
  readonly #decoder = new TextDecoder();
  readonly #buffer = new Uint8Array(16 * 1024);

  get service(): string {
    return `xmpp://127.0.0.1:${this.listener.addr.port}`;
  }

  async accept(): Promise<Deno.Conn> {
    const conn = await this.listener.accept();
    this.conns.push(conn);
    return conn;
  }

  /** Reads until the text read so far matches `pattern`; returns that text. */
  async readUntil(conn: Deno.Conn, pattern: RegExp): Promise<string> {
    let text = "";
    while (!pattern.test(text)) {
      const n = await conn.read(this.#buffer);
      if (n === null) break;
      text += this.#decoder.decode(this.#buffer.subarray(0, n));
    }
    return text;
  }

  async write(conn: Deno.Conn, text: string): Promise<void> {
    const bytes = this.#encoder.encode(text);
    for (let sent = 0; sent < bytes.length;) sent += await conn.write(bytes.subarray(sent));
  }

  /** Accepts a component and completes the XEP-0114 handshake (any digest is accepted). */
  async acceptComponent(): Promise<Deno.Conn> {
    const conn = await this.accept();
    await this.readUntil(conn, /<stream:stream[^>]*>/);
    await this.write(conn, STREAM_HEADER("jabber:component:accept"));
    await this.readUntil(conn, /<\/handshake>/);
    await this.write(conn, "<handshake/>");
    return conn;
  }

  close(): void {
    for (const conn of this.conns) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    this.listener.close();
  }
}

async function componentScenario(badInput: string[]) {
  const server = new RawServer();
  const logger = new RecordingLogger();
  const link = new ComponentLink({
    service: server.service,
    domain: DOMAIN,
    password: "secret",
    logger,
    onPublish: () => Promise.resolve({ kind: "pushed" }),
    backoff: { initialMs: 20, maxMs: 50 },
  });
  try {
    link.start();
    const first = await server.acceptComponent();
    await link.whenOnline();
    for (const text of badInput) {
      await server.write(first, text);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The link ends the stream as malformed...
    const ending = await server.readUntil(first, /<\/stream:stream>/);
    assert.match(ending, /<bad-format xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);
    assert.ok(logger.at("warn").some((l) => l.message === "xmpp link error"), logger.text());
    first.close();
    // ...then reconnects, and answers IQs again.
    const second = await server.acceptComponent();
    await server.write(
      second,
      `<iq type='get' id='d1' from='localhost' to='${DOMAIN}'>` +
        `<query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
    );
    const answer = await server.readUntil(second, /<\/iq>/);
    assert.match(answer, /id="d1"/);
    assert.match(answer, /type="result"/);
  } finally {
    server.close();
    await link.stop(100);
  }
}

Deno.test("component link: an unknown entity from the server ends the stream, not the process", async () => {
  await componentScenario([`<iq type='get' id='x1' to='${DOMAIN}'><x>&lol9;</x></iq>`]);
});

Deno.test("component link: an illegal character reference ends the stream, not the process", async () => {
  await componentScenario([`<message to='${DOMAIN}'><body>&#0;</body></message>`]);
});

Deno.test("component link: data after a parse error is dropped, not a crash", async () => {
  // The mismatched close tag makes the library detach its parser; the next chunk used to
  // reach `null.write`.
  await componentScenario([`<iq type='get' id='x2'></wrong>`, `<iq type='get' id='x3'/>`]);
});

Deno.test("client link: an unknown entity in the server's stream ends the stream, not the process", async () => {
  const server = new RawServer();
  const logger = new RecordingLogger();
  const link = new ClientLink({
    service: server.service,
    jid: "push@localhost",
    password: "secret",
    tls: { required: true },
    logger,
    onPublish: () => Promise.resolve({ kind: "pushed" }),
    backoff: { initialMs: 20, maxMs: 50 },
    keepaliveMs: 0,
  });
  try {
    link.start();
    for (let attempt = 0; attempt < 2; attempt++) {
      const conn = await server.accept();
      await server.readUntil(conn, /<stream:stream[^>]*>/);
      await server.write(
        conn,
        `${STREAM_HEADER("jabber:client")}<stream:features>&lol;</stream:features>`,
      );
      const ending = await server.readUntil(conn, /<\/stream:stream>/);
      assert.match(ending, /<bad-format xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);
      conn.close();
    }
    // It came back for a second try: the process and the link survived.
    assert.ok(logger.text().includes("Illegal XML entity"), logger.text());
  } finally {
    server.close();
    await link.stop();
  }
});

Deno.test("component link: a stanza over the size limit ends the stream with policy-violation", async () => {
  const server = new RawServer();
  const logger = new RecordingLogger();
  const limits: string[] = [];
  const link = new ComponentLink({
    service: server.service,
    domain: DOMAIN,
    password: "secret",
    logger,
    onPublish: () => Promise.resolve({ kind: "pushed" }),
    backoff: { initialMs: 20, maxMs: 50 },
    maxStanzaBytes: 4096,
    metrics: {
      publish() {},
      xmppLinkState() {},
      xmppReconnected() {},
      xmppConnectFailed() {},
      limitHit: (limit) => limits.push(limit),
    },
  });
  const disco = (id: string, padding = 0) =>
    `<iq type='get' id='${id}' from='localhost' to='${DOMAIN}'>` +
    `<query xmlns='http://jabber.org/protocol/disco#info'/>${" ".repeat(padding)}</iq>`;
  try {
    link.start();
    const first = await server.acceptComponent();
    await link.whenOnline();
    // Under the limit, in one read or in pieces: answered. Many stanzas adding up to more:
    // answered too.
    await server.write(first, disco("whole", 3900));
    assert.match(await server.readUntil(first, /id="whole"/), /type="result"/);
    const big = disco("under", 3900);
    for (let at = 0; at < big.length; at += 700) await server.write(first, big.slice(at, at + 700));
    assert.match(await server.readUntil(first, /id="under"/), /type="result"/);
    for (let i = 0; i < 20; i++) await server.write(first, disco(`small${i}`, 300));
    await server.readUntil(first, /id="small19"[^>]*>[\s\S]*<\/iq>/);
    assert.deepEqual(limits, []);
    // Over it, even in one read: the stream ends, and the stanza is never handled.
    const huge = `<iq type='get' id='huge' to='${DOMAIN}'><query xmlns='x'>${"a".repeat(8000)}`;
    await server.write(first, huge + "</query></iq>").catch(() => {});
    const ending = await server.readUntil(first, /<\/stream:stream>/);
    assert.match(ending, /<policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);
    assert.doesNotMatch(ending, /id="huge"/);
    assert.deepEqual(limits, ["stanza_size"]);
    first.close();
    // The link comes back.
    const second = await server.acceptComponent();
    await server.write(second, disco("again"));
    assert.match(await server.readUntil(second, /<\/iq>/), /id="again"/);
  } finally {
    server.close();
    await link.stop(100);
  }
});

/** A component link on `server`, reconnecting fast; `extra` overrides its options. */
function fastLink(
  server: RawServer,
  logger: RecordingLogger,
  extra: Partial<ConstructorParameters<typeof ComponentLink>[0]> = {},
): ComponentLink {
  return new ComponentLink({
    service: server.service,
    domain: DOMAIN,
    password: "secret",
    logger,
    onPublish: () => Promise.resolve({ kind: "pushed" }),
    backoff: { initialMs: 20, maxMs: 50 },
    ...extra,
  });
}

const DISCO = (id: string) =>
  `<iq type='get' id='${id}' from='localhost' to='${DOMAIN}'>` +
  `<query xmlns='http://jabber.org/protocol/disco#info'/></iq>`;

/** Resolves once `condition` holds, polling; rejects after `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("component link: <!DOCTYPE ends the stream with restricted-xml instead of hiding what follows", async () => {
  for (const markup of ["<!DOCTYPE x [<!ENTITY a 'b'>]>", "<!-- swallowed -->"]) {
    const server = new RawServer();
    const logger = new RecordingLogger();
    const link = fastLink(server, logger);
    try {
      link.start();
      const first = await server.acceptComponent();
      await link.whenOnline();
      // Split so that the marker straddles two reads.
      await server.write(first, markup.slice(0, 1));
      await new Promise((resolve) => setTimeout(resolve, 20));
      await server.write(first, markup.slice(1) + DISCO("hidden"));
      const ending = await server.readUntil(first, /<\/stream:stream>/);
      assert.match(ending, /<restricted-xml xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);
      assert.doesNotMatch(ending, /id="hidden"/);
      first.close();
      // It reconnects and works; CDATA is fine.
      const second = await server.acceptComponent();
      await server.write(second, `<message to='${DOMAIN}'><body><![CDATA[<!x>]]></body></message>`);
      await server.write(second, DISCO("again"));
      assert.match(await server.readUntil(second, /<\/iq>/), /id="again"/);
    } finally {
      server.close();
      await link.stop(100);
    }
  }
});

Deno.test("component link: a server that closes its stream but keeps TCP open is left, and reconnected", async () => {
  const server = new RawServer();
  const logger = new RecordingLogger();
  const link = fastLink(server, logger);
  try {
    link.start();
    const first = await server.acceptComponent();
    await link.whenOnline();
    await server.write(first, "</stream:stream>");
    // Never closing `first`: the link must not wait for it.
    const second = await server.acceptComponent();
    await link.whenOnline();
    await server.write(second, DISCO("after"));
    assert.match(await server.readUntil(second, /<\/iq>/), /id="after"/);
    assert.ok(logger.text().includes("closed the stream"), logger.text());
  } finally {
    server.close();
    await link.stop(100);
  }
});

Deno.test("component link: a server that stops answering makes the link down, then reconnects", async () => {
  const server = new RawServer();
  const logger = new RecordingLogger();
  const link = fastLink(server, logger, { pingIntervalMs: 100, pingTimeoutMs: 300 });
  try {
    link.start();
    const first = await server.acceptComponent();
    await link.whenOnline();
    // The ping arrives, to our own domain; nothing answers it.
    assert.match(await server.readUntil(first, /urn:xmpp:ping/), /to="push\.localhost"/);
    await until(() => !link.online, 5000, "the link to count as down");
    const second = await server.acceptComponent();
    await link.whenOnline();
    assert.ok(link.online);
    // A server that answers (any input) keeps it up.
    const ping = await server.readUntil(second, /urn:xmpp:ping[\s\S]*?<\/iq>/);
    const id = /id="([^"]+)"/.exec(ping)![1];
    await server.write(second, `<iq type='result' id='${id}' from='${DOMAIN}' to='${DOMAIN}'/>`);
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.ok(link.online);
    assert.ok(logger.text().includes("does not answer pings"), logger.text());
  } finally {
    server.close();
    await link.stop(100);
  }
});
