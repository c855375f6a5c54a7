/**
 * The Server Name Indication rule shared by the socket adapters.
 *
 * RFC 6066 §3: the `HostName` in SNI is a DNS host name, "Literal IPv4 and IPv6 addresses are
 * not permitted", and it carries no trailing dot. A client connecting to `rtmps://127.0.0.1/…`
 * therefore sends no SNI at all and checks the certificate against the address instead. Some
 * servers reject a handshake whose SNI is an address, so this matters beyond pedantry.
 *
 * @module
 */

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Whether `host` is a literal IP address (IPv4 dotted quad, or IPv6 with or without brackets
 * and zone id) rather than a DNS name.
 *
 * @example
 * ```ts
 * import { isIpLiteral } from "./sni.ts";
 * console.log(isIpLiteral("127.0.0.1"), isIpLiteral("[::1]"), isIpLiteral("localhost")); // true true false
 * ```
 *
 * @param host A host name or address.
 * @returns `true` for an address.
 */
export function isIpLiteral(host: string): boolean {
  // A DNS name never contains ":"; every IPv6 form does.
  return IPV4.test(host) || host.includes(":");
}

/**
 * The name to send in SNI for `host`, or `undefined` when none may be sent (an IP literal, or
 * nothing left once the trailing dot of an absolute name is dropped).
 *
 * @example
 * ```ts
 * import { sniName } from "./sni.ts";
 * console.log(sniName("a.rtmps.youtube.com."), sniName("127.0.0.1"), sniName("::1")); // a.rtmps.youtube.com undefined undefined
 * ```
 *
 * @param host The host the certificate must be valid for.
 * @returns The SNI host name, or `undefined` to send none.
 */
export function sniName(host: string): string | undefined {
  if (isIpLiteral(host)) return undefined;
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  return name === "" ? undefined : name;
}
