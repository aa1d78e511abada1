/**
 * A fake of the server side of XEP-0114 (Jabber Component Protocol) on 127.0.0.1, for the
 * demo and for tests that must run without Prosody: it accepts one component connection at
 * a time, checks its stream header and handshake like a real XMPP server would, then lets a
 * test send IQs to the component and see what the component sends back.
 *
 * The stream is read with @xmpp/xml's incremental parser, so stanzas split over several TCP
 * reads, or several stanzas in one read, are handled.
 *
 * @module
 */

import { createHash } from "node:crypto";
import xmlLib from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import parse from "@xmpp/xml/lib/parse.js";

// @xmpp/xml is CommonJS with no named exports Deno can see: take them off the default export.
const { Parser, escapeXML } = xmlLib;

const NS_COMPONENT = "jabber:component:accept";
const NS_STREAM = "http://etherx.jabber.org/streams";
const NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams";

/** Options of {@link startFakeComponentServer}. */
export interface FakeComponentServerOptions {
  /** The component's domain: the only `to` its stream header may carry. */
  readonly domain: string;
  /** The shared secret of the handshake. */
  readonly secret: string;
}

/** A running fake XEP-0114 server; see {@link startFakeComponentServer}. */
export interface FakeComponentServer {
  /** The TCP port it listens on (127.0.0.1). */
  readonly port: number;
  /** `xmpp://127.0.0.1:<port>`, ready for `component({ service })`. */
  readonly service: string;
  /** Whether a component is connected and has passed the handshake. */
  readonly connected: boolean;
  /** Successful handshakes so far (a reconnect adds one). */
  readonly handshakes: number;
  /** Stanzas the component sent that were not answers to {@link sendIq}, in order. */
  readonly received: Element[];
  /**
   * Resolves once a component is connected and authenticated (at once if one is); rejects
   * after `timeoutMs` (default 5000), or when the server is closed.
   */
  whenConnected(timeoutMs?: number): Promise<void>;
  /**
   * Sends an IQ to the component and resolves with its `result` or `error` answer. The IQ is
   * copied; the copy gets a unique `id` if it has none, `from` "localhost" and `to` the
   * component's domain unless set. Rejects if no component is connected, if the connection
   * drops before the answer, or after `timeoutMs`.
   */
  sendIq(iq: Element, timeoutMs?: number): Promise<Element>;
  /** Sends any stanza to the component as it is (a message, say); what comes back lands in `received`. */
  sendStanza(stanza: Element): void;
  /** Closes the component's socket abruptly, without a stream close: to test reconnects. */
  dropConnection(): void;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

/** Starts a fake XEP-0114 server on 127.0.0.1 and an ephemeral port. */
export function startFakeComponentServer(
  options: FakeComponentServerOptions,
): Promise<FakeComponentServer> {
  return Promise.resolve(new FakeServer(options));
}

/** An IQ sent to the component, waiting for its answer. */
interface PendingIq {
  resolve(answer: Element): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

class FakeServer implements FakeComponentServer {
  readonly received: Element[] = [];
  readonly port: number;
  readonly service: string;
  handshakes = 0;
  readonly #options: FakeComponentServerOptions;
  readonly #listener: Deno.TcpListener;
  readonly #acceptLoop: Promise<void>;
  readonly #sessions = new Set<Session>();
  /** The authenticated component, if any. */
  #current: Session | null = null;
  /** Pending {@link whenConnected} calls. */
  readonly #connectedWaiters = new Set<{ settle(error?: Error): void }>();
  #nextId = 1;

  constructor(options: FakeComponentServerOptions) {
    this.#options = options;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = this.#listener.addr.port;
    this.service = `xmpp://127.0.0.1:${this.port}`;
    this.#acceptLoop = this.#accept();
  }

  get connected(): boolean {
    return this.#current !== null;
  }

  whenConnected(timeoutMs = 5000): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        settle: (error?: Error) => {
          clearTimeout(timer);
          this.#connectedWaiters.delete(waiter);
          if (error) reject(error);
          else resolve();
        },
      };
      const timer = setTimeout(() => {
        waiter.settle(
          new Error(`fake component server: no component authenticated in ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.#connectedWaiters.add(waiter);
    });
  }

  sendIq(iq: Element, timeoutMs = 5000): Promise<Element> {
    const session = this.#current;
    if (!session) return Promise.reject(new Error("fake component server: no component connected"));
    const copy: Element = parse(iq.toString()); // ltx elements have no clone()
    copy.attrs.id ??= `fake-${this.#nextId++}`;
    copy.attrs.from ??= "localhost";
    copy.attrs.to ??= this.#options.domain;
    return session.request(copy, timeoutMs);
  }

  sendStanza(stanza: Element): void {
    if (!this.#current) throw new Error("fake component server: no component connected");
    this.#current.send(stanza.toString());
  }

  dropConnection(): void {
    this.#current?.close();
  }

  async close(): Promise<void> {
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    await this.#acceptLoop;
    for (const waiter of [...this.#connectedWaiters]) {
      waiter.settle(new Error("fake component server: closed"));
    }
    const sessions = [...this.#sessions];
    for (const session of sessions) session.close();
    await Promise.all(sessions.map((session) => session.done));
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        const session = new Session(conn, this.#options, {
          authenticated: () => this.#authenticated(session),
          received: (stanza) => this.received.push(stanza),
          closed: () => this.#closed(session),
        });
        this.#sessions.add(session);
      }
    } catch {
      // The listener was closed.
    }
  }

  #authenticated(session: Session): void {
    // One component at a time: a newcomer replaces the old connection, like a restart would.
    const old = this.#current;
    this.#current = session;
    old?.fail("conflict");
    this.handshakes++;
    for (const waiter of [...this.#connectedWaiters]) waiter.settle();
  }

  #closed(session: Session): void {
    this.#sessions.delete(session);
    if (this.#current === session) this.#current = null;
  }
}

/** What a session tells its server. */
interface SessionEvents {
  authenticated(): void;
  received(stanza: Element): void;
  closed(): void;
}

/** One component connection, through the XEP-0114 steps: header, handshake, stanzas. */
class Session {
  /** Settles when the socket is closed and nothing is left reading or writing it. */
  readonly done: Promise<void>;
  readonly #conn: Deno.Conn;
  readonly #options: FakeComponentServerOptions;
  readonly #events: SessionEvents;
  readonly #streamId = crypto.randomUUID();
  readonly #pending = new Map<string, PendingIq>();
  #state: "header" | "handshake" | "open" | "closing" | "closed" = "header";
  #writes: Promise<void> = Promise.resolve();

  constructor(conn: Deno.Conn, options: FakeComponentServerOptions, events: SessionEvents) {
    this.#conn = conn;
    this.#options = options;
    this.#events = events;
    const parser = new Parser();
    parser.on("start", (header: Element) => this.#onHeader(header));
    parser.on("element", (element: Element) => this.#onElement(element));
    parser.on("end", () => this.#finish(""));
    parser.on("error", () => this.fail("not-well-formed"));
    this.done = this.#read(parser).then(() => this.#writes);
  }

  /** Sends an IQ and waits for the answer carrying its id. */
  request(iq: Element, timeoutMs: number): Promise<Element> {
    const id: string = iq.attrs.id;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`fake component server: no answer to IQ '${id}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#write(iq.toString());
    });
  }

  /** Writes a stanza as it is. */
  send(text: string): void {
    this.#write(text);
  }

  /** Ends the stream with a stream error, then closes the socket. */
  fail(condition: string): void {
    this.#finish(
      `<stream:error><${condition} xmlns='${NS_STREAM_ERRORS}'/></stream:error>`,
    );
  }

  /** Closes the socket at once. */
  close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(
        new Error(`fake component server: connection closed before IQ '${id}' was answered`),
      );
    }
    this.#pending.clear();
    this.#events.closed();
  }

  async #read(parser: InstanceType<typeof Parser>): Promise<void> {
    const buffer = new Uint8Array(16 * 1024);
    const decoder = new TextDecoder();
    try {
      while (this.#state !== "closed") {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        // `stream: true` keeps a UTF-8 sequence split between reads intact.
        if (this.#state !== "closing") {
          parser.write(decoder.decode(buffer.subarray(0, n), { stream: true }));
        }
      }
    } catch {
      // Closed under us (dropConnection, close) or reset by the peer.
    }
    this.close();
  }

  #onHeader(header: Element): void {
    // Per RFC 6120 4.9.1.2 the header is answered even when a stream error follows.
    this.#write(
      `<?xml version='1.0'?><stream:stream xmlns='${NS_COMPONENT}' xmlns:stream='${NS_STREAM}'` +
        ` from='${escapeXML(this.#options.domain)}' id='${this.#streamId}'>`,
    );
    if (header.name !== "stream:stream" || header.attrs["xmlns:stream"] !== NS_STREAM) {
      this.fail("invalid-namespace");
    } else if (header.attrs.xmlns !== NS_COMPONENT) {
      this.fail("invalid-namespace");
    } else if (header.attrs.to !== this.#options.domain) {
      this.fail("host-unknown");
    } else {
      this.#state = "handshake";
    }
  }

  #onElement(element: Element): void {
    if (this.#state === "handshake") {
      const expected = createHash("sha1").update(this.#streamId + this.#options.secret)
        .digest("hex");
      if (element.name === "handshake" && element.getText() === expected) {
        this.#state = "open";
        this.#write("<handshake/>");
        this.#events.authenticated();
      } else {
        this.fail("not-authorized");
      }
    } else if (this.#state === "open") {
      element.parent = null; // Detach it from the stream header the parser hung it on.
      const pending = element.name === "iq" &&
        (element.attrs.type === "result" || element.attrs.type === "error") &&
        this.#pending.get(element.attrs.id);
      if (pending) {
        this.#pending.delete(element.attrs.id);
        clearTimeout(pending.timer);
        pending.resolve(element);
      } else {
        this.#events.received(element);
      }
    }
  }

  /** Sends `fragment` and the stream's end, then closes once they are written. */
  #finish(fragment: string): void {
    if (this.#state === "closing" || this.#state === "closed") return;
    this.#state = "closing";
    this.#write(`${fragment}</stream:stream>`);
    this.#writes.then(() => this.close());
  }

  /** Queues a write; writes happen in order, and errors (a closed socket) are dropped. */
  #write(text: string): void {
    if (this.#state === "closed") return;
    const bytes = new TextEncoder().encode(text);
    this.#writes = this.#writes.then(async () => {
      for (let sent = 0; sent < bytes.length;) {
        sent += await this.#conn.write(bytes.subarray(sent));
      }
    }).catch(() => {});
  }
}
