import assert from "node:assert/strict";
import { type OpsEndpoints, OpsHttpServer } from "../../../adapters/http/ops_http_server.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

function start(endpoints: Partial<OpsEndpoints> = {}) {
  const logger = new RecordingLogger();
  const server = OpsHttpServer.start({
    hostname: "127.0.0.1",
    port: 0,
    logger,
    endpoints: {
      metrics: () => Promise.resolve({ contentType: "text/plain; version=0.0.4", body: "m 1\n" }),
      readiness: () => Promise.resolve({ ready: true, checks: [{ name: "storage", ok: true }] }),
      ...endpoints,
    },
  });
  const url = (path: string) => `http://127.0.0.1:${server.addr.port}${path}`;
  return { server, logger, url };
}

Deno.test("OpsHttpServer: /metrics, /healthz, /readyz, 404 and 405", async () => {
  const { server, url } = start();
  try {
    const metrics = await fetch(url("/metrics"));
    assert.equal(metrics.status, 200);
    assert.equal(metrics.headers.get("content-type"), "text/plain; version=0.0.4");
    assert.equal(await metrics.text(), "m 1\n");
    const health = await fetch(url("/healthz"));
    assert.deepEqual([health.status, await health.text()], [200, "ok\n"]);
    const ready = await fetch(url("/readyz"));
    assert.deepEqual([ready.status, await ready.text()], [200, "ready\nstorage: ok\n"]);
    assert.equal(ready.headers.get("cache-control"), "no-store");
    const head = await fetch(url("/healthz"), { method: "HEAD" });
    await head.body?.cancel();
    assert.equal(head.status, 200);
    const missing = await fetch(url("/"));
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const post = await fetch(url("/metrics"), { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("OpsHttpServer: a failing check makes /readyz 503 with its reason", async () => {
  const { server, url } = start({
    readiness: () =>
      Promise.resolve({
        ready: false,
        checks: [
          { name: "storage", ok: true },
          { name: "xmpp", ok: false, detail: "the link to the XMPP server is down" },
        ],
      }),
  });
  try {
    const ready = await fetch(url("/readyz"));
    assert.equal(ready.status, 503);
    assert.equal(
      await ready.text(),
      "not ready\nstorage: ok\nxmpp: failing: the link to the XMPP server is down\n",
    );
  } finally {
    await server.close();
  }
});

Deno.test("OpsHttpServer: an endpoint that throws is a logged 500; the port is refused when taken", async () => {
  const { server, logger, url } = start({ metrics: () => Promise.reject(new Error("boom")) });
  try {
    const response = await fetch(url("/metrics"));
    assert.equal(response.status, 500);
    await response.body?.cancel();
    assert.ok(logger.lines.some((line) => line.message === "ops http request failed"));
    assert.throws(() =>
      OpsHttpServer.start({
        hostname: "127.0.0.1",
        port: server.addr.port,
        logger,
        endpoints: { metrics: () => Promise.reject(), readiness: () => Promise.reject() },
      })
    );
  } finally {
    await server.close();
  }
});
