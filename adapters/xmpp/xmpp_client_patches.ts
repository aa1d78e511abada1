/**
 * Small adjustments to an `@xmpp/client` 0.14.0 entity, each documented where it is made:
 *
 * - {@link useTlsOptions}: extra CA certificates for its TLS connections (STARTTLS and
 *   direct TLS), which the library has no option for.
 * - {@link credentialsFor}: refuse to authenticate on a connection without TLS when TLS is
 *   required (the library would fall back to SCRAM on a plain connection).
 * - {@link fixStreamManagement}: a correct XEP-0198 inbound stanza counter, without which
 *   Prosody's mod_smacks closes the session, and a resumption that completes on TLS
 *   connections under Deno (see there for the causes).
 *
 * The client link uses all three; the tests' XMPP users use the first and the last.
 *
 * @module
 */

import { xml } from "@xmpp/client";
import type { Element } from "@xmpp/xml";

/** An `@xmpp/client` entity; the library ships no types. */
// deno-lint-ignore no-explicit-any
export type XmppClient = any;

/** TLS settings of a client connection. */
export interface ClientTlsOptions {
  /** Refuse to authenticate on a connection that is not protected by TLS. */
  readonly required: boolean;
  /**
   * Extra trusted CA certificates (PEM). Under Deno, node:tls hands `ca` to Deno's TLS as
   * `caCerts`, which are trusted in addition to the built-in roots. Certificates are always
   * verified (host name included); there is deliberately no way to turn that off.
   */
  readonly ca?: readonly string[];
}

/**
 * Extra `tls.connect` options for STARTTLS upgrades, keyed by the plain TCP socket being
 * upgraded: only sockets of entities passed to {@link useTlsOptions} get any.
 */
const upgradeOptions = new WeakMap<object, { ca: string[] }>();
const HOOKED = Symbol.for("uwpx-push.xmpp-tls-hook");

/**
 * Makes `xmpp`'s TLS connections trust `tls.ca` as well.
 *
 * The library creates TLS sockets in one place, `@xmpp/tls/lib/Socket.js`'s `connect`,
 * which calls node:tls `connect` with `{ port, host }` (direct TLS, `xmpps://`) or
 * `{ socket, host: domain }` (STARTTLS, upgrading the plain socket); neither path takes
 * options from the caller. So:
 * - direct TLS: this entity's `socketParameters` (an instance override) adds `ca`;
 * - STARTTLS: that Socket class's `connect` is wrapped, once per process, to add the
 *   options registered for the plain socket being upgraded (the entity's socket, registered
 *   when it connects). Sockets nobody registered are passed through untouched.
 */
export function useTlsOptions(xmpp: XmppClient, tls: ClientTlsOptions): void {
  const ca = [...(tls.ca ?? [])];
  if (ca.length === 0) return;
  const TlsSocket = tlsSocketClass(xmpp);
  hookTlsSocket(TlsSocket);
  const socketParameters = xmpp.socketParameters.bind(xmpp);
  xmpp.socketParameters = (service: string) => {
    const parameters = socketParameters(service);
    const direct = xmpp.Transport?.prototype.Socket === TlsSocket;
    return parameters && direct ? { ...parameters, ca } : parameters;
  };
  xmpp.on("connect", () => {
    if (xmpp.socket) upgradeOptions.set(xmpp.socket, { ca });
  });
}

/** The Socket class of the entity's direct-TLS transport (the one STARTTLS uses as well). */
// deno-lint-ignore no-explicit-any
function tlsSocketClass(xmpp: XmppClient): any {
  // deno-lint-ignore no-explicit-any
  const transport = (xmpp.transports as any[]).find((Transport) => {
    try {
      return Transport.prototype.socketParameters("xmpps://localhost:1") !== undefined;
    } catch {
      return false;
    }
  });
  if (!transport?.prototype.Socket?.prototype?.connect) {
    throw new Error("@xmpp/client has no TLS transport: cannot set TLS options");
  }
  return transport.prototype.Socket;
}

// deno-lint-ignore no-explicit-any
function hookTlsSocket(TlsSocket: any): void {
  if (TlsSocket.prototype[HOOKED]) return;
  const connect = TlsSocket.prototype.connect;
  TlsSocket.prototype.connect = function (options: unknown, ...rest: unknown[]) {
    const socket = typeof options === "object" && options !== null
      ? (options as { socket?: object }).socket
      : undefined;
    const extra = socket ? upgradeOptions.get(socket) : undefined;
    return connect.call(this, extra ? { ...options as object, ...extra } : options, ...rest);
  };
  TlsSocket.prototype[HOOKED] = true;
}

/** The library's SASL callback: `(authenticate, mechanisms, fast, entity)`. */
export type Authenticator = (
  authenticate: (
    credentials: { username: string; password: string },
    mechanism: string,
    userAgent?: Element,
  ) => Promise<void>,
  mechanisms: string[],
  fast: unknown,
  entity: XmppClient,
) => Promise<void>;

/**
 * The `credentials` option of `client()`: authenticates as `username`, but only over TLS
 * when `tlsRequired`. Without it the library, finding no STARTTLS offer, would go on and
 * run SCRAM over the plain connection. Picks the mechanism as the library does: the
 * server's first usable one over TLS, never PLAIN without TLS.
 */
export function credentialsFor(
  username: string,
  password: string,
  tlsRequired: boolean,
): Authenticator {
  const userAgent = xml("user-agent", { id: crypto.randomUUID() });
  return async (authenticate, mechanisms, _fast, entity) => {
    const secure = entity.isSecure() === true;
    if (tlsRequired && !secure) {
      throw new Error(
        "the connection is not encrypted (the server offered no STARTTLS) and TLS is " +
          "required: not sending the password",
      );
    }
    const mechanism = secure ? mechanisms[0] : mechanisms.find((m) => m !== "PLAIN");
    if (mechanism === undefined) throw new Error("the server offers no usable SASL mechanism");
    await authenticate({ username, password }, mechanism, userAgent);
  };
}

const NS_SM = "urn:xmpp:sm:3";
const STANZAS = new Set(["iq", "message", "presence"]);

/**
 * Makes `@xmpp/stream-management` 0.14.0 work against Prosody's mod_smacks under Deno.
 *
 * Resumption: after `<resumed/>` the library re-sends its unacknowledged stanzas with
 * `sendMany`, which writes them as one string, also when there are none; only then does it
 * report the session resumed. Deno's node:tls never calls the callback of an empty write
 * (plain node:net does), so on a TLS connection with nothing to re-send resumption hangs
 * for good. The entity's `sendMany` therefore skips the write for an empty list.
 *
 * The counter: the library's inbound stanza counter (`sm.inbound`, the `h` of every `<a/>`
 * it sends and of `<resume/>`) is replaced with a correct one.
 *
 * The library's counter is wrong in two ways (read in its index.js and stream-feature.js):
 *
 * 1. It counts in a middleware registered after `@xmpp/iq`'s caller, and the caller's
 *    middleware consumes the result/error IQs answering our own requests without calling
 *    `next()`. Those stanzas are never counted, so `h` falls further behind with every IQ
 *    we send: the server keeps them as unacknowledged forever, bounces them as
 *    undeliverable when the session ends, and refuses to resume once more than its queue
 *    size (Prosody: 500) are outstanding.
 * 2. It resets the counter to 0 in `enabled()`, which runs in a promise continuation after
 *    `<enabled/>` arrived, not at `<enabled/>`'s place in the stream. The library reports
 *    the session online (after resource binding) before it even sends `<enable/>`, so work
 *    starts at once, and the server's stanzas that follow `<enabled/>` in the same TCP read
 *    are parsed, counted and (on an `<r/>`) acknowledged before the reset. So `h` counts
 *    stanzas from before `<enabled/>` (Prosody: "Client acknowledged more stanzas than sent
 *    by server"), and after the late reset it drops below a value already acknowledged
 *    (Prosody: "Client acknowledged less stanzas than already acknowledged"). Either way
 *    Prosody's mod_smacks closes the session with a stream error, seconds after work began.
 *
 * The replacement counts every top-level stanza in stream order, in an `element` listener
 * (all listeners of one element run before the next element is parsed, so an `<a/>`
 * answering an `<r/>` covers exactly the stanzas before that `<r/>`), restarts at 0 exactly
 * where `<enabled/>` is parsed, carries on across `<resumed/>` (as XEP-0198 requires) and
 * starts over when the entity goes offline. The library's own writes to `sm.inbound` are
 * ignored. Like the library and Prosody 0.12, it does not wrap at 2^32.
 */
export function fixStreamManagement(xmpp: XmppClient): void {
  const sm = xmpp.streamManagement;
  if (!sm || typeof sm.inbound !== "number" || typeof xmpp.sendMany !== "function") {
    throw new Error("unexpected @xmpp/client: cannot fix its stream management");
  }
  const sendMany = xmpp.sendMany.bind(xmpp);
  xmpp.sendMany = (elements: Element[]) =>
    elements.length === 0 ? Promise.resolve() : sendMany(elements);

  let inbound = 0;
  xmpp.on("element", (element: Element) => {
    if (element.is("enabled", NS_SM)) inbound = 0;
    else if (STANZAS.has(element.name)) inbound++;
  });
  xmpp.on("offline", () => {
    inbound = 0;
  });
  Object.defineProperty(sm, "inbound", {
    configurable: true,
    enumerable: true,
    get: () => inbound,
    set: () => {},
  });
}
