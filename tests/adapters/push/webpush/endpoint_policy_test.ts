import assert from "node:assert/strict";
import {
  type AddressResolver,
  EndpointPolicy,
  type EndpointRefusal,
  EndpointRefusedError,
  systemResolver,
} from "../../../../adapters/push/webpush/endpoint_policy.ts";

/** A DNS stand-in: names map to addresses; anything else does not resolve. */
function resolverOf(
  table: Record<string, string[]>,
  calls: string[] = [],
): AddressResolver {
  return (hostname) => {
    calls.push(hostname);
    const addresses = table[hostname];
    if (addresses === undefined) return Promise.reject(new Error("ENOTFOUND"));
    return Promise.resolve(
      addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })),
    );
  };
}

const DNS = resolverOf({
  "push.example": ["203.0.114.7"], // public (outside 203.0.113/24 TEST-NET-3)
  "v6.push.example": ["2606:4700::1111"],
  "mixed.example": ["8.8.8.8", "10.0.0.5"],
  "rebind.example": ["127.0.0.1"],
  "meta.example": ["169.254.169.254"],
  "cgnat.example": ["100.64.1.1"],
  "ula.example": ["fd00::5"],
  "mapped.example": ["::ffff:192.168.0.1"],
  "nat64.example": ["64:ff9b::a00:1"],
  "compat.example": ["::7f00:1"], // IPv4-compatible ::127.0.0.1 (deprecated ::/96)
  "empty.example": [],
  "garbage.example": ["not-an-ip"],
});

type Row = [endpoint: string, expected: EndpointRefusal | { address: string; port?: number }];

const STRICT_TABLE: Row[] = [
  ["https://push.example/wpush/v2/abc?x=1", { address: "203.0.114.7", port: 443 }],
  ["https://push.example:8443/up/abc", { address: "203.0.114.7", port: 8443 }],
  ["https://v6.push.example/p", { address: "2606:4700::1111" }],
  ["https://8.8.8.8/p", { address: "8.8.8.8" }],
  ["https://[2606:4700::1111]/p", { address: "2606:4700::1111" }],
  ["http://push.example/p", "not-https"],
  ["ftp://push.example/p", "not-https"],
  ["file:///etc/passwd", "malformed"],
  ["javascript:alert(1)", "malformed"],
  ["/relative/path", "malformed"],
  ["", "malformed"],
  ["https://push.example/p\n", "malformed"],
  ["https://push.exa\tmple/p", "malformed"],
  [" https://push.example/p", "malformed"],
  ["https://user@push.example/p", "credentials"],
  ["https://user:pw@push.example/p", "credentials"],
  ["https://:pw@push.example/p", "credentials"],
  ["https://push.example/p#frag", "fragment"],
  ["https://push.example/p#", "fragment"],
  [`https://push.example/${"a".repeat(1000)}`, "too-long"],
  [`https://push.example/${"é".repeat(490)}`, "too-long"], // 980 chars, > 1000 bytes
  ["https://127.0.0.1/p", "forbidden-address"],
  ["https://127.1/p", "forbidden-address"],
  ["https://0x7f.0.0.1/p", "forbidden-address"],
  ["https://2130706433/p", "forbidden-address"],
  ["https://0177.0.0.1/p", "forbidden-address"],
  ["https://0.0.0.0/p", "forbidden-address"],
  ["https://10.1.2.3/p", "forbidden-address"],
  ["https://172.16.0.1/p", "forbidden-address"],
  ["https://172.31.255.255/p", "forbidden-address"],
  ["https://192.168.1.1/p", "forbidden-address"],
  ["https://169.254.169.254/latest/meta-data", "forbidden-address"],
  ["https://100.64.0.1/p", "forbidden-address"],
  ["https://100.127.255.254/p", "forbidden-address"],
  ["https://224.0.0.1/p", "forbidden-address"],
  ["https://255.255.255.255/p", "forbidden-address"],
  ["https://240.0.0.1/p", "forbidden-address"],
  ["https://[::1]/p", "forbidden-address"],
  ["https://[::]/p", "forbidden-address"],
  ["https://[fe80::1]/p", "forbidden-address"],
  ["https://[fc00::1]/p", "forbidden-address"],
  ["https://[fd12:3456::1]/p", "forbidden-address"],
  ["https://[ff02::1]/p", "forbidden-address"],
  ["https://[::ffff:127.0.0.1]/p", "forbidden-address"],
  ["https://[::ffff:7f00:1]/p", "forbidden-address"],
  ["https://[::ffff:10.0.0.1]/p", "forbidden-address"],
  ["https://[64:ff9b::7f00:1]/p", "forbidden-address"],
  ["https://[2002:7f00:1::1]/p", "forbidden-address"],
  // IPv4-compatible (::/96, RFC 4291 §2.5.5.1, deprecated): URL writes ::127.0.0.1 as ::7f00:1.
  ["https://[::127.0.0.1]/p", "forbidden-address"],
  ["https://[::7f00:1]/p", "forbidden-address"],
  ["https://[::a00:1]/p", "forbidden-address"],
  ["https://[::808:808]/p", "forbidden-address"],
  ["https://compat.example/p", "forbidden-address"],
  ["https://[100::1]/p", "forbidden-address"],
  ["https://[2001:db8::1]/p", "forbidden-address"],
  ["https://192.0.2.1/p", "forbidden-address"],
  ["https://198.51.100.1/p", "forbidden-address"],
  ["https://203.0.113.1/p", "forbidden-address"],
  ["https://198.18.0.1/p", "forbidden-address"],
  ["https://rebind.example/p", "forbidden-address"],
  ["https://meta.example/p", "forbidden-address"],
  ["https://cgnat.example/p", "forbidden-address"],
  ["https://ula.example/p", "forbidden-address"],
  ["https://mapped.example/p", "forbidden-address"],
  ["https://nat64.example/p", "forbidden-address"],
  ["https://mixed.example/p", "forbidden-address"],
  ["https://nowhere.example/p", "unresolvable"],
  ["https://empty.example/p", "unresolvable"],
  ["https://garbage.example/p", "unresolvable"],
];

async function expectRow(policy: EndpointPolicy, [endpoint, expected]: Row): Promise<void> {
  const label = JSON.stringify(endpoint.slice(0, 60));
  if (typeof expected === "string") {
    await assert.rejects(policy.check(endpoint), (error: unknown) => {
      assert.ok(error instanceof EndpointRefusedError, `${label}: ${error}`);
      assert.equal(error.reason, expected, label);
      // The endpoint is a capability: never in the message.
      if (endpoint.length > 12) assert.ok(!error.message.includes(endpoint), label);
      return true;
    }, label);
  } else {
    const checked = await policy.check(endpoint);
    assert.equal(checked.address, expected.address, label);
    if (expected.port !== undefined) assert.equal(checked.port, expected.port, label);
  }
}

Deno.test("endpoint policy: the default (strict) table", async () => {
  const policy = new EndpointPolicy({ resolve: DNS, cacheMs: 0 });
  for (const row of STRICT_TABLE) await expectRow(policy, row);
});

Deno.test("endpoint policy: allowPrivate opens loopback, private, ULA, link-local and CGNAT only", async () => {
  const policy = new EndpointPolicy({ resolve: DNS, allowPrivate: true, cacheMs: 0 });
  const rows: Row[] = [
    ["https://127.0.0.1:4443/p", { address: "127.0.0.1", port: 4443 }],
    ["https://[::1]/p", { address: "::1" }],
    ["https://rebind.example/p", { address: "127.0.0.1" }],
    ["https://mapped.example/p", { address: "192.168.0.1" }],
    ["https://cgnat.example/p", { address: "100.64.1.1" }],
    ["https://ula.example/p", { address: "fd00::5" }],
    ["https://meta.example/p", { address: "169.254.169.254" }],
    ["https://0.0.0.0/p", "forbidden-address"],
    ["https://[::]/p", "forbidden-address"],
    ["https://224.0.0.1/p", "forbidden-address"],
    ["https://255.255.255.255/p", "forbidden-address"],
    ["https://nat64.example/p", "forbidden-address"],
    ["http://127.0.0.1/p", "not-https"],
    ["https://u@127.0.0.1/p", "credentials"],
  ];
  for (const row of rows) await expectRow(policy, row);
});

Deno.test("endpoint policy: allowHttp admits http: and nothing else new", async () => {
  const policy = new EndpointPolicy({ resolve: DNS, allowHttp: true, cacheMs: 0 });
  const checked = await policy.check("http://push.example/p");
  assert.equal(checked.tls, false);
  assert.equal(checked.port, 80);
  assert.equal(checked.origin, "http://push.example");
  await expectRow(policy, ["http://127.0.0.1/p", "forbidden-address"]);
  await expectRow(policy, ["ws://push.example/p", "not-https"]);
});

Deno.test("endpoint policy: origin, hostname and port for SNI and the VAPID audience", async () => {
  const policy = new EndpointPolicy({ resolve: DNS });
  const a = await policy.check("https://PUSH.example:443/a/b?c=d");
  assert.equal(a.origin, "https://push.example");
  assert.equal(a.hostname, "push.example");
  assert.equal(a.port, 443);
  assert.equal(a.url.pathname + a.url.search, "/a/b?c=d");
  const b = await policy.check("https://[2606:4700::1111]:8443/p");
  assert.equal(b.hostname, "2606:4700::1111");
  assert.equal(b.origin, "https://[2606:4700::1111]:8443");
  assert.equal(b.family, 6);
});

Deno.test("endpoint policy: resolutions are cached for cacheMs, bounded", async () => {
  let now = 1_000_000;
  const calls: string[] = [];
  const policy = new EndpointPolicy({
    resolve: resolverOf({ "a.example": ["8.8.8.8"], "b.example": ["8.8.4.4"] }, calls),
    cacheMs: 1000,
    maxCachedHosts: 1,
    now: () => now,
  });
  await policy.check("https://a.example/1");
  await policy.check("https://a.example/2");
  assert.deepEqual(calls, ["a.example"]);
  now += 1000;
  await policy.check("https://a.example/3");
  assert.deepEqual(calls, ["a.example", "a.example"]);
  await policy.check("https://b.example/1"); // evicts a.example
  await policy.check("https://a.example/4");
  assert.deepEqual(calls, ["a.example", "a.example", "b.example", "a.example"]);
  // A refused resolution is not cached as allowed.
  await assert.rejects(policy.check("https://c.example/"), EndpointRefusedError);
});

Deno.test("endpoint policy: the system resolver maps getaddrinfo's answer (a literal: no lookup)", async () => {
  // A numeric host: getaddrinfo answers it without asking any name server.
  assert.deepEqual(await systemResolver("127.0.0.1"), [{ address: "127.0.0.1", family: 4 }]);
});

Deno.test("endpoint policy: there is no default resolver (no test reaches the system's DNS by forgetting one)", () => {
  assert.throws(
    () =>
      new EndpointPolicy(undefined as unknown as ConstructorParameters<typeof EndpointPolicy>[0]),
    TypeError,
  );
  assert.throws(() => new EndpointPolicy({ allowPrivate: true } as never), TypeError);
});

Deno.test("endpoint policy: every address of a host, checked, once each, in the resolver's order, at most 8", async () => {
  const many = Array.from({ length: 12 }, (_, i) => `203.0.114.${i + 1}`);
  const policy = new EndpointPolicy({
    resolve: resolverOf({
      "dual.example": ["2606:4700::1111", "203.0.114.7", "2606:4700::1111", "203.0.114.8"],
      "many.example": many,
      "late-private.example": [...many, "10.0.0.1"],
    }),
  });
  const dual = await policy.check("https://dual.example/push/1");
  assert.deepEqual(dual.addresses, [
    { address: "2606:4700::1111", family: 6 },
    { address: "203.0.114.7", family: 4 },
    { address: "203.0.114.8", family: 4 },
  ]);
  assert.equal(dual.address, "2606:4700::1111");
  assert.deepEqual(
    (await policy.check("https://many.example/push/1")).addresses.map((a) => a.address),
    many.slice(0, 8),
  );
  // Beyond the 8 kept, every address is still checked: one private address refuses the host.
  await assert.rejects(
    policy.check("https://late-private.example/push/1"),
    (error: unknown) =>
      error instanceof EndpointRefusedError && error.reason === "forbidden-address",
  );
});
