import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  bareJidOf,
  combineAndHash,
  domainOfJid,
  p2ChannelHash,
  p2CollapseKey,
  p2DeviceHash,
  type P2Registration,
  p2RegistrationKey,
  planP2Registration,
} from "../../domain/p2_registration.ts";
import type { RandomBytes } from "../../domain/minting.ts";

const csprng: RandomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));

Deno.test("p2DeviceHash: the test vector of p2's README (xiaomia1@jabber.de, 92afd7a91cdba9a0)", async () => {
  assert.equal(
    await p2DeviceHash("xiaomia1@jabber.de", "92afd7a91cdba9a0"),
    "ec164939a8485ee6b7f7871071a11c7bb18aead5",
  );
});

Deno.test("combineAndHash: SHA-1 of the parts joined with one NUL, lowercase hex, as node:crypto computes it", async () => {
  const cases: string[][] = [
    ["a@b", "c"],
    ["ünïcödé@example.org", "0123456789abcdef"],
    ["x", ""],
    ["one", "two", "three"],
  ];
  for (const parts of cases) {
    const expected = createHash("sha1").update(parts.join("\0"), "utf8").digest("hex");
    assert.equal(await combineAndHash(...parts), expected, parts.join("|"));
  }
  // The NUL separates: moving characters across it changes the hash.
  assert.notEqual(await combineAndHash("ab", "c"), await combineAndHash("a", "bc"));
});

Deno.test("bareJidOf and domainOfJid", () => {
  assert.equal(bareJidOf("user@example.org/Conversations.abcd"), "user@example.org");
  assert.equal(bareJidOf("user@example.org/res/with/slashes"), "user@example.org");
  assert.equal(bareJidOf("user@example.org"), "user@example.org");
  assert.equal(bareJidOf("example.org/res"), "example.org");
  assert.equal(domainOfJid("User@Example.ORG/res"), "example.org");
  assert.equal(domainOfJid("example.org"), "example.org");
});

Deno.test("p2RegistrationKey: hashes the sender's bare JID, so the resource does not matter", async () => {
  const a = await p2RegistrationKey({
    service: "fcm",
    from: "xiaomia1@jabber.de/Conversations.x1",
    deviceId: "92afd7a91cdba9a0",
  });
  const b = await p2RegistrationKey({
    service: "fcm",
    from: "xiaomia1@jabber.de/Conversations.y2",
    deviceId: "92afd7a91cdba9a0",
  });
  assert.deepEqual(a, {
    service: "fcm",
    device: "ec164939a8485ee6b7f7871071a11c7bb18aead5",
    channel: "",
  });
  assert.deepEqual(b, a);
  const muc = await p2RegistrationKey({
    service: "fcm",
    from: "xiaomia1@jabber.de/r",
    deviceId: "92afd7a91cdba9a0",
    muc: "room@conference.jabber.de",
  });
  assert.equal(muc.device, a.device);
  assert.equal(muc.channel, await p2ChannelHash("room@conference.jabber.de", "92afd7a91cdba9a0"));
  assert.notEqual(muc.channel, "");
});

Deno.test("planP2Registration: first registration mints node and secret; later ones keep them, token updated", async () => {
  const key = await p2RegistrationKey({
    service: "fcm",
    from: "Alice@Example.org/phone",
    deviceId: "0123456789abcdef",
  });
  const first = planP2Registration(
    key,
    { from: "Alice@Example.org/phone", token: "tok-1" },
    null,
    csprng,
  );
  assert.equal(first.action, "create");
  const created = first.registration;
  assert.equal(created.domain, "example.org");
  assert.equal(created.token, "tok-1");
  assert.equal(created.device, key.device);
  assert.match(created.node, /^[A-Za-z0-9_-]{20,}$/);
  assert.match(created.secret, /^[A-Za-z0-9_-]{32,}$/);

  const noRandom: RandomBytes = () => {
    throw new Error("a re-registration must not mint");
  };
  const again = planP2Registration(
    key,
    { from: "Alice@Example.org/tablet", token: "tok-1" },
    created,
    noRandom,
  );
  assert.equal(again.action, "unchanged");
  assert.deepEqual(again.registration, created);

  const refreshed = planP2Registration(
    key,
    { from: "Alice@Example.org/phone", token: "tok-2" },
    created,
    noRandom,
  );
  assert.equal(refreshed.action, "update-token");
  const updated: P2Registration = refreshed.registration;
  assert.equal(updated.token, "tok-2");
  assert.equal(updated.node, created.node);
  assert.equal(updated.secret, created.secret);

  // Two different devices of one account get different nodes.
  const other = planP2Registration(
    await p2RegistrationKey({
      service: "fcm",
      from: "alice@example.org",
      deviceId: "fedcba9876543210",
    }),
    { from: "alice@example.org", token: "tok-3" },
    null,
    csprng,
  );
  assert.notEqual(other.registration.device, created.device);
  assert.notEqual(other.registration.node, created.node);
});

Deno.test("planP2Registration: refuses a stored registration of another key", async () => {
  const key = await p2RegistrationKey({ service: "fcm", from: "a@b", deviceId: "1" });
  const stored = planP2Registration(key, { from: "a@b", token: "t" }, null, csprng).registration;
  assert.throws(
    () =>
      planP2Registration({ ...key, service: "apns" }, { from: "a@b", token: "t" }, stored, csprng),
    /another key/,
  );
});

Deno.test("p2CollapseKey: first 6 hex characters", () => {
  assert.equal(p2CollapseKey("ec164939a8485ee6b7f7871071a11c7bb18aead5"), "ec1649");
});
