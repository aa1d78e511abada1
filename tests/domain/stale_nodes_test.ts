import assert from "node:assert/strict";
import { isMintedNode, mintNode } from "../../domain/minting.ts";
import { staleNodes, sweepCandidates } from "../../domain/stale_nodes.ts";

const OURS_A = "AAAAAAAAAAAAAAAAAAAA";
const OURS_B = "b-_0b-_0b-_0b-_0b-_0";
const OURS_C = "CCCCCCCCCCCCCCCCCCCC";

Deno.test("isMintedNode: every minted node has our format", () => {
  for (let i = 0; i < 200; i++) {
    const node = mintNode((n) => crypto.getRandomValues(new Uint8Array(n)));
    assert.ok(isMintedNode(node), node);
  }
});

Deno.test("isMintedNode: the account's own PEP nodes are never ours", () => {
  for (
    const name of [
      "urn:xmpp:bookmarks:1",
      "storage:bookmarks",
      "urn:xmpp:avatar:data",
      "urn:xmpp:avatar:metadata",
      "eu.siacs.conversations.axolotl.devicelist",
      "eu.siacs.conversations.axolotl.bundles:1234567",
      "urn:xmpp:omemo:2:bundles",
      "http://jabber.org/protocol/nick",
      "AAAAAAAAAAAAAAAAAAA", // 19 characters
      "AAAAAAAAAAAAAAAAAAAAA", // 21
      "AAAAAAAAAA AAAAAAAAA", // a space
      "AAAAAAAAAAAAAAAAAAA=", // padding
      "AAAAAAAAAAAAAAAAAAA+", // base64, not base64url
      "",
    ]
  ) {
    assert.equal(isMintedNode(name), false, name);
  }
});

Deno.test("sweepCandidates: foreign and recent nodes are sorted out, duplicates once", () => {
  const listed = ["urn:xmpp:bookmarks:1", OURS_A, OURS_B, OURS_A, "urn:xmpp:avatar:data", OURS_C];
  const sorted = sweepCandidates(listed, (node) => node === OURS_B);
  assert.deepEqual(sorted, { candidates: [OURS_A, OURS_C], foreign: 2, recent: 1 });
});

Deno.test("staleNodes: only nodes storage does not know, at most max, in order", () => {
  const known = new Set([OURS_B]);
  assert.deepEqual(staleNodes([OURS_A, OURS_B, OURS_C], (n) => known.has(n), 10), [
    OURS_A,
    OURS_C,
  ]);
  assert.deepEqual(staleNodes([OURS_A, OURS_B, OURS_C], (n) => known.has(n), 1), [OURS_A]);
  assert.deepEqual(staleNodes([OURS_A, OURS_C], () => true, 10), []);
});
