/**
 * Which channel URIs the server will POST to. The operator's pattern is one check; the URI's
 * structure is the other: a pattern written without `^...$` (or with an alternative that
 * escapes its anchors) must not let a device point the server, and its WNS access token, at
 * another host.
 *
 * @module
 */

/** Per pattern, the same pattern made to match whole strings only. */
const anchoredPatterns = new WeakMap<RegExp, RegExp>();

/** `pattern` matching the whole string, whatever anchors it was written with. */
export function anchored(pattern: RegExp): RegExp {
  let whole = anchoredPatterns.get(pattern);
  if (whole === undefined) {
    // Flags other than `g`/`y` kept: those two would make `test` stateful.
    const flags = pattern.flags.replace(/[gy]/g, "");
    whole = new RegExp(`^(?:${pattern.source})$`, flags);
    anchoredPatterns.set(pattern, whole);
  }
  return whole;
}

/**
 * Whether the server may send to `channelUri`: the whole URI matches `pattern`, and it
 * parses as an http(s) URL with no userinfo and no fragment, which a pattern could let
 * through and which an HTTP client would read differently from the operator's intent.
 */
export function isAllowedChannelUri(channelUri: string, pattern: RegExp): boolean {
  if (!anchored(pattern).test(channelUri)) return false;
  let url: URL;
  try {
    url = new URL(channelUri);
  } catch {
    return false;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return false;
  if (url.username !== "" || url.password !== "") return false;
  // `#` alone leaves `hash` empty: look at the text too.
  if (url.hash !== "" || channelUri.includes("#")) return false;
  // A backslash is a slash to URL parsers but not to the pattern's author.
  if (channelUri.includes("\\")) return false;
  // The host the pattern's author saw is the host a request would go to.
  const authority = /^https?:\/\/([^/?#]*)/i.exec(channelUri)?.[1];
  return authority !== undefined && authority.toLowerCase() === url.host;
}
