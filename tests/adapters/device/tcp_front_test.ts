import assert from "node:assert/strict";
import { sourceOf } from "../../../adapters/device/tcp_front.ts";

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
