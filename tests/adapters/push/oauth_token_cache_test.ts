/**
 * The OAuth token cache WNS's and FCM's token sources share: memory, then the shared cache,
 * then one request for all callers; refused credentials fail fast; rejected tokens stay out.
 */

import assert from "node:assert/strict";
import {
  type CacheableToken,
  OAuthTokenCache,
  refreshTime,
} from "../../../adapters/push/oauth_token_cache.ts";
import { FakeClock } from "../../support/fakes.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

interface Token extends CacheableToken {
  readonly owner: string;
}

function rig(options: { owner?: string; request?: () => Promise<Token> } = {}) {
  const clock = new FakeClock();
  let shared: Token | null = null;
  let requests = 0;
  const cache: OAuthTokenCache<Token> = new OAuthTokenCache<Token>({
    clock,
    logger: new RecordingLogger(),
    marginMs: 5 * MINUTE,
    refusedRetryMs: MINUTE,
    name: "test token",
    load: () => Promise.resolve(shared),
    save: (token) => {
      shared = token;
      return Promise.resolve();
    },
    accepts: (token) => token.owner === (options.owner ?? "me"),
    request: async () => {
      requests++;
      const token = options.request
        ? await options.request()
        : { accessToken: `t${requests}`, expiresAt: clock.now() + HOUR, owner: "me" };
      return { token, refreshAt: refreshTime(clock.now(), HOUR, 5 * MINUTE) };
    },
  });
  return {
    cache,
    clock,
    requests: () => requests,
    shared: () => shared,
    setShared: (t: Token | null) => shared = t,
  };
}

Deno.test("OAuthTokenCache: concurrent callers share one request; the token is kept until the margin", async () => {
  const r = rig();
  const tokens = await Promise.all(Array.from({ length: 20 }, () => r.cache.get()));
  assert.ok(tokens.every((t) => t.accessToken === "t1"));
  assert.equal(r.requests(), 1);
  assert.equal(r.shared()?.accessToken, "t1", "not written to the shared cache");
  r.clock.advance(HOUR - 5 * MINUTE - 1);
  assert.equal((await r.cache.get()).accessToken, "t1");
  r.clock.advance(2);
  r.setShared(null);
  assert.equal((await r.cache.get()).accessToken, "t2");
});

Deno.test("OAuthTokenCache: a shared token is used unless rejected or issued to others", async () => {
  const r = rig();
  const theirs = { accessToken: "shared", expiresAt: r.clock.now() + HOUR, owner: "me" };
  r.setShared(theirs);
  assert.equal((await r.cache.get()).accessToken, "shared");
  assert.equal(r.requests(), 0);
  r.cache.invalidate(theirs);
  assert.equal((await r.cache.get()).accessToken, "t1", "a rejected token was taken again");
  const other = rig({ owner: "someone else" });
  other.setShared(theirs);
  assert.equal((await other.cache.get()).accessToken, "t1");
});

Deno.test("OAuthTokenCache: refused credentials fail fast, reported once per run", async () => {
  let refusals = 0;
  const refused = new Error("refused");
  const holder: { r?: ReturnType<typeof rig> } = {};
  const r = rig({
    request: () => {
      if (holder.r!.cache.refuse(refused)) refusals++;
      return Promise.reject(refused);
    },
  });
  holder.r = r;
  for (let i = 0; i < 5; i++) await assert.rejects(r.cache.get(), /refused/);
  assert.equal(r.requests(), 1, "asked again while refused");
  r.clock.advance(MINUTE);
  await assert.rejects(r.cache.get(), /refused/);
  assert.equal(r.requests(), 2);
  assert.equal(refusals, 1, "reported more than once in one run");
});

Deno.test("refreshTime: a margin before expiry, never before half the life", () => {
  assert.equal(refreshTime(0, HOUR, 5 * MINUTE), 55 * MINUTE);
  assert.equal(refreshTime(0, 4 * MINUTE, 5 * MINUTE), 2 * MINUTE);
});
