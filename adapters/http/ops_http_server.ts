/**
 * The operations HTTP port (`http.port`): Prometheus metrics and health probes, meant for
 * loopback or an internal network only.
 *
 * - `GET /metrics`: the metrics, in the Prometheus text format.
 * - `GET /healthz`: 200 while the process runs (liveness).
 * - `GET /readyz`: 200 when every readiness check passes, else 503; the body names each
 *   check and why it fails (readiness: take the instance out of rotation, do not restart it).
 *
 * @module
 */

import type { Logger } from "../../domain/ports/logging.ts";

/** One readiness check's result. `detail` must be log-safe: it is served as is. */
export interface ReadinessResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
}

/** What the server needs from the rest of the application. */
export interface OpsEndpoints {
  /** The metrics exposition. */
  metrics(): Promise<{ readonly contentType: string; readonly body: string }>;
  /** Runs the readiness checks. */
  readiness(): Promise<{ readonly ready: boolean; readonly checks: readonly ReadinessResult[] }>;
}

/** Options of {@link OpsHttpServer.start}. */
export interface OpsHttpServerOptions {
  readonly hostname: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly endpoints: OpsEndpoints;
  readonly logger: Logger;
}

const TEXT = "text/plain; charset=utf-8";

/** A running operations HTTP server. */
export class OpsHttpServer {
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  #closing: Promise<void> | undefined;

  private constructor(server: Deno.HttpServer<Deno.NetAddr>) {
    this.#server = server;
  }

  /** Binds the port and starts serving; throws if it cannot bind. */
  static start(options: OpsHttpServerOptions): OpsHttpServer {
    const { endpoints, logger } = options;
    const server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      onListen() {},
      onError(error) {
        logger.error("ops http request failed", { reason: String(error) });
        return new Response("internal error\n", { status: 500, headers: { "content-type": TEXT } });
      },
    }, (request) => handle(request, endpoints));
    return new OpsHttpServer(server);
  }

  /** Where it listens. */
  get addr(): Deno.NetAddr {
    return this.#server.addr;
  }

  /** Stops listening and waits for open requests. */
  close(): Promise<void> {
    this.#closing ??= this.#server.shutdown();
    return this.#closing;
  }
}

async function handle(request: Request, endpoints: OpsEndpoints): Promise<Response> {
  const { pathname } = new URL(request.url);
  if (request.method !== "GET" && request.method !== "HEAD") {
    return text(405, "method not allowed\n", { allow: "GET, HEAD" });
  }
  switch (pathname) {
    case "/metrics": {
      const { contentType, body } = await endpoints.metrics();
      return new Response(body, { headers: { "content-type": contentType } });
    }
    case "/healthz":
      return text(200, "ok\n");
    case "/readyz": {
      const { ready, checks } = await endpoints.readiness();
      const lines = checks.map((check) =>
        check.ok ? `${check.name}: ok` : `${check.name}: failing: ${check.detail ?? "unknown"}`
      );
      return text(ready ? 200 : 503, [ready ? "ready" : "not ready", ...lines].join("\n") + "\n");
    }
    default:
      return text(404, "not found: try /metrics, /healthz or /readyz\n");
  }
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": TEXT, "cache-control": "no-store", ...headers },
  });
}
