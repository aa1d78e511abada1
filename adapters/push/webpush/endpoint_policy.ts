/**
 * The rules a Web Push endpoint must pass before the server sends anything to it, and the
 * address to send to. Endpoints come from users, so:
 *
 * - at most 1000 bytes (UnifiedPush's limit), parsed with URL;
 * - `https:` only (plain `http:` only with `allowHttp`, for tests); no user name or password,
 *   no fragment;
 * - the host is resolved and EVERY address must be global unicast (see address_ranges.ts),
 *   unless `allowPrivate`; IP literals in any spelling URL accepts (`0x7f.1`, `2130706433`,
 *   `[::ffff:127.0.0.1]`) are judged after URL normalizes them;
 * - the caller connects to the returned addresses, in the resolver's order, the next one
 *   when one cannot be reached (no second resolution, so DNS rebinding cannot swap them),
 *   with SNI and Host still the hostname.
 *
 * Resolutions are cached briefly (bounded), so a burst of pushes to one push service costs one
 * lookup. The cache holds the checked address itself (never a bare "this name is fine"), and
 * that address is what the sender connects to, so an entry's age cannot let a request reach
 * an address that was not checked under this policy; at worst a push service that moved is
 * reached at its old (still global) address for `cacheMs`. Refusals and failures are not
 * cached.
 *
 * The resolver is always given: the system's ({@link systemResolver}) only by the program's
 * entry point (app/main.ts), a loopback-only stand-in by tests, so no test can look a name up
 * on the network by forgetting one.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { judgeAddress } from "./address_ranges.ts";

/** Addresses of one host tried at most: each costs a connect attempt within the push's time. */
const MAX_ADDRESSES = 8;

/** UnifiedPush: endpoints are at most 1000 bytes. */
export const MAX_ENDPOINT_BYTES = 1000;

/** One address a hostname resolved to. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Resolves a hostname to its addresses; injectable so tests need no DNS. */
export type AddressResolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/**
 * The system resolver (getaddrinfo, like every other client on the host). Named only by the
 * program's entry point (app/main.ts): never by tests.
 */
export const systemResolver: AddressResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((entry) => ({
    address: entry.address,
    family: entry.family === 6 ? 6 : 4,
  }));

/** Why an endpoint was refused. */
export type EndpointRefusal =
  | "too-long"
  | "malformed"
  | "not-https"
  | "credentials"
  | "fragment"
  | "unresolvable"
  | "forbidden-address";

/** Thrown for an endpoint the policy refuses; the message never quotes the endpoint. */
export class EndpointRefusedError extends Error {
  override name = "EndpointRefusedError";
  constructor(readonly reason: EndpointRefusal, detail: string) {
    super(`Web Push endpoint refused (${reason}): ${detail}`);
  }
}

/** An endpoint that passed the policy, with the address to connect to. */
export interface CheckedEndpoint {
  readonly url: URL;
  /** `scheme://host[:port]`: the VAPID audience. */
  readonly origin: string;
  /** The hostname for SNI and Host, without IPv6 brackets. */
  readonly hostname: string;
  readonly port: number;
  readonly tls: boolean;
  /** The checked address to connect to first. */
  readonly address: string;
  readonly family: 4 | 6;
  /**
   * Every address the host resolved to, all checked, in the resolver's order (the first is
   * `address`): the next is tried when one cannot be reached (an IPv6 address without a
   * route, a node of the push service that is down).
   */
  readonly addresses: readonly ResolvedAddress[];
}

/** Options of {@link EndpointPolicy}. */
export interface EndpointPolicyOptions {
  /** Allow loopback, private, ULA, link-local and CGNAT addresses. Default false. */
  readonly allowPrivate?: boolean;
  /** Allow `http:` endpoints. Default false; for tests against a plain-HTTP fake. */
  readonly allowHttp?: boolean;
  /** Required: {@link systemResolver} in production, a loopback-only stand-in in tests. */
  readonly resolve: AddressResolver;
  /** How long a resolution is reused. Default 30 s; 0 disables the cache. */
  readonly cacheMs?: number;
  /** Hostnames cached at most. Default 1024. */
  readonly maxCachedHosts?: number;
  /** Epoch milliseconds; injectable for tests. */
  readonly now?: () => number;
}

interface CachedResolution {
  readonly until: number;
  readonly addresses: readonly ResolvedAddress[];
}

const encoder = new TextEncoder();

/**
 * The syntax rules of an endpoint (no DNS): at most 1000 bytes, no whitespace or control
 * characters, an absolute `https:` URL (`http:` too with `allowHttp`) with a host, no user
 * name, password or fragment. Throws {@link EndpointRefusedError}.
 */
export function parseEndpoint(endpoint: string, allowHttp = false): URL {
  if (encoder.encode(endpoint).byteLength > MAX_ENDPOINT_BYTES) {
    throw new EndpointRefusedError("too-long", `longer than ${MAX_ENDPOINT_BYTES} bytes`);
  }
  // URL silently drops tabs and newlines and trims spaces: refuse them instead.
  // deno-lint-ignore no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(endpoint)) {
    throw new EndpointRefusedError("malformed", "whitespace or control characters");
  }
  const url = URL.parse(endpoint);
  if (url === null || url.hostname === "") {
    throw new EndpointRefusedError("malformed", "not an absolute URL with a host");
  }
  if (url.protocol !== "https:" && !(allowHttp && url.protocol === "http:")) {
    throw new EndpointRefusedError("not-https", `scheme ${url.protocol} is not allowed`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new EndpointRefusedError("credentials", "user name or password in the URL");
  }
  // `#` alone leaves url.hash empty: look at the text too.
  if (url.hash !== "" || endpoint.includes("#")) {
    throw new EndpointRefusedError("fragment", "the URL has a fragment");
  }
  return url;
}

/** Checks endpoints and finds the address to connect to. */
export class EndpointPolicy {
  readonly #allowPrivate: boolean;
  readonly #allowHttp: boolean;
  readonly #resolve: AddressResolver;
  readonly #cacheMs: number;
  readonly #maxCachedHosts: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, CachedResolution>();

  constructor(options: EndpointPolicyOptions) {
    if (typeof options?.resolve !== "function") {
      throw new TypeError("EndpointPolicy needs a resolver (systemResolver in production)");
    }
    this.#allowPrivate = options.allowPrivate ?? false;
    this.#allowHttp = options.allowHttp ?? false;
    this.#resolve = options.resolve;
    this.#cacheMs = options.cacheMs ?? 30_000;
    this.#maxCachedHosts = options.maxCachedHosts ?? 1024;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The syntax rules only (no DNS): for checking an endpoint when it is registered. Throws
   * {@link EndpointRefusedError}.
   */
  parse(endpoint: string): URL {
    return parseEndpoint(endpoint, this.#allowHttp);
  }

  /**
   * All rules, DNS included: the endpoint and the checked address to connect to. Throws
   * {@link EndpointRefusedError}.
   */
  async check(endpoint: string): Promise<CheckedEndpoint> {
    const url = this.parse(endpoint);
    const tls = url.protocol === "https:";
    const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const port = url.port === "" ? (tls ? 443 : 80) : Number(url.port);
    const addresses = await this.#addressesOf(hostname);
    return { url, origin: url.origin, hostname, port, tls, ...addresses[0], addresses };
  }

  async #addressesOf(hostname: string): Promise<readonly ResolvedAddress[]> {
    // Only names that passed are cached (never literals): looked up first, as telling a name
    // from a literal address is most of a cached check's CPU.
    const now = this.#now();
    const cached = this.#cache.get(hostname);
    if (cached !== undefined && now < cached.until) return cached.addresses;
    const literal = judgeAddress(hostname, this.#allowPrivate);
    if (literal !== null) {
      if (!literal.allowed) {
        throw new EndpointRefusedError("forbidden-address", `${literal.range} address`);
      }
      return [{ address: literal.address, family: literal.family }];
    }

    let resolved: readonly ResolvedAddress[];
    try {
      resolved = await this.#resolve(hostname);
    } catch {
      throw new EndpointRefusedError("unresolvable", "the host does not resolve");
    }
    if (resolved.length === 0) {
      throw new EndpointRefusedError("unresolvable", "the host has no address");
    }
    const addresses: ResolvedAddress[] = [];
    // Every address must pass: a name with one public and one private address is refused.
    for (const entry of resolved) {
      const verdict = judgeAddress(entry.address, this.#allowPrivate);
      if (verdict === null) {
        throw new EndpointRefusedError("unresolvable", "the resolver returned a non-address");
      }
      if (!verdict.allowed) {
        throw new EndpointRefusedError(
          "forbidden-address",
          `resolves to a ${verdict.range} address`,
        );
      }
      // Once each: a resolver may list an address twice (one per socket type).
      const fresh = !addresses.some((known) => known.address === verdict.address);
      if (fresh && addresses.length < MAX_ADDRESSES) {
        addresses.push({ address: verdict.address, family: verdict.family });
      }
    }
    if (this.#cacheMs > 0) {
      this.#cache.delete(hostname);
      this.#cache.set(hostname, { until: now + this.#cacheMs, addresses });
      if (this.#cache.size > this.#maxCachedHosts) {
        this.#cache.delete(this.#cache.keys().next().value!);
      }
    }
    return addresses;
  }
}
