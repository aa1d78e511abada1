/**
 * A scripted HTTP/2 "server" for the session's tests: a TLS listener (ALPN h2) that hands
 * each accepted connection to the test as a {@link RawPeer}, which reads and parses what the
 * client sends and writes whatever frame bytes the test builds. Frames are encoded here, by
 * hand, not with the session's own `frames.ts`, and the client's header blocks are decoded
 * with hpack.js: the tests check the session against an independent reading of RFC 9113.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import hpack from "hpack.js";
import { generateFakeApnsCertificates } from "../../../../adapters/push/apns/fake_apns_server.ts";

/** Frame types and flags, as RFC 9113 §6 numbers them. */
export const T = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;
export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY_FLAG = 0x20;

/** RFC 9113 §7 error codes used by the tests. */
export const E = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  FLOW_CONTROL_ERROR: 3,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
} as const;

/** One frame the client sent. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Uint8Array;
}

const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** Frame bytes: 9-byte header then payload. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(),
): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out[0] = (payload.length >>> 16) & 0xff;
  out[1] = (payload.length >>> 8) & 0xff;
  out[2] = payload.length & 0xff;
  out[3] = type;
  out[4] = flags;
  new DataView(out.buffer).setUint32(5, streamId >>> 0);
  out.set(payload, 9);
  return out;
}

/** Big-endian 32-bit words. */
export function u32(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((value, i) => view.setUint32(i * 4, value >>> 0));
  return out;
}

/** A SETTINGS frame (not ACK) with these (id, value) pairs. */
export function settings(...pairs: [number, number][]): Uint8Array {
  const payload = new Uint8Array(pairs.length * 6);
  const view = new DataView(payload.buffer);
  pairs.forEach(([id, value], i) => {
    view.setUint16(i * 6, id);
    view.setUint32(i * 6 + 2, value >>> 0);
  });
  return frame(T.SETTINGS, 0, 0, payload);
}

/** An HPACK integer with an `prefix`-bit prefix and `first` high bits (RFC 7541 §5.1). */
function hpackInt(value: number, prefix: number, first: number): number[] {
  const max = (1 << prefix) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/**
 * A header block of literal fields "without indexing", names and values raw (no Huffman):
 * the simplest valid encoding, leaving the client's decoder table untouched.
 */
export function literalBlock(fields: [string, string][]): Uint8Array {
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  for (const [name, value] of fields) {
    const n = encoder.encode(name);
    const v = encoder.encode(value);
    bytes.push(0x00, ...hpackInt(n.length, 7, 0), ...n, ...hpackInt(v.length, 7, 0), ...v);
  }
  return new Uint8Array(bytes);
}

/** A literal field "with incremental indexing" (adds to the client's dynamic table). */
export function indexedLiteral(name: string, value: string): Uint8Array {
  const encoder = new TextEncoder();
  const n = encoder.encode(name);
  const v = encoder.encode(value);
  return new Uint8Array([
    0x40,
    ...hpackInt(n.length, 7, 0),
    ...n,
    ...hpackInt(v.length, 7, 0),
    ...v,
  ]);
}

/** A HEADERS frame (END_HEADERS) answering `status` with extra fields. */
export function response(
  streamId: number,
  status: number,
  endStream: boolean,
  extra: [string, string][] = [],
): Uint8Array {
  const block = literalBlock([[":status", String(status)], ...extra]);
  return frame(T.HEADERS, END_HEADERS | (endStream ? END_STREAM : 0), streamId, block);
}

/** A DATA frame. */
export function data(streamId: number, body: Uint8Array | string, endStream = true): Uint8Array {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  return frame(T.DATA, endStream ? END_STREAM : 0, streamId, bytes);
}

/** GOAWAY with last stream id and code. */
export function goaway(lastStreamId: number, code: number): Uint8Array {
  return frame(T.GOAWAY, 0, 0, u32(lastStreamId, code));
}

/** Bytes joined. */
export function join(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** One client connection, as the scripted server sees it. */
export class RawPeer {
  /** Every frame the client sent, in order. */
  readonly frames: Frame[] = [];
  /** Resolves when the client closed the connection (or it failed). */
  readonly ended: Promise<void>;
  /** True when the client started with the exact connection preface. */
  prefaceOk = false;
  readonly #conn: Deno.Conn;
  #waiters: (() => void)[] = [];
  #done = false;
  // deno-lint-ignore no-explicit-any
  readonly #decompressor: any = hpack.decompressor.create({ table: { maxSize: 4096 } });

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.ended = this.#readLoop();
  }

  /** Writes bytes; a write to a closed socket is ignored (the client may have gone). */
  async write(...parts: Uint8Array[]): Promise<void> {
    const bytes = join(...parts);
    try {
      for (let at = 0; at < bytes.length;) at += await this.#conn.write(bytes.subarray(at));
    } catch {
      // the client closed first
    }
  }

  /** Closes the server's side. Idempotent. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  /** Waits until a received frame matches (searching from the first), or times out. */
  async waitFor(match: (f: Frame) => boolean, what: string, ms = 10_000): Promise<Frame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.frames.find(match);
      if (found !== undefined) return found;
      if (this.#done) throw new Error(`${what}: the client closed without sending it`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: not received within ${ms} ms`);
      await new Promise<void>((resolve) => {
        // Polled too: a predicate may watch the client's callbacks, not only frames.
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for the client's first SETTINGS, then sends ours (and ACKs its). */
  async handshake(...serverSettings: [number, number][]): Promise<void> {
    await this.waitFor((f) => f.type === T.SETTINGS && !(f.flags & ACK), "client SETTINGS");
    await this.write(settings(...serverSettings), frame(T.SETTINGS, ACK, 0));
  }

  /** The HEADERS frames (request starts) the client sent, in order. */
  requests(): Frame[] {
    return this.frames.filter((f) => f.type === T.HEADERS);
  }

  /** Waits for `count` request HEADERS. */
  async waitForRequests(count: number, ms = 10_000): Promise<number[]> {
    await this.waitFor(() => this.requests().length >= count, `${count} requests`, ms);
    return this.requests().map((f) => f.streamId);
  }

  /** The client's GOAWAY error code, waiting for it. */
  async goawayCode(ms = 10_000): Promise<number> {
    const f = await this.waitFor((f) => f.type === T.GOAWAY, "client GOAWAY", ms);
    return new DataView(f.payload.buffer, f.payload.byteOffset).getUint32(4);
  }

  /** Decodes a header block the client sent (hpack.js, with this connection's table). */
  decodeBlock(block: Uint8Array): [string, string][] {
    let failure: unknown = null;
    this.#decompressor.once("error", (error: unknown) => failure = error);
    this.#decompressor.write(Buffer.from(block));
    this.#decompressor.execute();
    if (failure !== null) throw failure;
    const fields: [string, string][] = [];
    for (;;) {
      const header = this.#decompressor.read();
      if (header === null) break;
      fields.push([header.name, header.value]);
    }
    return fields;
  }

  /** DATA bytes the client sent on a stream, joined. */
  bodyOf(streamId: number): Uint8Array {
    return join(
      ...this.frames.filter((f) => f.type === T.DATA && f.streamId === streamId).map((f) =>
        f.payload
      ),
    );
  }

  async #readLoop(): Promise<void> {
    let buffer: Uint8Array = new Uint8Array(0);
    const chunk = new Uint8Array(64 * 1024);
    let prefaceSeen = false;
    try {
      for (;;) {
        const count = await this.#conn.read(chunk);
        if (count === null) break;
        buffer = join(buffer, chunk.subarray(0, count));
        if (!prefaceSeen) {
          if (buffer.length < PREFACE.length) continue;
          this.prefaceOk = new TextDecoder().decode(buffer.subarray(0, PREFACE.length)) === PREFACE;
          prefaceSeen = true;
          buffer = buffer.subarray(PREFACE.length);
        }
        while (buffer.length >= 9) {
          const length = (buffer[0] << 16) | (buffer[1] << 8) | buffer[2];
          if (buffer.length < 9 + length) break;
          const view = new DataView(buffer.buffer, buffer.byteOffset);
          this.frames.push({
            type: buffer[3],
            flags: buffer[4],
            streamId: view.getUint32(5) & 0x7fff_ffff,
            payload: buffer.slice(9, 9 + length),
          });
          buffer = buffer.subarray(9 + length);
        }
        this.#wake();
      }
    } catch {
      // reset by the client: the end as well
    } finally {
      this.#done = true;
      this.#wake();
      this.close();
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/** A listening scripted server. */
export interface RawServer {
  readonly port: number;
  /** The CA the client must trust. */
  readonly caCert: string;
  /** The next connection. */
  accept(): Promise<RawPeer>;
  /** Stops listening and closes every accepted connection. */
  close(): Promise<void>;
}

let certificates: ReturnType<typeof generateFakeApnsCertificates> | undefined;

/** The test CA and leaf, made once per process. */
export function testCertificates(): ReturnType<typeof generateFakeApnsCertificates> {
  certificates ??= generateFakeApnsCertificates();
  return certificates;
}

/** Starts a scripted TLS server on 127.0.0.1; `alpn` defaults to ["h2"]. */
export async function startRawServer(alpn: string[] = ["h2"]): Promise<RawServer> {
  const { caCert, cert, key } = await testCertificates();
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert,
    key,
    alpnProtocols: alpn,
  });
  const peers: RawPeer[] = [];
  return {
    port: (listener.addr as Deno.NetAddr).port,
    caCert,
    async accept() {
      const conn = await listener.accept();
      await conn.handshake();
      const peer = new RawPeer(conn);
      peers.push(peer);
      return peer;
    },
    async close() {
      listener.close();
      for (const peer of peers) peer.close();
      await Promise.all(peers.map((peer) => peer.ended));
    },
  };
}
