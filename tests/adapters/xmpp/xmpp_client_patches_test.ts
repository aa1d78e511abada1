/**
 * The adjustments to @xmpp/client, on an entity fed stanzas directly (no server): exactly
 * the sequences that made Prosody's mod_smacks close the session, replayed.
 */

import assert from "node:assert/strict";
import { client, xml } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import {
  credentialsFor,
  fixStreamManagement,
  useTlsOptions,
  type XmppClient,
} from "../../../adapters/xmpp/xmpp_client_patches.ts";

const NS_SM = "urn:xmpp:sm:3";

/** An entity that never connects: what it sends is recorded, what it receives is fed in. */
function entity(fixed: boolean) {
  const xmpp: XmppClient = client({
    service: "xmpp://127.0.0.1:1",
    domain: "localhost",
    username: "u",
    password: "p",
  });
  xmpp.reconnect.stop();
  if (fixed) fixStreamManagement(xmpp);
  const sent: Element[] = [];
  xmpp.send = (element: Element) => {
    sent.push(element);
    xmpp.emit("send", element);
    return Promise.resolve();
  };
  const receive = (...elements: Element[]) => {
    for (const element of elements) xmpp._onElement(element);
  };
  /** The `h` of every `<a/>` sent so far. */
  const acks = () => sent.filter((e) => e.is("a", NS_SM)).map((e) => Number(e.attrs.h));
  return { xmpp, sent, receive, acks };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
const message = () => xml("message", { from: "localhost", type: "headline" });
const r = () => xml("r", { xmlns: NS_SM });

/** Negotiates stream management up to the `<enable/>` the entity sends. */
async function enableSent(e: ReturnType<typeof entity>) {
  e.receive(
    xml(
      "stream:features",
      { "xmlns:stream": "http://etherx.jabber.org/streams" },
      xml("sm", {
        xmlns: NS_SM,
      }),
    ),
  );
  for (let i = 0; i < 10 && !e.sent.some((s) => s.is("enable", NS_SM)); i++) await tick();
  assert.ok(e.sent.some((s) => s.is("enable", NS_SM)), "no <enable/> sent");
}

/**
 * The server's stanzas that follow `<enabled/>` in the same read, as happens when work
 * starts as soon as the library says "online": one stanza from before `<enabled/>`, two
 * after, an `<r/>`; later one more and another `<r/>`.
 */
async function raceAcks(fixed: boolean): Promise<number[]> {
  const e = entity(fixed);
  await enableSent(e);
  e.receive(
    message(),
    xml("enabled", { xmlns: NS_SM, id: "s1", resume: "true" }),
    message(),
    message(),
    r(),
  );
  await tick();
  e.receive(message(), r());
  await tick();
  return e.acks();
}

Deno.test("the library's counter: acks a stanza from before <enabled/>, then goes back", async () => {
  // Prosody: "Client acknowledged more stanzas than sent by server" (3 > 2), and then
  // "Client acknowledged less stanzas than already acknowledged" (1 < 3).
  assert.deepEqual(await raceAcks(false), [3, 1]);
});

Deno.test("fixStreamManagement: counts from <enabled/>'s place in the stream", async () => {
  assert.deepEqual(await raceAcks(true), [2, 3]);
});

/** Sends an IQ, feeds its result, then an `<r/>`; returns the acks. */
async function iqResultAcks(fixed: boolean): Promise<number[]> {
  const e = entity(fixed);
  await enableSent(e);
  e.receive(xml("enabled", { xmlns: NS_SM, id: "s1" }));
  await tick();
  const answered = e.xmpp.iqCaller.request(xml("iq", { type: "get", id: "q1" }), 1000);
  await tick();
  e.receive(xml("iq", { type: "result", id: "q1" }), message(), r());
  await answered;
  await tick();
  return e.acks();
}

Deno.test("the library's counter: results of our own IQs are never counted", async () => {
  assert.deepEqual(await iqResultAcks(false), [1]);
});

Deno.test("fixStreamManagement: results of our own IQs count", async () => {
  assert.deepEqual(await iqResultAcks(true), [2]);
});

Deno.test("fixStreamManagement: the count carries on across <resumed/> and restarts offline", async () => {
  const e = entity(true);
  await enableSent(e);
  e.receive(xml("enabled", { xmlns: NS_SM, id: "s1", resume: "true" }), message(), message());
  await tick();
  assert.equal(e.xmpp.streamManagement.inbound, 2);
  e.xmpp.streamManagement.inbound = 0; // the library's own writes are ignored
  e.receive(xml("resumed", { xmlns: NS_SM, h: "0", previd: "s1" }), message());
  assert.equal(e.xmpp.streamManagement.inbound, 3);
  e.xmpp.emit("offline");
  assert.equal(e.xmpp.streamManagement.inbound, 0);
});

Deno.test("fixStreamManagement: re-sending nothing after <resumed/> writes nothing", async () => {
  const e = entity(true);
  let writes = 0;
  e.xmpp.write = () => {
    writes++;
    return new Promise(() => {}); // Deno's node:tls never calls back an empty write
  };
  await e.xmpp.sendMany([]);
  assert.equal(writes, 0);
});

Deno.test("useTlsOptions: direct TLS connections get the extra CA, plain TCP ones do not", () => {
  const xmpp: XmppClient = client({ service: "xmpps://127.0.0.1:5223", domain: "localhost" });
  xmpp.reconnect.stop();
  useTlsOptions(xmpp, { required: true, ca: ["PEM"] });
  for (
    const [service, ca] of [["xmpps://example.org:5223", ["PEM"]], [
      "xmpp://example.org",
      undefined,
    ]]
  ) {
    xmpp.Transport = xmpp._findTransport(service);
    const parameters = xmpp.socketParameters(service);
    assert.deepEqual(parameters.ca, ca, String(service));
  }
});

Deno.test("credentialsFor: no password without TLS when TLS is required", async () => {
  const attempts: [string, string][] = [];
  const authenticate = (credentials: { username: string }, mechanism: string) => {
    attempts.push([credentials.username, mechanism]);
    return Promise.resolve();
  };
  const insecure = { isSecure: () => false };
  const secure = { isSecure: () => true };
  await assert.rejects(
    credentialsFor("u", "p", true)(authenticate, ["SCRAM-SHA-1"], null, insecure),
    /not encrypted/,
  );
  assert.deepEqual(attempts, []);
  await credentialsFor("u", "p", true)(authenticate, ["SCRAM-SHA-1", "PLAIN"], null, secure);
  await credentialsFor("u", "p", false)(authenticate, ["PLAIN", "SCRAM-SHA-1"], null, insecure);
  await assert.rejects(
    credentialsFor("u", "p", false)(authenticate, ["PLAIN"], null, insecure),
    /no usable SASL mechanism/,
  );
  // Never PLAIN on a plain connection.
  assert.deepEqual(attempts, [["u", "SCRAM-SHA-1"], ["u", "SCRAM-SHA-1"]]);
});
