/**
 * The device side of the device protocol, as the UWPX client speaks it: a TLS connection,
 * NUL-framed JSON both ways. Used by the demo and the tests to act as a device, and handy
 * for checking a deployment.
 *
 * @module
 */

import { encodeFrame, FrameDecoder } from "./frame_decoder.ts";

/** Where and how to connect. */
export interface DeviceClientOptions {
  readonly hostname: string;
  readonly port: number;
  /** Extra CA certificates (PEM), e.g. a self-signed server certificate. */
  readonly caCerts?: string[];
}

/** One open device connection. */
export class DeviceClient {
  readonly #conn: Deno.TlsConn;
  readonly #decoder = new FrameDecoder(1024 * 1024);
  readonly #frames: Uint8Array[] = [];
  readonly #buffer = new Uint8Array(16 * 1024);

  private constructor(conn: Deno.TlsConn) {
    this.#conn = conn;
  }

  /** Opens a TLS connection and completes the handshake. */
  static async connect(options: DeviceClientOptions): Promise<DeviceClient> {
    const conn = await Deno.connectTls({
      hostname: options.hostname,
      port: options.port,
      caCerts: options.caCerts,
    });
    await conn.handshake();
    return new DeviceClient(conn);
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
