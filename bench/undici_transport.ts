/**
 * The WNS sender's POSTs over undici (npm), measured against `adapters/wns/http1_client.ts`
 * by `http_client_ab.ts` (benchmarks only: it cost 2.3 times the CPU, so the server keeps
 * its own client; see BENCHMARKS.md). An undici `Agent` keeps kept-alive HTTP/1.1
 * connections per origin. Bodies go with a Content-Length (a Uint8Array, never chunked),
 * redirects are answers (`dispatch` follows none), the request target is sent as given (split off the URL without
 * re-encoding: WNS answers 404 to a re-encoded channel token), answer bodies are dropped.
 * Timeouts: connecting, waiting for the head and reading the body are each bounded by the
 * request's timeout (Http1Client bounds their sum), and any of them rejects with a
 * `DOMException` named `TimeoutError`, as Http1Client does.
 *
 * @module
 */

import { Agent, errors } from "undici";
import type { WnsAnswerHeaders } from "../adapters/push/wns/http_wns_sender.ts";

/** Options of {@link UndiciWnsTransport}. */
export interface UndiciWnsTransportOptions {
  /** Connections per origin, at most (requests beyond wait for one). Default 64. */
  readonly maxConnectionsPerOrigin?: number;
  /** Idle connections older than this are closed. Default 30 s. */
  readonly idleTimeoutMs?: number;
  /**
   * The usual request timeout (the sender's): set once on the Agent, because a timeout given
   * per request costs undici about 15 µs more per request. Default 10 s.
   */
  readonly timeoutMs?: number;
  /** Extra trusted CA certificates (PEM) for `https:`, e.g. in tests. */
  readonly caCerts?: string[];
}

type RawHeaders = Record<string, string | string[] | undefined>;

/** Headers of an undici answer: lower-case names, repeated ones as arrays. */
class UndiciAnswerHeaders implements WnsAnswerHeaders {
  constructor(readonly raw: RawHeaders) {}

  get(name: string): string | null {
    const value = this.raw[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(", ") : value;
  }
}

/** POSTs for the WNS sender over an undici Agent. */
export class UndiciWnsTransport {
  readonly #agent: Agent;
  readonly #timeoutMs: number;

  constructor(options: UndiciWnsTransportOptions = {}) {
    const idle = options.idleTimeoutMs ?? 30_000;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#agent = new Agent({
      connections: options.maxConnectionsPerOrigin ?? 64,
      pipelining: 1,
      keepAliveTimeout: idle,
      keepAliveMaxTimeout: idle,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      connect: {
        timeout: this.#timeoutMs,
        ...(options.caCerts ? { ca: options.caCerts } : {}),
      },
    });
  }

  /**
   * POSTs `body` to `url` with `headers`; resolves with the answer's status and headers once
   * its body is read. Rejects with a TypeError for a URL or header it will not send, a
   * `DOMException` named `TimeoutError` after `timeoutMs` (connecting, then waiting for the
   * head, then reading the body, each), other errors for network failures.
   */
  post(
    url: string,
    headers: Readonly<Record<string, string>>,
    body: Uint8Array,
    timeoutMs: number,
  ): Promise<{ status: number; headers: WnsAnswerHeaders }> {
    const timeouts = timeoutMs === this.#timeoutMs
      ? {}
      : { headersTimeout: timeoutMs, bodyTimeout: timeoutMs };
    return new Promise((resolve, reject) => {
      let status = 0;
      let answerHeaders: RawHeaders = {};
      try {
        const { origin, path } = splitUrl(url);
        for (const name in headers) {
          const lower = name.toLowerCase();
          if (lower === "host" || lower === "content-length" || lower === "transfer-encoding") {
            throw new TypeError(`header ${name} is set by the client`);
          }
        }
        // undici's lowest level (a handler, no stream for the body): about 10 µs less per
        // request than `request()` with its Readable body.
        this.#agent.dispatch({ origin, path, method: "POST", headers, body, ...timeouts }, {
          onRequestStart() {},
          onResponseStart(_controller, statusCode, responseHeaders) {
            status = statusCode;
            answerHeaders = responseHeaders as RawHeaders;
          },
          onResponseData() {},
          onResponseEnd() {
            resolve({ status, headers: new UndiciAnswerHeaders(answerHeaders) });
          },
          onResponseError(_controller, error) {
            reject(translate(error, timeoutMs));
          },
        });
      } catch (error) {
        reject(translate(error, timeoutMs));
      }
    });
  }

  /** Closes every connection; later posts reject. */
  async close(): Promise<void> {
    await this.#agent.destroy();
  }
}

/** undici's timeouts as the `TimeoutError` the sender knows; bad arguments as TypeErrors. */
function translate(error: unknown, timeoutMs: number): unknown {
  if (
    error instanceof errors.HeadersTimeoutError ||
    error instanceof errors.BodyTimeoutError ||
    error instanceof errors.ConnectTimeoutError
  ) {
    return new DOMException(`request timed out after ${timeoutMs} ms`, "TimeoutError");
  }
  if (error instanceof errors.InvalidArgumentError) return new TypeError(error.message);
  return error;
}

/** Splits an http(s) URL into its origin and its request target, as given. */
function splitUrl(url: string): { origin: string; path: string } {
  const match = /^(https?:\/\/[^/?#]*)([^#]*)/i.exec(url);
  if (!match) throw new TypeError("not an http(s) URL");
  if (match[1].includes("@")) throw new TypeError("URLs with credentials are not sent");
  const rest = match[2];
  const path = rest === "" ? "/" : rest.startsWith("?") ? `/${rest}` : rest;
  // Printable ASCII only: nothing that could end the request line early or smuggle a header.
  if (!/^[!-~]*$/.test(path)) throw new TypeError("the URL has characters not sendable");
  return { origin: match[1], path };
}
