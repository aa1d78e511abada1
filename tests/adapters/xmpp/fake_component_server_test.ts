import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { component, xml } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import {
  type FakeComponentServer,
  startFakeComponentServer,
} from "../../../adapters/xmpp/fake_component_server.ts";

const DOMAIN = "push.example";
const SECRET = "sekrit";

/** A real @xmpp/component for the fake, with the library's own reconnect off. */
// deno-lint-ignore no-explicit-any
function componentFor(server: FakeComponentServer, password = SECRET): any {
  const xmpp = component({ service: server.service, domain: DOMAIN, password });
  xmpp.reconnect.stop();
  xmpp.errors = [] as Error[];
  xmpp.on("error", (error: Error) => xmpp.errors.push(error));
  return xmpp;
}

/** Waits for `xmpp` to emit `status`. */
// deno-lint-ignore no-explicit-any
function nextStatus(xmpp: any, status: string): Promise<void> {
  return new Promise((resolve) => xmpp.once(status, () => resolve()));
}

/** Polls `check` until it holds (or fails after 2 s). */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited >= 2000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Reads from a raw socket until `text` has arrived; returns everything read. */
async function readUntil(conn: Deno.Conn, text: string): Promise<string> {
  const buffer = new Uint8Array(4096);
  const decoder = new TextDecoder();
  let all = "";
  while (!all.includes(text)) {
    const n = await conn.read(buffer);
    if (n === null) break;
    all += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
  return all;
}

Deno.test("a real component connects and authenticates", async () => {
  const server = await startFakeComponentServer({ domain: DOMAIN, secret: SECRET });
  const xmpp = componentFor(server);
  try {
    assert.match(server.service, /^xmpp:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(server.connected, false);
    await xmpp.start();
    await server.whenConnected(1000);
    assert.equal(server.connected, true);
    assert.equal(server.handshakes, 1);
    assert.equal(xmpp.jid.toString(), DOMAIN);
    assert.deepEqual(xmpp.errors, []);
  } finally {
    await xmpp.stop();
    await server.close();
  }
});

Deno.test("a wrong password is refused with not-authorized", async () => {
  const server = await startFakeComponentServer({ domain: DOMAIN, secret: SECRET });
  const xmpp = componentFor(server, "wrong");
  try {
    await assert.rejects(xmpp.start(), (error: { condition?: string }) => {
      assert.equal(error.condition, "not-authorized");
      return true;
    });
    assert.equal(server.connected, false);
    assert.equal(server.handshakes, 0);
    await assert.rejects(server.whenConnected(50), /no component authenticated/);
  } finally {
    await xmpp.stop();
    await server.close();
  }
});

Deno.test("sendIq round-trips through the component's IQ handlers", async () => {
  const server = await startFakeComponentServer({ domain: DOMAIN, secret: SECRET });
  const xmpp = componentFor(server);
  const seen: Element[] = [];
  xmpp.iqCallee.get("urn:example:ping", "ping", (ctx: { stanza: Element }) => {
    seen.push(ctx.stanza);
    return xml("pong", { xmlns: "urn:example:ping" });
  });
  try {
    await xmpp.start();
    await server.whenConnected();
    const iq = xml("iq", { type: "get" }, xml("ping", { xmlns: "urn:example:ping" }));
    const answer = await server.sendIq(iq);
    assert.equal(answer.attrs.type, "result");
    assert.equal(answer.attrs.to, "localhost");
    assert.equal(answer.attrs.from, DOMAIN);
    assert.ok(answer.getChild("pong", "urn:example:ping"));
    assert.equal(seen[0].attrs.from, "localhost");
    assert.equal(seen[0].attrs.to, DOMAIN);
    assert.equal(iq.attrs.id, undefined, "the caller's element is left alone");

    // Two at once get distinct ids and each its own answer; unknown IQs answer an error.
    const [a, b] = await Promise.all([server.sendIq(iq), server.sendIq(iq)]);
    assert.notEqual(a.attrs.id, b.attrs.id);
    const unknown = await server.sendIq(
      xml("iq", { type: "get", id: "mine", from: "example.org" }, xml("q", { xmlns: "urn:x" })),
    );
    assert.equal(unknown.attrs.type, "error");
    assert.equal(unknown.attrs.id, "mine");
    assert.equal(unknown.attrs.to, "example.org");

    // Stanzas that are not answers are kept.
    await xmpp.send(xml("message", { to: "user@localhost" }, xml("body", {}, "hi")));
    await eventually(() => server.received.length === 1, "the message");
    assert.equal(server.received[0].name, "message");
    assert.equal(server.received[0].getChildText("body"), "hi");
    assert.equal(server.received[0].attrs.from, DOMAIN);
  } finally {
    await xmpp.stop();
    await server.close();
  }
});

Deno.test("sendIq rejects clearly without a component or without an answer", async () => {
  const server = await startFakeComponentServer({ domain: DOMAIN, secret: SECRET });
  const xmpp = componentFor(server);
  try {
    const iq = xml("iq", { type: "get" }, xml("ping", { xmlns: "urn:xmpp:ping" }));
    await assert.rejects(server.sendIq(iq), /no component connected/);
    await xmpp.start();
    await server.whenConnected();
    // The component never answers a result it receives.
    const result = xml("iq", { type: "result", id: "r1" });
    await assert.rejects(server.sendIq(result, 100), /no answer to IQ 'r1' within 100 ms/);
  } finally {
    await xmpp.stop();
    await server.close();
  }
});

Deno.test("dropConnection is seen by the component, which can reconnect", async () => {
  const server = await startFakeComponentServer({ domain: DOMAIN, secret: SECRET });
  const xmpp = componentFor(server);
  try {
    await xmpp.start();
    await server.whenConnected();
    const disconnected = nextStatus(xmpp, "disconnect");
    server.dropConnection();
    await disconnected;
    await eventually(() => !server.connected, "the server to notice");

    await xmpp.stop(); // Back to "offline", as the component link does before a new attempt.
    await xmpp.start();
    await server.whenConnected();
    assert.equal(server.handshakes, 2);
  } finally {
    await xmpp.stop();
    await server.close();
  }
});

Deno.test("split and coalesced reads, and a wrong domain, on a raw socket", async () => {
  const server = await startFakeComponentServer({ domain: DOMAIN, secret: SECRET });
  const encoder = new TextEncoder();
  try {
    // Wrong domain: a header back, then host-unknown and the end of the stream.
    const wrong = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await wrong.write(encoder.encode(
      `<stream:stream xmlns='jabber:component:accept' ` +
        `xmlns:stream='http://etherx.jabber.org/streams' to='other.example'>`,
    ));
    const refusal = await readUntil(wrong, "</stream:stream>");
    assert.match(refusal, /<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/);
    wrong.close();

    // The right domain, sent a few bytes at a time.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' ` +
      `xmlns:stream='http://etherx.jabber.org/streams' to='${DOMAIN}'>`;
    for (let i = 0; i < header.length; i += 7) {
      await conn.write(encoder.encode(header.slice(i, i + 7)));
    }
    const opening = await readUntil(conn, ">");
    const id = opening.match(/ id='([^']+)'/)?.[1];
    assert.ok(id, opening);
    const hash = createHash("sha1").update(id + SECRET).digest("hex");
    const handshake = `<handshake>${hash}</handshake>`;
    await conn.write(encoder.encode(handshake.slice(0, 15)));
    await conn.write(encoder.encode(handshake.slice(15)));
    assert.match(await readUntil(conn, "<handshake/>"), /<handshake\/>/);
    await server.whenConnected();

    // Two stanzas in one write, one of them with a multi-byte character.
    await conn.write(encoder.encode(
      `<message from='${DOMAIN}' to='a@localhost'><body>é</body></message>` +
        `<presence from='${DOMAIN}' to='a@localhost'/>`,
    ));
    await eventually(() => server.received.length === 2, "both stanzas");
    assert.equal(server.received[0].getChildText("body"), "é");
    assert.equal(server.received[1].name, "presence");

    // Closing the stream is answered in kind.
    await conn.write(encoder.encode("</stream:stream>"));
    assert.match(await readUntil(conn, "</stream:stream>"), /<\/stream:stream>/);
    conn.close();
    await eventually(() => !server.connected, "the session to end");
  } finally {
    await server.close();
  }
});

Deno.test("close settles a pending whenConnected and leaves nothing running", async () => {
  const server = await startFakeComponentServer({ domain: DOMAIN, secret: SECRET });
  const waiting = server.whenConnected(60_000);
  await server.close();
  await assert.rejects(waiting, /closed/);
  await server.close(); // Twice is fine.
});
