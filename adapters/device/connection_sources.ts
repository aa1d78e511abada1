/**
 * Counting open device connections per source, for the per-address and per-prefix
 * connection limits; {@link prefixOf} also keys the registration rate limits.
 *
 * @module
 */

/**
 * The source a connection counts against for the per-address limit: an IPv4 address
 * (IPv4-mapped IPv6 ones included), or an IPv6 address's /64 prefix, since one host
 * commonly holds a whole /64.
 */
export function sourceOf(hostname: string): string {
  const address = plainAddress(hostname);
  if (!address.includes(":")) return address;
  return `${ipv6Groups(address).slice(0, 4).join(":")}::/64`;
}

/**
 * The network a connection comes from, as one operator or site commonly holds it: an IPv4
 * address's /24, an IPv6 address's /56 (what ISPs commonly delegate to one customer).
 */
export function prefixOf(hostname: string): string {
  const address = plainAddress(hostname);
  if (!address.includes(":")) {
    const octets = address.split(".");
    return octets.length === 4 ? `${octets.slice(0, 3).join(".")}.0/24` : address;
  }
  const groups = ipv6Groups(address);
  const fourth = ((parseInt(groups[3] ?? "0", 16) || 0) & 0xff00).toString(16);
  return `${groups.slice(0, 3).join(":")}:${fourth}::/56`;
}

/** The address without brackets or zone, lower case; IPv4-mapped IPv6 as IPv4. */
function plainAddress(hostname: string): string {
  const address = hostname.replace(/^\[|\]$/g, "").replace(/%.*$/, "").toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  return mapped ? mapped[1] : address;
}

/** The eight groups of an IPv6 address, without leading zeros. */
function ipv6Groups(address: string): string[] {
  const [head, tail = ""] = address.split("::", 2);
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = address.includes("::") && tail !== "" ? tail.split(":") : [];
  const groups = address.includes("::")
    ? [
      ...headGroups,
      ...Array(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill("0"),
      ...tailGroups,
    ]
    : headGroups;
  return groups.map((group) => group.replace(/^0+(?=.)/, "") || "0");
}

/** Open connections per source, each source capped at `max` (0: no cap). */
export class ConnectionSources {
  readonly #max: number;
  readonly #open = new Map<string, number>();

  constructor(max: number) {
    this.#max = max;
  }

  /** Counts a new connection from `source`; false (and nothing counted) when it is full. */
  tryAdd(source: string): boolean {
    const open = this.#open.get(source) ?? 0;
    if (this.#max > 0 && open >= this.#max) return false;
    this.#open.set(source, open + 1);
    return true;
  }

  /** A connection from `source` ended. */
  remove(source: string): void {
    const left = (this.#open.get(source) ?? 1) - 1;
    if (left > 0) this.#open.set(source, left);
    else this.#open.delete(source);
  }
}
