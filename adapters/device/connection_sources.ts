/**
 * Counting open device connections per source, for the per-address connection limit.
 *
 * @module
 */

/**
 * The source a connection counts against for the per-address limit: an IPv4 address
 * (IPv4-mapped IPv6 ones included), or an IPv6 address's /64 prefix, since one host
 * commonly holds a whole /64.
 */
export function sourceOf(hostname: string): string {
  const address = hostname.replace(/^\[|\]$/g, "").replace(/%.*$/, "").toLowerCase();
  if (!address.includes(":")) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (mapped) return mapped[1];
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
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, "")).join(":")}::/64`;
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
