import assert from "node:assert/strict";
import {
  Counter,
  formatValue,
  Gauge,
  Histogram,
  Registry,
} from "../../../adapters/metrics/exposition.ts";

Deno.test("exposition: the text format, with HELP, TYPE, labels and escaping", () => {
  const registry = new Registry();
  const requests = registry.register(
    new Counter({ name: "x_requests_total", help: "Requests.\nTwo lines", labelNames: ["code"] }),
  );
  requests.inc({ code: "200" });
  requests.inc({ code: "200" }, 2);
  requests.inc({ code: 'a"b\\c\nd' });
  const up = registry.register(new Gauge({ name: "x_up", help: "Up." }));
  up.set(1);
  registry.register(new Gauge({ name: "x_read", help: "Read at scrape.", collect: () => 7 }));
  const latency = registry.register(
    new Histogram({ name: "x_seconds", help: "Latency.", buckets: [1, 0.1] }),
  );
  latency.observe(0.05);
  latency.observe(0.5);
  latency.observe(3);
  assert.equal(
    registry.text(),
    [
      "# HELP x_requests_total Requests.\\nTwo lines",
      "# TYPE x_requests_total counter",
      'x_requests_total{code="200"} 3',
      'x_requests_total{code="a\\"b\\\\c\\nd"} 1',
      "# HELP x_up Up.",
      "# TYPE x_up gauge",
      "x_up 1",
      "# HELP x_read Read at scrape.",
      "# TYPE x_read gauge",
      "x_read 7",
      "# HELP x_seconds Latency.",
      "# TYPE x_seconds histogram",
      'x_seconds_bucket{le="0.1"} 1',
      'x_seconds_bucket{le="1"} 2',
      'x_seconds_bucket{le="+Inf"} 3',
      "x_seconds_sum 3.55",
      "x_seconds_count 3",
      "",
    ].join("\n"),
  );
});

Deno.test("exposition: mistakes are refused", () => {
  const registry = new Registry();
  const counter = registry.register(
    new Counter({ name: "x_total", help: "x", labelNames: ["a"] }),
  );
  assert.throws(() => registry.register(new Gauge({ name: "x_total", help: "again" })), /already/);
  assert.throws(() => counter.inc({}), /takes the labels \[a\]/);
  assert.throws(() => counter.inc({ a: "1", b: "2" }), /takes the labels/);
  assert.throws(() => counter.inc({ a: "1" }, -1), /cannot go down/);
  assert.throws(() => new Counter({ name: "bad-name", help: "x" }), /invalid metric name/);
  assert.throws(
    () => new Counter({ name: "x", help: "x", labelNames: ["__reserved"] }),
    /invalid label name/,
  );
});

Deno.test("exposition: special values", () => {
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(0.25), "0.25");
  assert.equal(formatValue(1e21), "1e+21");
});

Deno.test("exposition: a labelled histogram has one series per label set, le last", () => {
  const registry = new Registry();
  const latency = registry.register(
    new Histogram({ name: "x_seconds", help: "L.", buckets: [0.1], labelNames: ["app"] }),
  );
  assert.equal(registry.text(), "# HELP x_seconds L.\n# TYPE x_seconds histogram\n");
  latency.observe(0.05, { app: "a" });
  latency.observe(0.5, { app: "b" });
  latency.observe(0.01, { app: "a" });
  assert.equal(
    registry.text(),
    [
      "# HELP x_seconds L.",
      "# TYPE x_seconds histogram",
      'x_seconds_bucket{app="a",le="0.1"} 2',
      'x_seconds_bucket{app="a",le="+Inf"} 2',
      'x_seconds_sum{app="a"} 0.060000000000000005',
      'x_seconds_count{app="a"} 2',
      'x_seconds_bucket{app="b",le="0.1"} 0',
      'x_seconds_bucket{app="b",le="+Inf"} 1',
      'x_seconds_sum{app="b"} 0.5',
      'x_seconds_count{app="b"} 1',
      "",
    ].join("\n"),
  );
  assert.throws(() => latency.observe(1), /takes the labels \[app\]/);
  assert.throws(() => new Histogram({ name: "y", help: "", buckets: [], labelNames: ["le"] }));
});
