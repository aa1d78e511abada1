/**
 * A user-side XMPP client for end-to-end tests, built on @xmpp/client.
 *
 * It connects only to the given loopback port (an explicit xmpp:// service URI means
 * xmpp.js never does SRV or HTTP discovery), authenticates with SCRAM-SHA-1 over plain
 * TCP (xmpp.js never picks PLAIN on an insecure connection; Prosody offers SCRAM because
 * it stores SCRAM hashes), or over STARTTLS when given the server's CA, and never
 * reconnects by itself.
 *
 * @module
 */
import { client, xml } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import { fixStreamManagement, useTlsOptions } from "../../adapters/xmpp/xmpp_client_patches.ts";
import { withTimeout } from "./prosody.ts";

const CONNECT_TIMEOUT_MS = 10_000;
const IQ_TIMEOUT_MS = 10_000;

/** Options for {@link connectUser}. */
export interface UserOptions {
  /** The server's c2s port on 127.0.0.1. */
  port: number;
  /** The user's host; defaults to "localhost". */
  domain?: string;
  username: string;
  password: string;
  /** Defaults to "test". */
  resource?: string;
  /** The server's certificate (PEM) to trust, for servers that require TLS. */
  ca?: string;
  /**
   * Allows XEP-0198 when the server offers it (mod_smacks), with the library's stanza
   * counter fixed. A clean disconnect still leaves the user offline (the server ends the
   * session instead of hibernating it). Default false: stream management must not happen.
   */
  allowStreamManagement?: boolean;
}

/** A push service to register with XEP-0357 `<enable/>`. */
export interface PushTarget {
  /** The app server's JID, e.g. "push.localhost". */
  jid: string;
  /** The node the app server assigned to this device. */
  node: string;
  /** Sent in the publish-options form; the user's server echoes it in every publish. */
  secret: string;
}

/** An online user session from {@link connectUser}. */
export interface XmppUser {
  /** The full JID bound by the server. */
  jid: string;
  /** Registers a push service (XEP-0357 enable); resolves on the server's IQ result. */
  enablePush(target: PushTarget): Promise<void>;
  /**
   * Sends a chat message, then round-trips a ping to the user's server so that, on
   * return, the server has already routed the message (it handles a session's stanzas in order).
   */
  sendMessage(to: string, body: string): Promise<void>;
  /**
   * Sends an IQ exactly as given (the server stamps `from`) and resolves with the answer
   * IQ; rejects with the library's StanzaError (`condition`, `type`) on an error answer.
   */
  request(iq: Element): Promise<Element>;
  /** Closes the stream cleanly; afterwards the user is offline (no stream management). Idempotent. */
  disconnect(): Promise<void>;
}

/** Connects and authenticates a user; resolves once the session is online. */
export async function connectUser(opts: UserOptions): Promise<XmppUser> {
  const domain = opts.domain ?? "localhost";
  const xmpp = client({
    service: `xmpp://127.0.0.1:${opts.port}`,
    domain,
    username: opts.username,
    password: opts.password,
    resource: opts.resource ?? "test",
  });
  // Tests want a dropped connection to stay dropped; this also avoids a stray reconnect timer.
  xmpp.reconnect.stop();
  if (opts.ca !== undefined) useTlsOptions(xmpp, { required: true, ca: [opts.ca] });
  if (opts.allowStreamManagement) fixStreamManagement(xmpp);
  // An 'error' event without a listener would throw from inside the library; errors
  // that matter also reject the pending start()/IQ promise.
  const errors: unknown[] = [];
  xmpp.on("error", (err: unknown) => errors.push(err));

  let closed = false;
  const disconnect = async () => {
    if (closed) return;
    closed = true;
    try {
      if (xmpp.status !== "offline") await xmpp.stop();
    } catch {
      // the socket is gone either way
    }
  };

  try {
    const address = await withTimeout(xmpp.start(), CONNECT_TIMEOUT_MS, `connect ${opts.username}`);
    // The server does not offer XEP-0198 (mod_smacks is not loaded), so there is no
    // session to hibernate: after disconnect() the user is simply offline.
    if (!opts.allowStreamManagement && xmpp.streamManagement.enabled) {
      throw new Error("stream management got enabled; the offline-message path needs it off");
    }
    return {
      jid: String(address),
      disconnect,
      async enablePush({ jid, node, secret }) {
        const form = xml(
          "x",
          { xmlns: "jabber:x:data", type: "submit" },
          xml(
            "field",
            { var: "FORM_TYPE" },
            xml("value", {}, "http://jabber.org/protocol/pubsub#publish-options"),
          ),
          xml("field", { var: "secret" }, xml("value", {}, secret)),
        );
        // No 'to': the IQ goes to the user's own account, where mod_cloud_notify handles it.
        await xmpp.iqCaller.set(
          xml("enable", { xmlns: "urn:xmpp:push:0", jid, node }, form),
          undefined,
          IQ_TIMEOUT_MS,
        );
      },
      request: (iq) => xmpp.iqCaller.request(iq, IQ_TIMEOUT_MS),
      async sendMessage(to, body) {
        await xmpp.send(xml("message", { to, type: "chat" }, xml("body", {}, body)));
        await xmpp.iqCaller.get(xml("ping", { xmlns: "urn:xmpp:ping" }), domain, IQ_TIMEOUT_MS);
      },
    };
  } catch (err) {
    await disconnect();
    throw new Error(`${opts.username} could not connect: ${err}`, { cause: errors[0] ?? err });
  }
}
