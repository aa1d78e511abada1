/**
 * Which IP addresses a Web Push request may go to. Endpoints come from users, so without this
 * the server would be an open proxy into the operator's network: only global unicast
 * addresses pass, classified by ipaddr.js (IPv4-mapped IPv6 is judged as the IPv4 address it
 * carries; IPv4-compatible IPv6 (`::/96` but `::` and `::1`, deprecated), NAT64, 6to4 and
 * Teredo, which embed IPv4 addresses, are refused outright).
 *
 * @module
 */

import ipaddr from "ipaddr.js";

/** Ranges a configuration with `allowPrivate` may reach (tests, a push service on the LAN). */
const PRIVATE_RANGES: ReadonlySet<string> = new Set([
  "loopback",
  "private",
  "uniqueLocal",
  "linkLocal",
  "carrierGradeNat",
]);

/** `::/96`: ipaddr.js calls its IPv4-compatible addresses (`::7f00:1` = `::127.0.0.1`) unicast. */
const IPV4_COMPATIBLE: [ipaddr.IPv6, number] = [ipaddr.IPv6.parse("::"), 96];

/** How an address is judged. */
export interface AddressVerdict {
  /** The address in canonical form (IPv4-mapped IPv6 unwrapped), as to connect to. */
  readonly address: string;
  readonly family: 4 | 6;
  /** ipaddr.js's range name: "unicast" for global unicast, else e.g. "loopback", "private". */
  readonly range: string;
  /** Whether a request may go there under the given setting. */
  readonly allowed: boolean;
}

/** Judges one IP address (without brackets); null when `text` is not an IP address. */
export function judgeAddress(text: string, allowPrivate: boolean): AddressVerdict | null {
  if (!ipaddr.isValid(text)) return null;
  const parsed = ipaddr.process(text);
  let range: string = parsed.range();
  if (range === "unicast" && parsed.kind() === "ipv6" && parsed.match(IPV4_COMPATIBLE)) {
    range = "ipv4Compatible";
  }
  const family = parsed.kind() === "ipv4" ? 4 : 6;
  return {
    address: parsed.toString(),
    family,
    range,
    allowed: range === "unicast" || (allowPrivate && PRIVATE_RANGES.has(range)),
  };
}
