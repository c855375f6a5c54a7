/**
 * Which peers may speak for others: a matcher over a list of IP addresses and CIDR ranges, used
 * to accept PROXY protocol headers only from known load balancers (the spec's §5: "accepting
 * the header only from a number of known sources should be safe").
 *
 * IPv4 and IPv6 share one table: an IPv4 entry `a.b.c.d/n` is stored as the IPv4-mapped range
 * `::ffff:a.b.c.d/(96+n)`, so it also matches the `::ffff:a.b.c.d` form a dual-stack socket
 * reports for an IPv4 peer, and an IPv6 entry such as `::/0` covers IPv4 peers too.
 *
 * @example
 * ```ts
 * import { trustedSources } from "./trusted.ts";
 * const trusted = trustedSources(["10.0.0.0/8", "2001:db8::/32"]);
 * console.log(trusted.has("10.1.2.3"), trusted.has("::ffff:10.1.2.3"), trusted.has("8.8.8.8"));
 * // true true false
 * ```
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { parseIpAddress } from "../protocol/proxy_protocol.ts";

/**
 * The default trusted sources: loopback only (`127.0.0.0/8` and `::1`), i.e. a balancer on the
 * same host.
 *
 * @example
 * ```ts
 * import { DEFAULT_TRUSTED_PROXIES, trustedSources } from "./trusted.ts";
 * console.log(DEFAULT_TRUSTED_PROXIES, trustedSources().has("127.0.0.2")); // [...] true
 * ```
 */
export const DEFAULT_TRUSTED_PROXIES: readonly string[] = Object.freeze(["127.0.0.0/8", "::1"]);

/**
 * A set of trusted addresses, built by {@linkcode trustedSources}.
 *
 * @example
 * ```ts
 * import type { TrustedSources } from "./trusted.ts";
 * function check(trusted: TrustedSources, peer: string): void {
 *   if (!trusted.has(peer)) console.log(`${peer} is not one of ${trusted.entries.join(", ")}`);
 * }
 * ```
 */
export interface TrustedSources {
  /** The entries as given (after trimming). */
  readonly entries: readonly string[];
  /**
   * Whether `address` (IPv4, IPv6, IPv4-mapped IPv6; brackets and a `%zone` are ignored) falls
   * in one of the entries. Anything that is not an IP address is untrusted.
   */
  has(address: string): boolean;
}

interface Range {
  bytes: Uint8Array;
  bits: number;
}

/** IPv4 bytes as the IPv4-mapped IPv6 address `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2). */
function toV6(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16) return bytes;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(bytes, 12);
  return out;
}

/** Strips `[...]` and a `%zone` suffix, as socket APIs may report IPv6 peers. */
function bare(address: string): string {
  let text = address.trim();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const zone = text.indexOf("%");
  return zone >= 0 ? text.slice(0, zone) : text;
}

function inRange(address: Uint8Array, range: Range): boolean {
  const whole = range.bits >> 3;
  for (let i = 0; i < whole; i++) if (address[i] !== range.bytes[i]) return false;
  const rest = range.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (address[whole] & mask) === (range.bytes[whole] & mask);
}

function parseEntry(entry: string): Range {
  const slash = entry.indexOf("/");
  const addressText = slash < 0 ? entry : entry.slice(0, slash);
  const parsed = parseIpAddress(bare(addressText));
  if (parsed === null) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `trusted proxies: expected an IPv4/IPv6 address or CIDR range, got "${entry}"`,
    );
  }
  const width = parsed.length * 8;
  let bits = width;
  if (slash >= 0) {
    const prefix = entry.slice(slash + 1);
    bits = /^(0|[1-9][0-9]{0,2})$/.test(prefix) ? Number(prefix) : NaN;
    if (!(bits <= width)) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `trusted proxies: expected a prefix length in 0..${width} in "${entry}", got "${prefix}"`,
      );
    }
  }
  const bytes = toV6(parsed);
  const range = { bytes, bits: bits + (parsed.length === 4 ? 96 : 0) };
  // Host bits set ("10.0.0.1/8") are almost always a typo for a narrower or wider range.
  for (let bit = range.bits; bit < 128; bit++) {
    if ((bytes[bit >> 3] >> (7 - (bit & 7))) & 1) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `trusted proxies: "${entry}" has bits set beyond its /${bits} prefix; expected the ` +
          `network address of the range`,
      );
    }
  }
  return range;
}

/**
 * Builds a matcher over `list`: IP addresses (`192.0.2.7`, `::1`, `::ffff:127.0.0.1`) and CIDR
 * ranges (`10.0.0.0/8`, `fd00::/8`, `0.0.0.0/0` for every IPv4 peer, `::/0` for every peer).
 *
 * @example
 * ```ts
 * import { trustedSources } from "./trusted.ts";
 * console.log(trustedSources().has("::ffff:127.0.0.1")); // true: loopback by default
 * console.log(trustedSources(["192.0.2.0/24"]).has("127.0.0.1")); // false
 * ```
 *
 * @param list Entries; default {@linkcode DEFAULT_TRUSTED_PROXIES} (loopback only). An empty
 * list trusts nobody.
 * @returns The matcher.
 * @throws {RtmpError} `INVALID_ARGUMENT` naming the first entry that is not an address or range.
 */
export function trustedSources(
  list: readonly string[] = DEFAULT_TRUSTED_PROXIES,
): TrustedSources {
  if (!Array.isArray(list)) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `trusted proxies: expected an array of addresses or CIDR ranges, got ${typeof list}`,
    );
  }
  const entries = list.map((entry) => {
    if (typeof entry !== "string") {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `trusted proxies: expected address strings, got ${typeof entry}`,
      );
    }
    return entry.trim();
  });
  const ranges = entries.map(parseEntry);
  return {
    entries: Object.freeze(entries),
    has(address: string): boolean {
      if (typeof address !== "string") return false;
      const parsed = parseIpAddress(bare(address));
      if (parsed === null) return false;
      const v6 = toV6(parsed);
      return ranges.some((range) => inRange(v6, range));
    },
  };
}

/**
 * Splits a comma- or whitespace-separated list, as given to a `--trusted-proxies` flag, into
 * entries for {@linkcode trustedSources}.
 *
 * @example
 * ```ts
 * import { parseTrustedList } from "./trusted.ts";
 * console.log(parseTrustedList("127.0.0.1, 10.0.0.0/8 ::1")); // ["127.0.0.1", "10.0.0.0/8", "::1"]
 * ```
 *
 * @param text The flag's value.
 * @returns The non-empty entries, in order.
 */
export function parseTrustedList(text: string): string[] {
  return text.split(/[\s,]+/).filter((entry) => entry !== "");
}
