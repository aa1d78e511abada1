/**
 * The device side of the device protocol, as the UWPX client speaks it: a TLS connection,
 * NUL-framed JSON both ways. Used by the demo and the tests to act as a device, and handy
 * for checking a deployment.
 *
 * @module
 */

import tls from "node:tls";
import { encodeFrame, FrameDecoder } from "./frame_decoder.ts";

/** Where and how to connect. */
export interface DeviceClientOptions {
  readonly hostname: string;
  readonly port: number;
  /** Extra CA certificates (PEM), e.g. a self-signed server certificate. */
  readonly caCerts?: string[];
  /**
   * Do not check the server's certificate at all (testing a server with a certificate of
   * its own; never for anything that matters).
   */
  readonly insecure?: boolean;
}

/** What the client needs of a connection: Deno's `TlsConn`, or {@link NodeTlsConn}. */
interface ByteConn {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

/** One open device connection. */
export class DeviceClient {
  readonly #conn: ByteConn;
  readonly #decoder = new FrameDecoder(1024 * 1024);
  readonly #frames: Uint8Array[] = [];
  readonly #buffer = new Uint8Array(16 * 1024);

  private constructor(conn: ByteConn) {
    this.#conn = conn;
  }

  /** Opens a TLS connection and completes the handshake. */
  static async connect(options: DeviceClientOptions): Promise<DeviceClient> {
    if (options.insecure) return new DeviceClient(await NodeTlsConn.connect(options));
    // TCP first, to turn Nagle's algorithm off: with it, the first request after the
    // handshake waited for a delayed ACK (40 ms on Linux).
    const tcp = await Deno.connect({ hostname: options.hostname, port: options.port });
    try {
      tcp.setNoDelay(true);
      const conn = await Deno.startTls(tcp, {
        hostname: options.hostname,
        caCerts: options.caCerts,
      });
      await conn.handshake();
      return new DeviceClient(conn);
    } catch (error) {
      try {
        tcp.close();
      } catch {
        // Closed with the TLS connection.
      }
      throw error;
    }
  }

  /** Sends one request and returns the parsed answer. */
  async request(message: unknown): Promise<Record<string, unknown>> {
    await this.sendRaw(encodeFrame(JSON.stringify(message)));
    return await this.readAnswer();
  }

  /** Writes bytes as they are: for tests of framing and bad input. */
  async sendRaw(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
  }

  /** Reads the next answer frame; rejects if the server closed the connection first. */
  async readAnswer(): Promise<Record<string, unknown>> {
    while (this.#frames.length === 0) {
      const n = await this.#conn.read(this.#buffer);
      if (n === null) throw new Error("connection closed by the server");
      this.#frames.push(...this.#decoder.push(this.#buffer.subarray(0, n)));
    }
    return JSON.parse(new TextDecoder().decode(this.#frames.shift()));
  }

  /** Resolves true once the server has closed the connection (any unread data is dropped). */
  async closedByServer(): Promise<boolean> {
    try {
      while ((await this.#conn.read(this.#buffer)) !== null) { /* drain */ }
    } catch {
      // A reset also means closed.
    }
    return true;
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * A TLS connection through `node:tls`, which (unlike `Deno.connectTls`) can skip the
 * certificate check: for {@link DeviceClientOptions.insecure} only.
 */
class NodeTlsConn implements ByteConn {
  readonly #socket: tls.TLSSocket;
  readonly #chunks: Uint8Array[] = [];
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  private constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(new Uint8Array(chunk));
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (error: Error) => {
      this.#error = error;
      this.#notify();
    });
  }

  static connect(options: DeviceClientOptions): Promise<NodeTlsConn> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: options.hostname,
        port: options.port,
        rejectUnauthorized: false,
        // SNI takes host names only.
        servername: /^[\d.]+$|:/.test(options.hostname) ? undefined : options.hostname,
      });
      socket.once("secureConnect", () => {
        socket.removeListener("error", reject);
        resolve(new NodeTlsConn(socket));
      });
      socket.once("error", reject);
    });
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const chunk = this.#chunks[0];
    const n = Math.min(buffer.length, chunk.length);
    buffer.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    return n;
  }

  write(bytes: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#socket.write(bytes, (error) => error ? reject(error) : resolve(bytes.length));
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
