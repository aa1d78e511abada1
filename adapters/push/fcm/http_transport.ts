/**
 * The one HTTP exchange the FCM adapters make: POST a small body, read a small answer. The
 * sender and the token source take it injected, so tests and benchmarks can choose fetch or
 * node:http, and the adapters themselves never open a socket.
 *
 * Both transports here: one timeout per request, answer body included; redirects are answers
 * like any other (never followed); at most `maxResponseBytes` of an answer body are read,
 * the rest is cut off with the connection.
 *
 * @module
 */

import http from "node:http";
import https from "node:https";
import { Buffer } from "node:buffer";

/** One POST. */
export interface HttpRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Whole exchange, connecting and reading the answer included. */
  readonly timeoutMs: number;
  /** Bytes of the answer body read at most. */
  readonly maxResponseBytes: number;
}

/** What the adapters read of an answer's headers. */
export interface HttpAnswerHeaders {
  get(name: string): string | null;
}

/** An answer: status, headers, and the body as UTF-8 text (cut at `maxResponseBytes`). */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: HttpAnswerHeaders;
  readonly body: string;
  /** The body was longer than `maxResponseBytes`; `body` holds its start. */
  readonly truncated: boolean;
}

/**
 * Sends one POST; resolves with the answer, rejects with {@link HttpTimeoutError} after the
 * timeout and with another error when there is no answer (connection refused, reset, ...).
 */
export type HttpTransport = (request: HttpRequest) => Promise<HttpAnswer>;

/** The request took longer than its `timeoutMs`. */
export class HttpTimeoutError extends Error {
  override name = "HttpTimeoutError";
}

/** Options of {@link fetchTransport}. */
export interface FetchTransportOptions {
  /** A Deno HTTP client (pool settings, CA certificates); the caller closes it. */
  readonly client?: Deno.HttpClient;
  /** Injectable; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
}

/** An {@link HttpTransport} over fetch. */
export function fetchTransport(options: FetchTransportOptions = {}): HttpTransport {
  const doFetch = options.fetch ?? fetch;
  const client = options.client;
  return async (request) => {
    const signal = AbortSignal.timeout(request.timeoutMs);
    try {
      const response = await doFetch(request.url, {
        method: "POST",
        headers: request.headers,
        body: request.body,
        redirect: "manual",
        signal,
        client,
      });
      const { text, truncated } = await readBounded(response.body, request.maxResponseBytes);
      return { status: response.status, headers: response.headers, body: text, truncated };
    } catch (error) {
      if (signal.aborted) throw new HttpTimeoutError(`timed out after ${request.timeoutMs} ms`);
      throw error;
    }
  };
}

async function readBounded(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<{ text: string; truncated: boolean }> {
  if (body === null) return { text: "", truncated: false };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > limit) {
      chunks.push(value.subarray(0, limit - size));
      size = limit;
      truncated = true;
      await reader.cancel().catch(() => {});
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  return { text: decode(chunks, size), truncated };
}

function decode(chunks: readonly Uint8Array[], size: number): string {
  if (chunks.length === 1) return new TextDecoder().decode(chunks[0]);
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}

/** Options of {@link nodeHttpTransport}. */
export interface NodeHttpTransportOptions {
  /** Concurrent connections per origin; more requests queue in the agent. Default 64. */
  readonly maxSocketsPerHost?: number;
  /** Idle kept-alive connections per origin. Default 64. */
  readonly maxFreeSockets?: number;
  /** Extra trusted CA certificates (PEM), for tests against a TLS fake. */
  readonly caCerts?: readonly string[];
}

/** An {@link HttpTransport} with node:http(s) kept-alive agents; close it when done. */
export interface NodeHttpTransport {
  readonly send: HttpTransport;
  /** Closes every kept-alive connection. */
  close(): void;
}

/**
 * An {@link HttpTransport} over node:http and node:https with kept-alive agents (one
 * connection per request in flight, reused afterwards).
 */
export function nodeHttpTransport(options: NodeHttpTransportOptions = {}): NodeHttpTransport {
  const agentOptions = {
    keepAlive: true,
    maxSockets: options.maxSocketsPerHost ?? 64,
    maxFreeSockets: options.maxFreeSockets ?? 64,
  };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent({
    ...agentOptions,
    ...(options.caCerts ? { ca: [...options.caCerts] } : {}),
  });
  const send: HttpTransport = (request) =>
    new Promise<HttpAnswer>((resolve, reject) => {
      const tls = request.url.startsWith("https:");
      const body = Buffer.from(request.body, "utf8");
      let settled = false;
      const finish = (error: Error | null, answer?: HttpAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(answer!);
      };
      const req = (tls ? https : http).request(request.url, {
        method: "POST",
        agent: tls ? httpsAgent : httpAgent,
        headers: { ...request.headers, "Content-Length": String(body.byteLength) },
      }, (res) => {
        const chunks: Uint8Array[] = [];
        let size = 0;
        let truncated = false;
        const headers: HttpAnswerHeaders = {
          get: (name) => {
            const value = res.headers[name.toLowerCase()];
            if (value === undefined) return null;
            return Array.isArray(value) ? value.join(", ") : value;
          },
        };
        const done = () =>
          finish(null, {
            status: res.statusCode ?? 0,
            headers,
            body: decode(chunks, size),
            truncated,
          });
        res.on("data", (chunk: Uint8Array) => {
          if (truncated) return;
          if (size + chunk.byteLength > request.maxResponseBytes) {
            chunks.push(chunk.subarray(0, request.maxResponseBytes - size));
            size = request.maxResponseBytes;
            truncated = true;
            // The rest is not read: this connection cannot be reused.
            res.destroy();
            done();
            return;
          }
          chunks.push(chunk);
          size += chunk.byteLength;
        });
        res.on("end", done);
        res.on("error", (error) => finish(error));
        res.on("close", () => {
          if (!res.complete && !truncated) finish(new Error("answer cut off"));
        });
      });
      const timer = setTimeout(() => {
        const error = new HttpTimeoutError(`timed out after ${request.timeoutMs} ms`);
        req.destroy(error);
        finish(error);
      }, request.timeoutMs);
      req.on("error", (error) => finish(error));
      req.end(body);
    });
  return {
    send,
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/** What {@link http1Transport} needs of the WNS adapter's HTTP/1.1 client. */
export interface Http1Poster {
  post(
    url: string,
    headers: Readonly<Record<string, string>>,
    body: Uint8Array,
    timeoutMs: number,
    keepBodyBytes: number,
  ): Promise<
    {
      status: number;
      headers: HttpAnswerHeaders;
      body: Uint8Array;
      truncated: boolean;
    }
  >;
}

/**
 * An {@link HttpTransport} over the small HTTP/1.1 client the WNS sender uses
 * (`adapters/push/wns/http1_client.ts`): a fraction of node:http's CPU per request, which is
 * what lets an FCM app reach the WNS app's throughput (BENCHMARKS.md). Its timeouts reject
 * with {@link HttpTimeoutError}.
 */
export function http1Transport(client: Http1Poster): HttpTransport {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  return async (request) => {
    try {
      const answer = await client.post(
        request.url,
        request.headers,
        encoder.encode(request.body),
        request.timeoutMs,
        request.maxResponseBytes,
      );
      return {
        status: answer.status,
        headers: answer.headers,
        body: decoder.decode(answer.body),
        truncated: answer.truncated,
      };
    } catch (error) {
      if (error instanceof DOMException && error.name === "TimeoutError") {
        throw new HttpTimeoutError(`timed out after ${request.timeoutMs} ms`);
      }
      throw error;
    }
  };
}
