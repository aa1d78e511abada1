/**
 * A device that behaves byte for byte like the real UWPX client (its push manager and TCP
 * connection class, as described in the protocol notes): TLS 1.2 only, one connection per
 * request, the request as Newtonsoft's indented JSON (two-space indent, CRLF line ends)
 * plus one NUL in one write, and its answer loop: load up to 4096 bytes, keep loading only
 * while a load returned a full 4096, then parse everything read, skipping the trailing NUL.
 * An answer that reaches it in pieces, one of them shorter than 4096 bytes, is cut: the
 * parse then fails, as it would on a real device.
 *
 * @module
 */

import tls from "node:tls";

/** What the client's loop saw of one answer. */
export interface ClientExchange {
  /** The answer, parsed as Newtonsoft would (trailing NUL skipped). */
  readonly answer: Record<string, unknown>;
  /** The size of every load, in order: all 4096 but the last. */
  readonly loads: readonly number[];
  /** The request's bytes as sent. */
  readonly sent: Uint8Array;
}

/** Where the push server listens, and the CA that signed its certificate. */
export interface UwpxClientOptions {
  readonly hostname: string;
  readonly port: number;
  readonly caCert: string;
  /** How long one request may take in all. Default 10 s. */
  readonly timeoutMs?: number;
}

/** The client's read size (`DataReader.LoadAsync(4096)`). */
export const CLIENT_READ_SIZE = 4096;

/** A request as the client writes it: Newtonsoft `Formatting.Indented`, CRLF, then NUL. */
export function clientRequestBytes(message: Record<string, unknown>): Uint8Array {
  const text = JSON.stringify(message, null, 2).replaceAll("\n", "\r\n");
  const body = new TextEncoder().encode(text);
  const bytes = new Uint8Array(body.length + 1);
  bytes.set(body);
  return bytes;
}

/** A lower-case hex SHA-256, as the client makes its ids. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return new Uint8Array(digest).toHex();
}

/** The client's account id: SHA-256 over the device id and the account's bare JID. */
export function clientAccountId(deviceId: string, bareJid: string): Promise<string> {
  return sha256Hex(`${deviceId}${bareJid}`);
}

/** The real client's device: one connection per request. */
export class UwpxClient {
  readonly #options: UwpxClientOptions;

  constructor(options: UwpxClientOptions) {
    this.#options = options;
  }

  /** `set_channel_uri`, as the client sends it. */
  setChannelUri(deviceId: string, channelUri: string): Promise<ClientExchange> {
    return this.send({
      version: 2,
      action: "set_channel_uri",
      device_id: deviceId,
      channel_uri: channelUri,
    });
  }

  /** `set_push_accounts`, as the client sends it. */
  setPushAccounts(deviceId: string, accountIds: readonly string[]): Promise<ClientExchange> {
    return this.send({
      version: 2,
      action: "set_push_accounts",
      device_id: deviceId,
      accounts: accountIds.map((account_id) => ({ account_id })),
    });
  }

  /** Connects, sends one request in one write, reads one answer the client's way, closes. */
  send(message: Record<string, unknown>): Promise<ClientExchange> {
    return this.sendBytes(clientRequestBytes(message));
  }

  /** {@link send} with the request's bytes as given (a fixture, say). */
  async sendBytes(sent: Uint8Array): Promise<ClientExchange> {
    const { hostname, port, caCert, timeoutMs = 10_000 } = this.#options;
    const socket = await connect(hostname, port, caCert);
    const reader = new ChunkReader(socket);
    const timer = setTimeout(() => socket.destroy(new Error("no answer in time")), timeoutMs);
    try {
      await new Promise<void>((resolve, reject) =>
        socket.write(sent, (error) => error ? reject(error) : resolve())
      );
      const loads: number[] = [];
      const parts: Uint8Array[] = [];
      do {
        const part = await reader.load(CLIENT_READ_SIZE);
        loads.push(part.length);
        parts.push(part);
      } while (loads.at(-1) === CLIENT_READ_SIZE);
      const text = new TextDecoder().decode(concat(parts));
      // Newtonsoft stops at the end of the object: the NUL after it is skipped.
      const answer = JSON.parse(text.replace(/\0$/, "")) as Record<string, unknown>;
      return { answer, loads, sent };
    } finally {
      clearTimeout(timer);
      socket.destroy();
    }
  }
}

/** TLS 1.2 only, certificate checked against the CA and the host name. */
function connect(hostname: string, port: number, ca: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: hostname,
      port,
      ca: [ca],
      minVersion: "TLSv1.2",
      maxVersion: "TLSv1.2",
      servername: /^[\d.]+$|:/.test(hostname) ? undefined : hostname,
    });
    socket.setNoDelay(true);
    socket.once("secureConnect", () => {
      socket.removeListener("error", reject);
      if (socket.getProtocol() !== "TLSv1.2") {
        socket.destroy();
        reject(new Error(`negotiated ${socket.getProtocol()}, not TLS 1.2`));
        return;
      }
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/**
 * `LoadAsync(n)` with partial reads: waits until some bytes arrived, then takes what is
 * there, up to `n`; an empty load once the server closed the connection.
 */
class ChunkReader {
  readonly #chunks: Uint8Array[] = [];
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  constructor(socket: tls.TLSSocket) {
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(new Uint8Array(chunk));
      this.#notify();
    });
    const end = () => {
      this.#ended = true;
      this.#notify();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", (error: Error) => {
      this.#error = error;
      this.#notify();
    });
  }

  async load(max: number): Promise<Uint8Array> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return new Uint8Array(0);
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const parts: Uint8Array[] = [];
    let size = 0;
    while (this.#chunks.length > 0 && size < max) {
      const chunk = this.#chunks[0];
      const take = Math.min(max - size, chunk.length);
      parts.push(chunk.subarray(0, take));
      size += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    return concat(parts);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
