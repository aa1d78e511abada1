import assert from "node:assert/strict";
import { DEFAULT_CHANNEL_URI_PATTERN } from "../../app/config.ts";
import { anchored, isAllowedChannelUri } from "../../domain/channel_uri.ts";

const DEFAULT = new RegExp(DEFAULT_CHANNEL_URI_PATTERN);
/** An operator's pattern without anchors, as in issue 13's leak. */
const LOOSE = /https:\/\/[a-z0-9.-]+\.notify\.windows\.com\//;
const REAL = "https://db5p.notify.windows.com/?token=AwYAAAD8sampleToken%2bValue";

Deno.test("channel URI: a real WNS channel passes the default and a loose pattern", () => {
  assert.ok(isAllowedChannelUri(REAL, DEFAULT));
  assert.ok(isAllowedChannelUri("https://x.notify.windows.com/", LOOSE));
  assert.ok(isAllowedChannelUri("https://wns2-db5p.notify.windows.com/w/?token=a%2b", DEFAULT));
});

Deno.test("channel URI: a loose pattern must match the whole URI (issue 13's token leak)", () => {
  const steal = "http://127.0.0.1:18081/steal?https://x.notify.windows.com/";
  assert.ok(LOOSE.test(steal), "the pattern alone accepts it");
  assert.equal(isAllowedChannelUri(steal, LOOSE), false);
  assert.equal(isAllowedChannelUri("https://x.notify.windows.com/.evil.example/", /notify/), false);
  assert.equal(isAllowedChannelUri(`${REAL}\nhttps://evil/`, DEFAULT), false);
});

Deno.test("channel URI: anchors written by the operator, or alternatives, change nothing", () => {
  const alternative = /^https:\/\/a\.notify\.windows\.com\/|x$/;
  assert.ok(alternative.test("http://127.0.0.1/x"));
  assert.equal(isAllowedChannelUri("http://127.0.0.1/x", alternative), false);
  assert.ok(anchored(/^a$/).test("a"));
  assert.equal(anchored(/a/g).test("ba"), false);
});

Deno.test("channel URI: userinfo, fragments, backslashes and other schemes are refused", () => {
  const anything = /.*/s;
  for (
    const uri of [
      "https://x.notify.windows.com@127.0.0.1/?token=a",
      "https://user:pw@x.notify.windows.com/?token=a",
      "https://x.notify.windows.com/?token=a#frag",
      "https://x.notify.windows.com/?token=a#",
      "https://127.0.0.1\\x.notify.windows.com/?token=a",
      "https://x.notify.windows.com\\@127.0.0.1/",
      "ftp://x.notify.windows.com/?token=a",
      "file:///etc/passwd",
      "not a url",
      "https://X.Notify.Windows.com:443/?token=a",
    ]
  ) {
    assert.equal(isAllowedChannelUri(uri, anything), false, uri);
  }
  assert.ok(isAllowedChannelUri("https://x.notify.windows.com/?token=a", anything));
});

Deno.test("channel URI: the default pattern keeps to https under notify.windows.com", () => {
  for (
    const uri of [
      "http://db5p.notify.windows.com/?token=a",
      "https://db5p.notify.windows.com.evil.example/?token=a",
      "https://notify.windows.com.evil/?token=a",
      "https://evilnotify.windows.com/?token=a",
    ]
  ) {
    assert.equal(isAllowedChannelUri(uri, DEFAULT), false, uri);
  }
});
