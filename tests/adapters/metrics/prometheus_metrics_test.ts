import assert from "node:assert/strict";
import { PrometheusMetrics } from "../../../adapters/metrics/prometheus_metrics.ts";
import { LIMIT_NAMES } from "../../../domain/ports/metrics.ts";
import { sample } from "../../support/prometheus_text.ts";

Deno.test("PrometheusMetrics: every labelled series exists at zero before any event", async () => {
  const text = await new PrometheusMetrics().text();
  for (const action of ["set_channel_uri", "set_push_accounts", "request_test_push", "invalid"]) {
    for (const outcome of ["ok", "refused", "unavailable", "error"]) {
      assert.equal(sample(text, "uwpx_push_device_requests_total", { action, outcome }), 0);
    }
  }
  for (
    const outcome of [
      "pushed",
      "unknown-node",
      "forbidden",
      "bad-request",
      "unavailable",
      "throttled",
    ]
  ) {
    assert.equal(sample(text, "uwpx_push_publishes_total", { outcome }), 0);
  }
  assert.equal(sample(text, "uwpx_push_xmpp_link_up"), 0);
  assert.equal(sample(text, "uwpx_push_xmpp_reconnects_total"), 0);
  assert.equal(sample(text, "uwpx_push_tls_reloads_total", { outcome: "failed" }), 0);
  assert.equal(sample(text, "uwpx_push_device_connections"), 0);
  assert.equal(sample(text, "uwpx_push_queue_depth"), 0);
  assert.equal(sample(text, "process_resident_memory_bytes"), undefined, "off by default");
});

Deno.test("PrometheusMetrics: each event moves its metric", async () => {
  const metrics = new PrometheusMetrics();
  metrics.deviceRequest("set_push_accounts", "unavailable");
  metrics.publish("pushed");
  metrics.publish("pushed");
  metrics.publish("throttled");
  metrics.wnsResponse(200, 0.02);
  metrics.wnsResponse(410, 0.3);
  metrics.wnsResponse(null, 7);
  metrics.xmppLinkState(true);
  metrics.xmppReconnected();
  metrics.xmppConnectFailed();
  metrics.xmppConnectFailed();
  metrics.storageError("findNode");
  metrics.tlsReload("ok");
  metrics.tlsCertificateExpiry(1_800_000_000_500);
  const text = await metrics.text();
  assert.equal(
    sample(text, "uwpx_push_device_requests_total", {
      action: "set_push_accounts",
      outcome: "unavailable",
    }),
    1,
  );
  assert.equal(sample(text, "uwpx_push_publishes_total", { outcome: "pushed" }), 2);
  assert.equal(sample(text, "uwpx_push_publishes_total", { outcome: "throttled" }), 1);
  assert.equal(sample(text, "uwpx_push_wns_responses_total", { status: "200" }), 1);
  assert.equal(sample(text, "uwpx_push_wns_responses_total", { status: "410" }), 1);
  assert.equal(sample(text, "uwpx_push_wns_responses_total", { status: "none" }), 1);
  assert.equal(sample(text, "uwpx_push_wns_request_duration_seconds_bucket", { le: "0.025" }), 1);
  assert.equal(sample(text, "uwpx_push_wns_request_duration_seconds_bucket", { le: "0.5" }), 2);
  assert.equal(sample(text, "uwpx_push_wns_request_duration_seconds_bucket", { le: "+Inf" }), 3);
  assert.equal(sample(text, "uwpx_push_xmpp_link_up"), 1);
  assert.equal(sample(text, "uwpx_push_xmpp_reconnects_total"), 1);
  assert.equal(sample(text, "uwpx_push_xmpp_connect_failures_total"), 2);
  assert.equal(sample(text, "uwpx_push_storage_errors_total", { operation: "findNode" }), 1);
  assert.equal(sample(text, "uwpx_push_tls_reloads_total", { outcome: "ok" }), 1);
  assert.equal(sample(text, "uwpx_push_tls_certificate_expiry_timestamp_seconds"), 1_800_000_000);
  assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
});

Deno.test("PrometheusMetrics: gauges read their sources at each scrape; a failing source is 0", async () => {
  const metrics = new PrometheusMetrics();
  let open = 3;
  metrics.observeDeviceConnections(() => open);
  metrics.observeQueueDepth(() => 5);
  metrics.observeQueueDepth(() => {
    throw new Error("closed");
  });
  assert.equal(sample(await metrics.text(), "uwpx_push_device_connections"), 3);
  open = 1;
  const text = await metrics.text();
  assert.equal(sample(text, "uwpx_push_device_connections"), 1);
  assert.equal(sample(text, "uwpx_push_queue_depth"), 5);
});

Deno.test("PrometheusMetrics: process metrics on request; instances do not share series", async () => {
  const one = new PrometheusMetrics({ processMetrics: true });
  const text = await one.text();
  for (
    const name of ["process_start_time_seconds", "process_cpu_seconds_total", "process_open_fds"]
  ) {
    assert.ok(sample(text, name)! > 0, name);
  }
  const two = new PrometheusMetrics();
  one.publish("forbidden");
  assert.ok(sample(await one.text(), "process_resident_memory_bytes")! > 0);
  assert.equal(sample(await two.text(), "uwpx_push_publishes_total", { outcome: "forbidden" }), 0);
});

Deno.test("PrometheusMetrics: limit hits are counted by limit, every limit shown from the start", async () => {
  const metrics = new PrometheusMetrics();
  const before = await metrics.text();
  for (const limit of LIMIT_NAMES) {
    assert.equal(sample(before, "uwpx_push_limit_hits_total", { limit }), 0, limit);
  }
  metrics.limitHit("requests_per_device");
  metrics.limitHit("requests_per_device");
  metrics.limitHit("publishes_per_node");
  const text = await metrics.text();
  assert.equal(sample(text, "uwpx_push_limit_hits_total", { limit: "requests_per_device" }), 2);
  assert.equal(sample(text, "uwpx_push_limit_hits_total", { limit: "publishes_per_node" }), 1);
  assert.equal(sample(text, "uwpx_push_limit_hits_total", { limit: "stanza_size" }), 0);
});

Deno.test("PrometheusMetrics: live registrations by app, every configured app shown from the start", async () => {
  const metrics = new PrometheusMetrics();
  const devices = (text: string, service: string, app: string) =>
    sample(text, "uwpx_push_registered_devices_by_app", { service, app });
  const accounts = (text: string, service: string, app: string) =>
    sample(text, "uwpx_push_registered_accounts_by_app", { service, app });
  const before = await metrics.text();
  assert.equal(devices(before, "wns", "wns"), undefined, "no app before the wiring names one");
  let counted = [
    { service: "fcm", app: "conversations", devices: 12, accounts: 12 },
    { service: "wns", app: "wns", devices: 3, accounts: 7 },
  ];
  let failing = false;
  metrics.observeAppRegistrations([
    { service: "wns", app: "wns" },
    { service: "fcm", app: "conversations" },
    { service: "apns", app: "im.ios" },
  ], () => {
    if (failing) throw new Error("not counted");
    return counted;
  });
  let text = await metrics.text();
  assert.match(text, /^# TYPE uwpx_push_registered_devices_by_app gauge$/m);
  assert.match(text, /^# TYPE uwpx_push_registered_accounts_by_app gauge$/m);
  assert.equal(devices(text, "fcm", "conversations"), 12);
  assert.equal(accounts(text, "fcm", "conversations"), 12);
  assert.equal(devices(text, "wns", "wns"), 3);
  assert.equal(accounts(text, "wns", "wns"), 7);
  // Configured, no registration: shown at 0.
  assert.equal(devices(text, "apns", "im.ios"), 0);
  assert.equal(accounts(text, "apns", "im.ios"), 0);
  // The next count: an app the store still holds but no longer configured shows; one whose
  // registrations all went falls to 0 rather than keeping its last figure.
  counted = [
    { service: "apns", app: "im.ios", devices: 1, accounts: 1 },
    { service: "fcm", app: "retired", devices: 2, accounts: 2 },
  ];
  text = await metrics.text();
  assert.equal(devices(text, "apns", "im.ios"), 1);
  assert.equal(devices(text, "fcm", "retired"), 2);
  assert.equal(devices(text, "fcm", "conversations"), 0);
  assert.equal(accounts(text, "wns", "wns"), 0);
  // A failing source reads as 0, as the other gauges do.
  failing = true;
  text = await metrics.text();
  for (const [service, app] of [["apns", "im.ios"], ["fcm", "retired"], ["wns", "wns"]]) {
    assert.equal(devices(text, service, app), 0, `${service}/${app}`);
  }
});
