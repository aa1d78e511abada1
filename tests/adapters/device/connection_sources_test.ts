import assert from "node:assert/strict";
import {
  ConnectionSources,
  prefixOf,
  sourceOf,
} from "../../../adapters/device/connection_sources.ts";

Deno.test("sourceOf: IPv4 addresses count alone, IPv6 ones by their /64", () => {
  assert.equal(sourceOf("203.0.113.7"), "203.0.113.7");
  assert.equal(sourceOf("::ffff:203.0.113.7"), "203.0.113.7", "IPv4-mapped is IPv4");
  assert.equal(sourceOf("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(sourceOf("2001:0db8:0001:0002:ffff:0:0:9"), "2001:db8:1:2::/64");
  assert.equal(sourceOf("[2001:DB8:1:2::abcd]"), "2001:db8:1:2::/64");
  assert.equal(sourceOf("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(sourceOf("2001:db8:0:0:1::1"), "2001:db8:0:0::/64");
  assert.equal(sourceOf("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(sourceOf("::1"), "0:0:0:0::/64");
  assert.notEqual(sourceOf("2001:db8:1:3::1"), sourceOf("2001:db8:1:2::1"));
});

Deno.test("prefixOf: IPv4 addresses by their /24, IPv6 ones by their /56", () => {
  assert.equal(prefixOf("203.0.113.7"), "203.0.113.0/24");
  assert.equal(prefixOf("::ffff:203.0.113.200"), "203.0.113.0/24");
  assert.notEqual(prefixOf("203.0.114.7"), prefixOf("203.0.113.7"));
  assert.equal(prefixOf("2001:db8:1:2aff::1"), "2001:db8:1:2a00::/56");
  assert.equal(prefixOf("2001:db8:1:2a00:1::1"), prefixOf("2001:db8:1:2aff::9"));
  assert.notEqual(prefixOf("2001:db8:1:2b00::1"), prefixOf("2001:db8:1:2a00::1"));
  assert.equal(prefixOf("[2001:DB8::1]"), "2001:db8:0:0::/56");
  assert.equal(prefixOf("::1"), "0:0:0:0::/56");
  assert.equal(prefixOf("junk"), "junk");
});

Deno.test("ConnectionSources: a full source refuses until one of its connections ends", () => {
  const sources = new ConnectionSources(2);
  assert.equal(sources.tryAdd("a"), true);
  assert.equal(sources.tryAdd("a"), true);
  assert.equal(sources.tryAdd("a"), false, "a third from the same source");
  assert.equal(sources.tryAdd("b"), true, "other sources are not affected");
  sources.remove("a");
  assert.equal(sources.tryAdd("a"), true);
  assert.equal(sources.tryAdd("a"), false);
});

Deno.test("ConnectionSources: 0 means no cap", () => {
  const sources = new ConnectionSources(0);
  for (let i = 0; i < 1000; i++) assert.equal(sources.tryAdd("a"), true);
});
