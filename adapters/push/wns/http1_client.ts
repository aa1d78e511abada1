/**
 * A small HTTP/1.1 client for the one thing the WNS sender does: POST a small body and read
 * the status and headers of an answer whose body nobody needs. It exists because `fetch`
 * costs several times more CPU per request (Request, Headers, AbortSignal and stream
 * objects, URL parsing): with it a push costs a fraction, and the server reaches its
 * throughput goal on two cores (see BENCHMARKS.md).
 *
 * What it does, and no more:
 * - `http:` and `https:` (TLS with the system's or the given roots, SNI, HTTP/1.1 only);
 * - kept-alive connections per origin, most recently used first, closed after
 *   `idleTimeoutMs` idle or when the server says `Connection: close`;
 * - a `Content-Length` request body sent in the same write as the head (never chunked, no
 *   `Expect: 100-continue`); the request target is sent exactly as given (WNS answers 404
 *   to a re-encoded channel token);
 * - answers framed by `Content-Length`, `chunked` or the end of the connection; interim
 *   1xx answers skipped; the body read and dropped;
 * - one timeout per request, connecting included; a request that fails on a reused
 *   connection before any byte of the answer arrived (the server closed it while idle) is
 *   sent again once on a new connection;
 * - redirects are answers like any other: never followed.
 *
 * @module
 */

import { withTimeout } from "../../../lib/timeout.ts";

/** The headers of an answer, names case-insensitive; repeated ones comma-joined. */
export class AnswerHeaders {
  readonly #map: Map<string, string>;

  constructor(map: Map<string, string>) {
    this.#map = map;
  }

  /** The value of `name`, or null when the answer has no such header. */
  get(name: string): string | null {
    return this.#map.get(name.toLowerCase()) ?? null;
  }

  /** Every header as `[lower-case name, value]`. */
  entries(): IterableIterator<[string, string]> {
    return this.#map.entries();
  }
}

/** An answer: its status and headers (the body was read and dropped, unless asked for). */
export interface Http1Answer {
  readonly status: number;
  readonly headers: AnswerHeaders;
  /**
   * The body's first `keepBodyBytes` bytes, when `post` was asked for them (FCM's error
   * bodies decide what a failure means); else empty.
   */
  readonly body: Uint8Array;
  /** The body was longer than what was kept. */
  readonly truncated: boolean;
}

/** Where the bytes of a body that is kept go, up to `limit`. */
class BodySink {
  readonly chunks: Uint8Array[] = [];
  size = 0;
  truncated = false;

  constructor(readonly limit: number) {}

  add(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    const room = this.limit - this.size;
    if (bytes.byteLength > room) this.truncated = true;
    const taken = bytes.byteLength > room ? bytes.subarray(0, room) : bytes;
    if (taken.byteLength === 0) return;
    // Copied: the connection's buffer is reused.
    this.chunks.push(taken.slice());
    this.size += taken.byteLength;
  }

  bytes(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0];
    const all = new Uint8Array(this.size);
    let offset = 0;
    for (const chunk of this.chunks) {
      all.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return all;
  }
}

const NO_BODY = new Uint8Array(0);

/** Options of {@link Http1Client}. */
export interface Http1ClientOptions {
  /** Idle connections kept per origin; more are closed. Default 64. */
  readonly maxIdlePerOrigin?: number;
  /** Idle connections older than this are closed instead of reused. Default 30 s. */
  readonly idleTimeoutMs?: number;
  /** Extra trusted CA certificates (PEM) for `https:`, e.g. in tests. */
  readonly caCerts?: string[];
}

/** Thrown for an answer that is not HTTP/1.x as this client understands it. */
export class Http1ProtocolError extends Error {
  override name = "Http1ProtocolError";
}

const MAX_HEAD_BYTES = 64 * 1024;
/** Bodies longer than this are not drained: the connection is closed instead. */
const MAX_DRAIN_BYTES = 1024 * 1024;
const READ_CHUNK_BYTES = 16 * 1024;
const MIN_FREE_BYTES = 4 * 1024;
const WATCHDOG_MS = 25;
const CRLF = [13, 10];
const CRLF_CRLF = [13, 10, 13, 10];

interface Origin {
  readonly key: string;
  readonly tls: boolean;
  readonly hostname: string;
  readonly port: number;
  /** The Host header: the host, with the port unless it is the scheme's default. */
  readonly host: string;
}

/** One TCP or TLS connection, with bytes read past the last answer's head. */
class Connection {
  buffer = new Uint8Array(READ_CHUNK_BYTES);
  start = 0;
  end = 0;
  idleSince = 0;
  reused = false;
  /** When the request on it times out (epoch ms); Infinity while idle. */
  deadline = Infinity;
  /** Set by the request timeout, so that the failed read can say why. */
  timedOut = false;

  constructor(readonly conn: Deno.Conn) {}

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }

  /**
   * Reads more bytes into the buffer; false at the end of the stream. May move the unread
   * bytes to the front: indexes into the buffer are only valid relative to `start`.
   */
  async fill(): Promise<boolean> {
    if (this.start === this.end) this.start = this.end = 0;
    if (this.buffer.length - this.end < MIN_FREE_BYTES) {
      const live = this.end - this.start;
      if (live + MIN_FREE_BYTES <= this.buffer.length) {
        this.buffer.copyWithin(0, this.start, this.end);
      } else {
        const grown = new Uint8Array(Math.max(this.buffer.length * 2, live + READ_CHUNK_BYTES));
        grown.set(this.buffer.subarray(this.start, this.end));
        this.buffer = grown;
      }
      this.start = 0;
      this.end = live;
    }
    const n = await this.conn.read(this.buffer.subarray(this.end));
    if (n === null) return false;
    this.end += n;
    return true;
  }
}

/** Kept-alive HTTP/1.1 connections per origin, and POSTs over them. */
export class Http1Client {
  readonly #idle = new Map<string, Connection[]>();
  readonly #busy = new Set<Connection>();
  readonly #maxIdle: number;
  readonly #idleTimeoutMs: number;
  readonly #caCerts: string[] | undefined;
  readonly #encoder = new TextEncoder();
  readonly #decoder = new TextDecoder();
  #lastSweep = 0;
  #closed = false;
  #lastUrl: { url: string; parsed: { origin: Origin; target: string } } | null = null;
  /** Closes connections past their deadline; runs only while requests are in flight. */
  #watchdog: ReturnType<typeof setInterval> | undefined;

  constructor(options: Http1ClientOptions = {}) {
    this.#maxIdle = options.maxIdlePerOrigin ?? 64;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.#caCerts = options.caCerts;
  }

  /** Open connections: idle and in use. */
  get connections(): number {
    let idle = 0;
    for (const list of this.#idle.values()) idle += list.length;
    return idle + this.#busy.size;
  }

  /**
   * POSTs `body` to `url` with `headers` (plus Host and Content-Length) and resolves with
   * the answer's status and headers. Rejects with a TypeError for a URL or header it will
   * not send, a `DOMException` named `TimeoutError` after `timeoutMs`, and other errors for
   * connection and protocol failures. The error messages never quote the URL.
   * `keepBodyBytes`: keep this much of the answer's body (default 0: drop it).
   */
  async post(
    url: string,
    headers: Readonly<Record<string, string>>,
    body: Uint8Array,
    timeoutMs: number,
    keepBodyBytes = 0,
  ): Promise<Http1Answer> {
    if (this.#closed) throw new Error("the HTTP client is closed");
    const { origin, target } = this.#parse(url);
    const request = this.#encodeRequest(origin, target, headers, body);
    const deadline = Date.now() + timeoutMs;
    const first = await this.#checkout(origin, timeoutMs);
    try {
      return await this.#exchange(origin, first, request, deadline, timeoutMs, keepBodyBytes);
    } catch (error) {
      if (!(error instanceof StaleConnection)) throw error;
      // The server closed a kept-alive connection while it was idle: once more, afresh.
      const fresh = await this.#connect(origin, Math.max(0, deadline - Date.now()), timeoutMs);
      try {
        return await this.#exchange(origin, fresh, request, deadline, timeoutMs, keepBodyBytes);
      } catch (again) {
        if (again instanceof StaleConnection) throw again.cause;
        throw again;
      }
    }
  }

  /** {@link parseUrl}, remembering the last URL: FCM posts every push to the same one. */
  #parse(url: string): { origin: Origin; target: string } {
    if (this.#lastUrl?.url !== url) this.#lastUrl = { url, parsed: parseUrl(url) };
    return this.#lastUrl.parsed;
  }

  /** Closes every connection; later posts reject. Connections in use close as they end. */
  close(): void {
    this.#closed = true;
    for (const list of this.#idle.values()) for (const connection of list) connection.close();
    this.#idle.clear();
    for (const connection of this.#busy) connection.close();
    this.#unwatch();
  }

  #encodeRequest(
    origin: Origin,
    target: string,
    headers: Readonly<Record<string, string>>,
    body: Uint8Array,
  ): Uint8Array {
    let head = `POST ${target} HTTP/1.1\r\nHost: ${origin.host}\r\n`;
    for (const name in headers) {
      const value = headers[name];
      if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(value)) {
        throw new TypeError(`header ${HEADER_NAME.test(name) ? name : "(name)"} is not sendable`);
      }
      const lower = name.toLowerCase();
      if (lower === "host" || lower === "content-length" || lower === "transfer-encoding") {
        throw new TypeError(`header ${name} is set by the client`);
      }
      head += `${name}: ${value}\r\n`;
    }
    head += `Content-Length: ${body.byteLength}\r\n\r\n`;
    const headBytes = this.#encoder.encode(head);
    const bytes = new Uint8Array(headBytes.byteLength + body.byteLength);
    bytes.set(headBytes);
    bytes.set(body, headBytes.byteLength);
    return bytes;
  }

  /** An idle connection to `origin` that is young enough, or a new one. */
  #checkout(origin: Origin, timeoutMs: number): Promise<Connection> {
    const now = Date.now();
    if (now - this.#lastSweep >= this.#idleTimeoutMs) this.#sweep(now);
    const list = this.#idle.get(origin.key);
    while (list && list.length > 0) {
      const connection = list.pop()!;
      if (now - connection.idleSince >= this.#idleTimeoutMs) {
        connection.close();
        continue;
      }
      connection.reused = true;
      this.#busy.add(connection);
      return Promise.resolve(connection);
    }
    return this.#connect(origin, timeoutMs, timeoutMs);
  }

  async #connect(origin: Origin, leftMs: number, timeoutMs: number): Promise<Connection> {
    const connecting = origin.tls
      ? Deno.connectTls({ hostname: origin.hostname, port: origin.port, caCerts: this.#caCerts })
      : Deno.connect({ hostname: origin.hostname, port: origin.port });
    let conn: Deno.Conn;
    try {
      conn = await withTimeout<Deno.Conn>(connecting, leftMs, () => timeoutError(timeoutMs));
    } catch (error) {
      // A connection that comes up after the timeout is closed at once.
      connecting.then((late) => late.close(), () => {});
      throw error;
    }
    if (!origin.tls) (conn as Deno.TcpConn).setNoDelay(true);
    const connection = new Connection(conn);
    this.#busy.add(connection);
    return connection;
  }

  /** Writes the request and reads the answer; gives the connection back or closes it. */
  async #exchange(
    origin: Origin,
    connection: Connection,
    request: Uint8Array,
    deadline: number,
    timeoutMs: number,
    keepBodyBytes: number,
  ): Promise<Http1Answer> {
    connection.timedOut = false;
    connection.deadline = deadline;
    this.#watch();
    let keep = false;
    let answered = false;
    try {
      let offset = 0;
      while (offset < request.byteLength) {
        offset += await connection.conn.write(request.subarray(offset));
      }
      const sink = keepBodyBytes > 0 ? new BodySink(keepBodyBytes) : null;
      const answer = await this.#readAnswer(connection, () => answered = true, sink);
      keep = answer.keepAlive;
      return {
        status: answer.status,
        headers: answer.headers,
        body: sink ? sink.bytes() : NO_BODY,
        truncated: sink?.truncated ?? false,
      };
    } catch (error) {
      if (connection.timedOut) throw timeoutError(timeoutMs);
      if (connection.reused && !answered && !(error instanceof Http1ProtocolError)) {
        throw new StaleConnection(error);
      }
      throw error;
    } finally {
      connection.deadline = Infinity;
      this.#busy.delete(connection);
      if (this.#busy.size === 0) this.#unwatch();
      if (keep && !this.#closed && !connection.timedOut) this.#checkin(origin, connection);
      else connection.close();
    }
  }

  /**
   * One interval timer for every request's timeout, instead of a timer per request (a
   * timer costs more than the rest of a request's bookkeeping); timeouts fire up to
   * WATCHDOG_MS late.
   */
  #watch(): void {
    this.#watchdog ??= setInterval(() => {
      const now = Date.now();
      for (const connection of this.#busy) {
        if (now >= connection.deadline) {
          connection.timedOut = true;
          connection.close();
        }
      }
    }, WATCHDOG_MS);
  }

  #unwatch(): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }

  #checkin(origin: Origin, connection: Connection): void {
    let list = this.#idle.get(origin.key);
    if (!list) this.#idle.set(origin.key, list = []);
    if (list.length >= this.#maxIdle) {
      connection.close();
      return;
    }
    connection.idleSince = Date.now();
    list.push(connection);
  }

  /** Closes connections idle for too long, of every origin. */
  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [key, list] of this.#idle) {
      const keep = list.filter((connection) => now - connection.idleSince < this.#idleTimeoutMs);
      for (const connection of list) if (!keep.includes(connection)) connection.close();
      if (keep.length === 0) this.#idle.delete(key);
      else this.#idle.set(key, keep);
    }
  }

  /** Reads one final answer (skipping 1xx) and its body. */
  async #readAnswer(
    connection: Connection,
    firstByte: () => void,
    sink: BodySink | null,
  ): Promise<{ status: number; headers: AnswerHeaders; keepAlive: boolean }> {
    while (true) {
      const headEnd = await this.#readHead(connection, firstByte);
      const head = this.#decoder.decode(connection.buffer.subarray(connection.start, headEnd));
      connection.start = headEnd + 4;
      const { status, http10, headers } = parseHead(head);
      if (status >= 100 && status < 200) {
        if (status === 101) throw new Http1ProtocolError("unexpected 101 Switching Protocols");
        continue;
      }
      const connectionHeader = headers.get("connection")?.toLowerCase() ?? "";
      let keepAlive = http10 ? /\bkeep-alive\b/.test(connectionHeader) : true;
      if (/\bclose\b/.test(connectionHeader)) keepAlive = false;
      const transferEncoding = headers.get("transfer-encoding");
      const contentLength = headers.get("content-length");
      if (status === 204 || status === 304) {
        // No body.
      } else if (transferEncoding !== undefined) {
        if (!/(^|,)\s*chunked\s*$/i.test(transferEncoding)) {
          // Not ending in chunked: the body runs to the end of the connection.
          await this.#drainToEnd(connection, sink);
          keepAlive = false;
        } else {
          keepAlive = await this.#drainChunked(connection, sink) && keepAlive;
        }
      } else if (contentLength !== undefined) {
        if (!/^\d{1,15}$/.test(contentLength.trim())) {
          throw new Http1ProtocolError("bad Content-Length in the answer");
        }
        const length = Number(contentLength);
        if (length > MAX_DRAIN_BYTES) keepAlive = false;
        else await this.#skip(connection, length, sink);
      } else {
        await this.#drainToEnd(connection, sink);
        keepAlive = false;
      }
      // Bytes past the answer: the server sent something unasked; do not reuse.
      if (connection.start !== connection.end) keepAlive = false;
      return { status, headers: new AnswerHeaders(headers), keepAlive };
    }
  }

  /** Reads until the buffer holds a whole head; returns the index of its CRLFCRLF. */
  async #readHead(connection: Connection, firstByte: () => void): Promise<number> {
    return await this.#readUntil(connection, CRLF_CRLF, firstByte);
  }

  /**
   * Reads until `sequence` is in the buffer past `start`; returns its index. Throws past
   * MAX_HEAD_BYTES or at the end of the stream.
   */
  async #readUntil(
    connection: Connection,
    sequence: number[],
    onBytes: () => void = () => {},
  ): Promise<number> {
    // How far from `start` has been searched: the buffer may move while filling.
    let searched = 0;
    while (true) {
      const from = connection.start + searched;
      const at = indexOfSequence(connection.buffer, sequence, from, connection.end);
      if (at !== -1) return at;
      const live = connection.end - connection.start;
      if (live > MAX_HEAD_BYTES) throw new Http1ProtocolError("answer head too large");
      searched = Math.max(0, live - (sequence.length - 1));
      if (!(await connection.fill())) {
        throw new Error(
          live === 0
            ? "connection closed before the answer"
            : "connection closed inside the answer",
        );
      }
      onBytes();
    }
  }

  /** Skips `length` body bytes (into `sink`, when one is given). */
  async #skip(connection: Connection, length: number, sink: BodySink | null = null): Promise<void> {
    let left = length;
    while (true) {
      const available = connection.end - connection.start;
      const take = Math.min(available, left);
      sink?.add(connection.buffer.subarray(connection.start, connection.start + take));
      connection.start += take;
      left -= take;
      if (left === 0) return;
      if (!(await connection.fill())) throw new Error("connection closed inside the answer");
    }
  }

  /** Skips a chunked body; false when it was too long to drain (then the caller closes). */
  async #drainChunked(connection: Connection, sink: BodySink | null): Promise<boolean> {
    let total = 0;
    while (true) {
      const lineEnd = await this.#readLine(connection);
      const line = this.#decoder.decode(connection.buffer.subarray(connection.start, lineEnd));
      connection.start = lineEnd + 2;
      const size = /^([0-9a-fA-F]{1,8})\s*(;.*)?$/.exec(line);
      if (!size) throw new Http1ProtocolError("bad chunk size in the answer");
      const length = parseInt(size[1], 16);
      if (length === 0) {
        // Trailers, up to an empty line.
        while (true) {
          const end = await this.#readLine(connection);
          const empty = end === connection.start;
          connection.start = end + 2;
          if (empty) return true;
        }
      }
      total += length;
      if (total > MAX_DRAIN_BYTES) return false;
      await this.#skip(connection, length, sink);
      await this.#skip(connection, 2);
    }
  }

  /** Reads until a CRLF; returns its index. */
  #readLine(connection: Connection): Promise<number> {
    return this.#readUntil(connection, CRLF);
  }

  /** Reads and drops everything up to the end of the connection (at most MAX_DRAIN_BYTES). */
  async #drainToEnd(connection: Connection, sink: BodySink | null): Promise<void> {
    let total = 0;
    while (total <= MAX_DRAIN_BYTES) {
      total += connection.end - connection.start;
      sink?.add(connection.buffer.subarray(connection.start, connection.end));
      connection.start = connection.end;
      if (!(await connection.fill())) return;
    }
  }
}

/** A reused connection failed before the answer began: worth one retry on a new one. */
class StaleConnection extends Error {
  constructor(cause: unknown) {
    super("kept-alive connection was closed by the server", { cause });
  }
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function timeoutError(timeoutMs: number): DOMException {
  return new DOMException(`request timed out after ${timeoutMs} ms`, "TimeoutError");
}

/** Splits an http(s) URL into its origin and the request target, as given. */
function parseUrl(url: string): { origin: Origin; target: string } {
  const match = /^(https?):\/\/([^/?#]*)([^#]*)/i.exec(url);
  if (!match) throw new TypeError("not an http(s) URL");
  const tls = match[1].toLowerCase() === "https";
  const authority = match[2];
  const rest = match[3];
  if (authority.includes("@")) throw new TypeError("URLs with credentials are not sent");
  const hostPort = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(authority);
  if (!hostPort) throw new TypeError("bad host in the URL");
  const defaultPort = tls ? 443 : 80;
  const port = hostPort[2] === undefined ? defaultPort : Number(hostPort[2]);
  if (port < 1 || port > 65535) throw new TypeError("bad port in the URL");
  const bracketed = hostPort[1];
  const hostname = (bracketed.startsWith("[") ? bracketed.slice(1, -1) : bracketed).toLowerCase();
  const target = rest === "" ? "/" : rest.startsWith("?") ? `/${rest}` : rest;
  // Printable ASCII only: nothing that could end the request line early or smuggle a header.
  if (!/^[!-~]*$/.test(target)) throw new TypeError("the URL has characters not sendable");
  const host = port === defaultPort
    ? bracketed.toLowerCase()
    : `${bracketed.toLowerCase()}:${port}`;
  return {
    origin: { key: `${tls ? "s" : ""}${hostname}:${port}`, tls, hostname, port, host },
    target,
  };
}

/** The status line and headers of an answer head (without its final CRLFCRLF). */
function parseHead(
  head: string,
): { status: number; http10: boolean; headers: Map<string, string> } {
  const lines = head.split("\r\n");
  const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0]);
  if (!statusLine) throw new Http1ProtocolError("not an HTTP/1.x answer");
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Http1ProtocolError("bad header line in the answer");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const seen = headers.get(name);
    headers.set(name, seen === undefined ? value : `${seen}, ${value}`);
  }
  return { status: Number(statusLine[2]), http10: statusLine[1] === "0", headers };
}

/** The index of `sequence` in `bytes` between `from` and `to`, or -1. */
function indexOfSequence(bytes: Uint8Array, sequence: number[], from: number, to: number): number {
  const first = sequence[0];
  const last = to - sequence.length;
  outer: for (let i = from; i <= last; i++) {
    if (bytes[i] !== first) continue;
    for (let k = 1; k < sequence.length; k++) if (bytes[i + k] !== sequence[k]) continue outer;
    return i;
  }
  return -1;
}
