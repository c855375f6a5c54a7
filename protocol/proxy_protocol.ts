/**
 * The PROXY protocol, versions 1 and 2, receiving side, sans-IO: a load balancer in TCP mode
 * (HAProxy `send-proxy` / `send-proxy-v2`, AWS NLB, …) puts one header in front of the client's
 * bytes that names the real client; {@linkcode ProxyHeaderParser} reads that header from bytes
 * as they arrive and hands back what follows it.
 *
 * Section numbers refer to HAProxy's "The PROXY protocol, Versions 1 & 2" (2020/03/05):
 * §2.1 the text header (v1), §2.2 the binary header (v2) and §2.2.1–§2.2.7 its TLVs.
 *
 * Everything is bounded: a v1 line is at most 107 bytes (§2.1), a v2 header at most
 * {@linkcode ProxyHeaderParserOptions.maxLength} bytes (its 16-bit length field alone would
 * allow 65 551). Anything that breaks a rule of the spec is an {@linkcode RtmpError} `MALFORMED`
 * saying what was expected and what came, raised as soon as the offending byte arrives.
 *
 * The IPv4/IPv6 text helpers ({@linkcode parseIpAddress}, {@linkcode formatIpAddress}) live here
 * because the v1 header defines the address syntax the rest of the library accepts too.
 *
 * @example Parse a header that arrives in two pieces
 * ```ts
 * import { ProxyHeaderParser } from "./proxy_protocol.ts";
 * const parser = new ProxyHeaderParser();
 * const text = new TextEncoder();
 * console.log(parser.push(text.encode("PROXY TCP4 192.168.0.1 ")).done); // false
 * const result = parser.push(text.encode("192.168.0.11 56324 443\r\nhello"));
 * if (result.done) console.log(result.header.source, result.remainder.length);
 * // { hostname: "192.168.0.1", port: 56324 } 5
 * ```
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { copyBytes, utf8Decode } from "./bytes.ts";

/** §2.1: the longest v1 line a receiver must accept, CRLF included ("worst case"). */
export const PROXY_V1_MAX_LENGTH = 107;

/** §2.2: the 12-byte block every v2 header starts with. */
export const PROXY_V2_SIGNATURE: Uint8Array = Uint8Array.of(
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
);

/** §2.2: signature, version/command, family/protocol and the 16-bit length. */
const V2_FIXED_LENGTH = 16;

/** The largest v2 header the 16-bit length field can describe. */
const V2_ABSOLUTE_MAX = V2_FIXED_LENGTH + 0xffff;

/**
 * Default bound on a whole v2 header. The address block is at most 216 bytes (AF_UNIX); the
 * TLVs HAProxy sends (SSL with version, cipher, algorithms and client CN, authority up to 255,
 * unique ID up to 128, CRC32C) stay well under 1 KiB, and cloud balancers add a few dozen bytes.
 */
const V2_DEFAULT_MAX = 2048;

/** "PROXY " — §2.1: the protocol name and exactly one space. */
const V1_PREFIX = Uint8Array.of(0x50, 0x52, 0x4f, 0x58, 0x59, 0x20);

const CR = 0x0d;
const LF = 0x0a;

/** §2.2.1–§2.2.7: registered TLV types. */
const PP2_TYPE_ALPN = 0x01;
const PP2_TYPE_AUTHORITY = 0x02;
const PP2_TYPE_CRC32C = 0x03;
const PP2_TYPE_NOOP = 0x04;
const PP2_TYPE_UNIQUE_ID = 0x05;
const PP2_TYPE_SSL = 0x20;
const PP2_SUBTYPE_SSL_VERSION = 0x21;
const PP2_SUBTYPE_SSL_CN = 0x22;
const PP2_SUBTYPE_SSL_CIPHER = 0x23;
const PP2_SUBTYPE_SSL_SIG_ALG = 0x24;
const PP2_SUBTYPE_SSL_KEY_ALG = 0x25;
const PP2_TYPE_NETNS = 0x30;

/** §2.2.6: bits of the SSL TLV's `client` field. */
const PP2_CLIENT_SSL = 0x01;
const PP2_CLIENT_CERT_CONN = 0x02;
const PP2_CLIENT_CERT_SESS = 0x04;

/** §2.2.5: a unique ID is at most 128 bytes. */
const UNIQUE_ID_MAX = 128;

/**
 * What the proxied connection was, as the header names it. v1 knows `TCP4`, `TCP6` and
 * `UNKNOWN` (§2.1); v2 adds UDP and UNIX sockets (§2.2, byte 14). `UNKNOWN` also stands for a v2
 * AF_UNSPEC family or UNSPEC transport.
 *
 * @example
 * ```ts
 * import type { ProxyTransport } from "./proxy_protocol.ts";
 * const t: ProxyTransport = "TCP4";
 * ```
 */
export type ProxyTransport =
  | "TCP4"
  | "TCP6"
  | "UDP4"
  | "UDP6"
  | "UNIX_STREAM"
  | "UNIX_DGRAM"
  | "UNKNOWN";

/**
 * An IP endpoint named by a header. IPv6 hostnames are in RFC 5952 form (`2001:db8::1`), an
 * IPv4-mapped IPv6 address as `::ffff:192.0.2.1`, like Node reports socket addresses.
 *
 * @example
 * ```ts
 * import type { ProxyAddress } from "./proxy_protocol.ts";
 * const a: ProxyAddress = { hostname: "192.0.2.1", port: 56324 };
 * ```
 */
export interface ProxyAddress {
  /** IP address in canonical text form. */
  hostname: string;
  /** TCP or UDP port. */
  port: number;
}

/**
 * A TLV of a v2 header (§2.2): its type and a copy of its value.
 *
 * @example
 * ```ts
 * import type { ProxyTlv } from "./proxy_protocol.ts";
 * const noop: ProxyTlv = { type: 0x04, value: new Uint8Array(0) };
 * ```
 */
export interface ProxyTlv {
  /** Type byte, e.g. `0x20` for PP2_TYPE_SSL. */
  type: number;
  /** The value bytes (owned by the header, not shared with the input). */
  value: Uint8Array;
}

/**
 * What the PP2_TYPE_SSL TLV says about the client's side of the proxy (§2.2.6).
 *
 * @example
 * ```ts
 * import type { ProxySslInfo } from "./proxy_protocol.ts";
 * function describe(ssl: ProxySslInfo): string {
 *   return ssl.tls ? `${ssl.version} ${ssl.commonName ?? "(no client certificate)"}` : "plain";
 * }
 * ```
 */
export interface ProxySslInfo {
  /** The raw `client` bit field (PP2_CLIENT_SSL 0x01, CERT_CONN 0x02, CERT_SESS 0x04). */
  client: number;
  /** PP2_CLIENT_SSL: the client connected to the proxy over TLS. */
  tls: boolean;
  /** PP2_CLIENT_CERT_CONN: the client sent a certificate on this connection. */
  certificateOnConnection: boolean;
  /** PP2_CLIENT_CERT_SESS: the client sent a certificate at least once in this TLS session. */
  certificateInSession: boolean;
  /**
   * The raw `verify` field: 0 when the client's certificate was verified, non-zero otherwise.
   * Meaningful only together with one of the certificate flags.
   */
  verifyResult: number;
  /** PP2_SUBTYPE_SSL_VERSION, e.g. `TLSv1.3`. */
  version?: string;
  /** PP2_SUBTYPE_SSL_CN: the Common Name of the client certificate's subject. */
  commonName?: string;
  /** PP2_SUBTYPE_SSL_CIPHER, e.g. `ECDHE-RSA-AES128-GCM-SHA256`. */
  cipher?: string;
  /** PP2_SUBTYPE_SSL_SIG_ALG, e.g. `RSA-SHA256`. */
  signatureAlgorithm?: string;
  /** PP2_SUBTYPE_SSL_KEY_ALG, e.g. `RSA2048`. */
  keyAlgorithm?: string;
  /** Every sub-TLV, known or not. */
  tlvs: ProxyTlv[];
}

/**
 * A parsed PROXY protocol header.
 *
 * `source` is the real client and `destination` the address it connected to (the balancer's
 * front end). Both are `null` when the header carries no usable IP endpoints: a v2 `LOCAL`
 * command (a health check by the proxy itself, §2.2), `UNKNOWN`, or a UNIX socket. The receiver
 * then uses the real connection's addresses.
 *
 * @example
 * ```ts
 * import type { ProxyHeader } from "./proxy_protocol.ts";
 * function client(header: ProxyHeader, peer: string): string {
 *   return header.source?.hostname ?? peer;
 * }
 * ```
 */
export interface ProxyHeader {
  /** 1 for the text header (§2.1), 2 for the binary one (§2.2). */
  version: 1 | 2;
  /** `PROXY` for a relayed connection; `LOCAL` (v2 only) for the proxy's own connection. */
  command: "PROXY" | "LOCAL";
  /** The proxied transport and family. */
  transport: ProxyTransport;
  /** The real client, or `null` (see above). */
  source: ProxyAddress | null;
  /** The address the client connected to, or `null` (see above). */
  destination: ProxyAddress | null;
  /** Bytes the header took on the wire. */
  length: number;
  /** Every TLV of a v2 header (empty for v1), including the ones decoded below. */
  tlvs: ProxyTlv[];
  /** PP2_TYPE_ALPN (§2.2.1): the application protocol negotiated with the client, e.g. `h2`. */
  alpn?: string;
  /** PP2_TYPE_AUTHORITY (§2.2.2): the host name the client asked for (TLS SNI). */
  authority?: string;
  /** PP2_TYPE_UNIQUE_ID (§2.2.5): the proxy's opaque ID of the connection. */
  uniqueId?: Uint8Array;
  /** PP2_TYPE_NETNS (§2.2.7): the network namespace name. */
  netns?: string;
  /** PP2_TYPE_SSL (§2.2.6). */
  ssl?: ProxySslInfo;
  /** Whether a PP2_TYPE_CRC32C checksum (§2.2.3) was present (and, since it parsed, valid). */
  checksummed: boolean;
}

/**
 * Options of {@linkcode ProxyHeaderParser}.
 *
 * @example
 * ```ts
 * import type { ProxyHeaderParserOptions } from "./proxy_protocol.ts";
 * const o: ProxyHeaderParserOptions = { maxLength: 512 };
 * ```
 */
export interface ProxyHeaderParserOptions {
  /**
   * Largest v2 header accepted, in bytes (16-byte fixed part included): a longer one is an
   * `LIMIT_EXCEEDED` error before its body is buffered. Default 2048; at most 65 551. v1 lines
   * are always bounded by 107 bytes (§2.1).
   */
  maxLength?: number;
}

/**
 * What {@linkcode ProxyHeaderParser.push} returns: either more bytes are needed, or the header is
 * complete and `remainder` holds the bytes of the same chunk that followed it (a view into the
 * pushed chunk, not a copy).
 *
 * @example
 * ```ts
 * import type { ProxyParseResult } from "./proxy_protocol.ts";
 * function clientOf(r: ProxyParseResult): string | undefined {
 *   return r.done ? r.header.source?.hostname : undefined;
 * }
 * ```
 */
export type ProxyParseResult =
  | { done: false }
  | { done: true; header: ProxyHeader; remainder: Uint8Array };

/**
 * What the first bytes of a connection are: a v1 header (`"PROXY "`), a v2 header (the 12-byte
 * signature), neither, or too few bytes to tell.
 *
 * @example
 * ```ts
 * import { detectProxyHeader } from "./proxy_protocol.ts";
 * console.log(detectProxyHeader(new Uint8Array([0x03]))); // "none" (an RTMP C0)
 * console.log(detectProxyHeader(new TextEncoder().encode("PRO"))); // "incomplete"
 * ```
 *
 * @param bytes The first bytes received.
 * @returns `"v1"`, `"v2"`, `"none"` or `"incomplete"`.
 */
export function detectProxyHeader(bytes: Uint8Array): "v1" | "v2" | "none" | "incomplete" {
  const v1 = prefixState(bytes, V1_PREFIX);
  if (v1 === "match") return "v1";
  const v2 = prefixState(bytes, PROXY_V2_SIGNATURE);
  if (v2 === "match") return "v2";
  return v1 === "mismatch" && v2 === "mismatch" ? "none" : "incomplete";
}

function prefixState(bytes: Uint8Array, prefix: Uint8Array): "match" | "mismatch" | "partial" {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return "mismatch";
  return n === prefix.length ? "match" : "partial";
}

/** Names what a connection sent instead of a header, for the error message. */
function describeStart(bytes: Uint8Array): string {
  const hex = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(" ");
  const hint = bytes[0] === 0x03
    ? " (an RTMP handshake: the client bypassed the proxy, or the proxy sends no header)"
    : bytes[0] === 0x16
    ? " (a TLS ClientHello: the client bypassed the proxy, or the proxy sends no header)"
    : "";
  return `bytes ${hex}${hint}`;
}

function malformed(message: string): RtmpError {
  return new RtmpError("MALFORMED", `PROXY protocol: ${message}`);
}

/**
 * Reads one PROXY protocol header (v1 or v2, whichever arrives) from bytes pushed as they come.
 *
 * `push()` returns `{ done: false }` until the header is complete, then the header and the rest
 * of that chunk; it throws {@linkcode RtmpError} `MALFORMED` as soon as the bytes cannot be a
 * valid header (and `LIMIT_EXCEEDED` for a v2 header over `maxLength`). After a failure every
 * further `push()` throws the same error; after success it throws `INVALID_ARGUMENT`. Bytes kept
 * between pushes are copied, so the caller may reuse its buffers.
 *
 * @example A v2 header for TCP over IPv4
 * ```ts
 * import { PROXY_V2_SIGNATURE, ProxyHeaderParser } from "./proxy_protocol.ts";
 * const header = new Uint8Array([
 *   ...PROXY_V2_SIGNATURE, 0x21, 0x11, 0x00, 0x0c, // v2 PROXY, TCP over IPv4, 12 bytes follow
 *   127, 0, 0, 2, 127, 0, 0, 1, 0xc3, 0x50, 0x07, 0x8f, // 127.0.0.2:50000 → 127.0.0.1:1935
 * ]);
 * const result = new ProxyHeaderParser().push(header);
 * if (result.done) console.log(result.header.source); // { hostname: "127.0.0.2", port: 50000 }
 * ```
 */
export class ProxyHeaderParser {
  #maxLength: number;
  #buffer = new Uint8Array(PROXY_V1_MAX_LENGTH);
  #length = 0;
  /** 0 while the first bytes are being matched against both prefixes. */
  #version: 0 | 1 | 2 = 0;
  /** Total v2 header length, once the fixed part is in. */
  #total = 0;
  #error: RtmpError | null = null;
  #done = false;

  /**
   * Creates a parser for one connection.
   *
   * @param options The bound on v2 headers.
   */
  constructor(options: ProxyHeaderParserOptions = {}) {
    const max = options.maxLength ?? V2_DEFAULT_MAX;
    if (!Number.isInteger(max) || max < V2_FIXED_LENGTH || max > V2_ABSOLUTE_MAX) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `PROXY protocol: expected maxLength as an integer in ` +
          `${V2_FIXED_LENGTH}..${V2_ABSOLUTE_MAX}, got ${String(max)}`,
      );
    }
    this.#maxLength = max;
  }

  /** Header bytes received and kept so far. */
  get buffered(): number {
    return this.#length;
  }

  /**
   * Feeds the next bytes of the connection.
   *
   * @param chunk Bytes as received (not kept: what is needed is copied).
   * @returns `{ done: false }`, or the header and the bytes of `chunk` after it.
   * @throws {RtmpError} `MALFORMED` for bytes that break the spec, `LIMIT_EXCEEDED` for a v2
   * header over `maxLength`, `INVALID_ARGUMENT` when called after the header was complete.
   */
  push(chunk: Uint8Array): ProxyParseResult {
    if (this.#error !== null) throw this.#error;
    if (this.#done) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        "PROXY protocol: expected no more bytes for a parser whose header is complete",
      );
    }
    try {
      const offset = this.#consume(chunk);
      if (offset < 0) return { done: false };
      const header = this.#version === 1 ? this.#parseV1() : this.#parseV2();
      this.#done = true;
      return { done: true, header, remainder: chunk.subarray(offset) };
    } catch (error) {
      this.#error = error instanceof RtmpError
        ? error
        : malformed(`unexpected failure (${String(error)})`);
      throw this.#error;
    }
  }

  /** Takes header bytes from `chunk`; returns the offset just past the header, or -1. */
  #consume(chunk: Uint8Array): number {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#version === 0) {
        this.#buffer[this.#length++] = chunk[offset++];
        const kind = detectProxyHeader(this.#buffer.subarray(0, this.#length));
        if (kind === "none") {
          throw malformed(
            `expected a header starting with "PROXY " (v1) or the v2 signature, got ${
              describeStart(this.#buffer.subarray(0, this.#length))
            }`,
          );
        }
        if (kind === "v1") this.#version = 1;
        else if (kind === "v2") this.#version = 2;
      } else if (this.#version === 1) {
        const b = chunk[offset++];
        this.#buffer[this.#length++] = b;
        if (this.#v1Byte(b)) return offset;
      } else {
        const want = (this.#total === 0 ? V2_FIXED_LENGTH : this.#total) - this.#length;
        const take = Math.min(want, chunk.length - offset);
        this.#buffer.set(chunk.subarray(offset, offset + take), this.#length);
        this.#length += take;
        offset += take;
        if (this.#total === 0 && this.#length === V2_FIXED_LENGTH) this.#v2Fixed();
        if (this.#total !== 0 && this.#length === this.#total) return offset;
      }
    }
    return -1;
  }

  /** Checks the v1 byte just stored; returns whether it ended the line (§2.1). */
  #v1Byte(b: number): boolean {
    const at = this.#length - 1;
    const previous = this.#buffer[at - 1];
    if (previous === CR) {
      if (b === LF) return true;
      throw malformed(`v1: expected LF after CR at byte ${at}, got 0x${hex2(b)}`);
    }
    if (b === LF) throw malformed(`v1: expected CRLF to end the line, got a lone LF at byte ${at}`);
    if (b !== CR && (b < 0x20 || b > 0x7e)) {
      throw malformed(`v1: expected US-ASCII text, got byte 0x${hex2(b)} at ${at}`);
    }
    if (this.#length >= PROXY_V1_MAX_LENGTH) {
      throw malformed(`v1: expected CRLF within the first ${PROXY_V1_MAX_LENGTH} bytes, got none`);
    }
    return false;
  }

  /** Validates the 16-byte fixed part of a v2 header and sizes the buffer (§2.2). */
  #v2Fixed(): void {
    const b = this.#buffer;
    const versionCommand = b[12];
    if (versionCommand >> 4 !== 2) {
      throw malformed(
        `v2: expected version 2 in the high nibble of byte 13, got ${versionCommand >> 4}`,
      );
    }
    const command = versionCommand & 0x0f;
    if (command > 1) {
      throw malformed(`v2: expected command LOCAL (0) or PROXY (1), got ${command}`);
    }
    const family = b[13] >> 4;
    const protocol = b[13] & 0x0f;
    if (family > 3) {
      throw malformed(
        `v2: expected address family AF_UNSPEC, AF_INET, AF_INET6 or AF_UNIX (0..3), got ${family}`,
      );
    }
    if (protocol > 2) {
      throw malformed(`v2: expected transport UNSPEC, STREAM or DGRAM (0..2), got ${protocol}`);
    }
    const total = V2_FIXED_LENGTH + ((b[14] << 8) | b[15]);
    if (total > this.#maxLength) {
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `PROXY protocol: v2 header of ${total} bytes exceeds the limit of ${this.#maxLength}`,
      );
    }
    if (total > b.length) {
      const grown = new Uint8Array(total);
      grown.set(b.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#total = total;
  }

  #parseV1(): ProxyHeader {
    // Without the trailing CRLF; the prefix "PROXY " was matched byte by byte.
    const line = String.fromCharCode(...this.#buffer.subarray(0, this.#length - 2));
    const fields = line.split(" ");
    const base = { version: 1 as const, command: "PROXY" as const, length: this.#length };
    const transport = fields[1];
    if (transport === "UNKNOWN") {
      // §2.1: for UNKNOWN "the receiver must ignore anything presented before the CRLF".
      return { ...base, transport, source: null, destination: null, tlvs: [], checksummed: false };
    }
    if (transport !== "TCP4" && transport !== "TCP6") {
      throw malformed(`v1: expected TCP4, TCP6 or UNKNOWN after "PROXY ", got "${transport}"`);
    }
    if (fields.length !== 6) {
      throw malformed(
        `v1: expected "PROXY ${transport} SRC DST SRCPORT DSTPORT" with single spaces, got "${line}"`,
      );
    }
    const parse = transport === "TCP4" ? parseIpv4 : parseIpv6;
    const family = transport === "TCP4" ? "IPv4" : "IPv6";
    const address = (text: string, what: string): string => {
      const bytes = parse(text);
      if (bytes === null) throw malformed(`v1: expected the ${what} as ${family}, got "${text}"`);
      return formatIpAddress(bytes);
    };
    const port = (text: string, what: string): number => {
      // §2.1: decimal in 0..65535, no leading zeroes.
      const value = /^(0|[1-9][0-9]{0,4})$/.test(text) ? Number(text) : NaN;
      if (!(value <= 65535)) {
        throw malformed(`v1: expected the ${what} as a decimal in 0..65535, got "${text}"`);
      }
      return value;
    };
    return {
      ...base,
      transport,
      source: {
        hostname: address(fields[2], "source address"),
        port: port(fields[4], "source port"),
      },
      destination: {
        hostname: address(fields[3], "destination address"),
        port: port(fields[5], "destination port"),
      },
      tlvs: [],
      checksummed: false,
    };
  }

  #parseV2(): ProxyHeader {
    const b = this.#buffer.subarray(0, this.#total);
    const command = (b[12] & 0x0f) === 1 ? "PROXY" : "LOCAL";
    const family = b[13] >> 4;
    const protocol = b[13] & 0x0f;
    const transport = v2Transport(family, protocol);
    const header: ProxyHeader = {
      version: 2,
      command,
      transport,
      source: null,
      destination: null,
      length: b.length,
      tlvs: [],
      checksummed: false,
    };
    if ((family === 0) !== (protocol === 0)) {
      // A family without a transport (or the reverse) is none of the §2.2 combinations, so where
      // its addresses end is unknown: the block is skipped whole, as §2.2 allows for UNSPEC.
      return header;
    }
    // §2.2: IPv4 and IPv6 addresses are 4 and 16 bytes each, followed by two 2-byte ports; UNIX
    // addresses are 108 bytes each; AF_UNSPEC has none, so TLVs start right after the length.
    const addressLength = family === 0 ? 0 : family === 1 ? 12 : family === 2 ? 36 : 216;
    const block = b.length - V2_FIXED_LENGTH;
    if (block < addressLength) {
      // §2.2: LOCAL addresses are to be discarded anyway, so a short block there is harmless.
      if (command === "LOCAL") return header;
      throw malformed(
        `v2: expected at least ${addressLength} address bytes for ${transport}, got ${block}`,
      );
    }
    if (command === "PROXY" && (family === 1 || family === 2)) {
      const size = family === 1 ? 4 : 16;
      const at = V2_FIXED_LENGTH;
      const ports = at + 2 * size;
      header.source = {
        hostname: formatIpAddress(b.subarray(at, at + size)),
        port: (b[ports] << 8) | b[ports + 1],
      };
      header.destination = {
        hostname: formatIpAddress(b.subarray(at + size, at + 2 * size)),
        port: (b[ports + 2] << 8) | b[ports + 3],
      };
    }
    readTlvs(b, V2_FIXED_LENGTH + addressLength, header);
    return header;
  }
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, "0");
}

function v2Transport(family: number, protocol: number): ProxyTransport {
  if (family === 0 || protocol === 0) return "UNKNOWN";
  const stream = protocol === 1;
  if (family === 1) return stream ? "TCP4" : "UDP4";
  if (family === 2) return stream ? "TCP6" : "UDP6";
  return stream ? "UNIX_STREAM" : "UNIX_DGRAM";
}

/** Splits `bytes[start..end)` into TLVs (§2.2: type, 16-bit length, value). */
function splitTlvs(bytes: Uint8Array, start: number, end: number, what: string): ProxyTlv[] {
  const tlvs: ProxyTlv[] = [];
  let at = start;
  while (at < end) {
    if (end - at < 3) {
      throw malformed(
        `v2: expected a 3-byte ${what} header at offset ${at}, got ${end - at} bytes`,
      );
    }
    const type = bytes[at];
    const length = (bytes[at + 1] << 8) | bytes[at + 2];
    at += 3;
    if (length > end - at) {
      throw malformed(
        `v2: ${what} 0x${hex2(type)} at offset ${at - 3} needs ${length} bytes, ${end - at} left`,
      );
    }
    tlvs.push({ type, value: copyBytes(bytes, at, at + length) });
    at += length;
  }
  return tlvs;
}

const SINGLE_TLVS: Readonly<Record<number, string>> = {
  [PP2_TYPE_ALPN]: "ALPN",
  [PP2_TYPE_AUTHORITY]: "AUTHORITY",
  [PP2_TYPE_CRC32C]: "CRC32C",
  [PP2_TYPE_UNIQUE_ID]: "UNIQUE_ID",
  [PP2_TYPE_SSL]: "SSL",
  [PP2_TYPE_NETNS]: "NETNS",
};

/** Reads the TLVs after the address block into `header`, checking the CRC32C if present. */
function readTlvs(bytes: Uint8Array, start: number, header: ProxyHeader): void {
  const tlvs = splitTlvs(bytes, start, bytes.length, "TLV");
  const seen = new Set<number>();
  let at = start;
  for (const tlv of tlvs) {
    const valueAt = at + 3;
    at = valueAt + tlv.value.length;
    const name = SINGLE_TLVS[tlv.type];
    if (name !== undefined) {
      // A second copy of a TLV that decides something would let the two ends disagree.
      if (seen.has(tlv.type)) throw malformed(`v2: expected one PP2_TYPE_${name} TLV, got two`);
      seen.add(tlv.type);
    }
    switch (tlv.type) {
      case PP2_TYPE_ALPN:
        header.alpn = utf8Decode(tlv.value);
        break;
      case PP2_TYPE_AUTHORITY:
        header.authority = utf8Decode(tlv.value);
        break;
      case PP2_TYPE_CRC32C:
        checkCrc(bytes, valueAt, tlv.value);
        header.checksummed = true;
        break;
      case PP2_TYPE_NOOP:
        break;
      case PP2_TYPE_UNIQUE_ID:
        if (tlv.value.length > UNIQUE_ID_MAX) {
          throw malformed(
            `v2: expected a PP2_TYPE_UNIQUE_ID of at most ${UNIQUE_ID_MAX} bytes, ` +
              `got ${tlv.value.length}`,
          );
        }
        header.uniqueId = tlv.value;
        break;
      case PP2_TYPE_SSL:
        header.ssl = readSsl(tlv.value);
        break;
      case PP2_TYPE_NETNS:
        header.netns = utf8Decode(tlv.value);
        break;
    }
  }
  header.tlvs = tlvs;
}

/** §2.2.3: the CRC32c of the whole header with the checksum field zeroed. */
function checkCrc(bytes: Uint8Array, valueAt: number, value: Uint8Array): void {
  if (value.length !== 4) {
    throw malformed(`v2: expected a 4-byte PP2_TYPE_CRC32C value, got ${value.length} bytes`);
  }
  const expected = ((value[0] << 24) | (value[1] << 16) | (value[2] << 8) | value[3]) >>> 0;
  const copy = copyBytes(bytes);
  copy.fill(0, valueAt, valueAt + 4);
  const actual = crc32c(copy);
  if (actual !== expected) {
    throw malformed(
      `v2: CRC32C mismatch: header says 0x${expected.toString(16).padStart(8, "0")}, bytes give 0x${
        actual.toString(16).padStart(8, "0")
      }`,
    );
  }
}

/** §2.2.6: `client` (1 byte), `verify` (4 bytes), then sub-TLVs. */
function readSsl(value: Uint8Array): ProxySslInfo {
  if (value.length < 5) {
    throw malformed(`v2: expected a PP2_TYPE_SSL value of at least 5 bytes, got ${value.length}`);
  }
  const client = value[0];
  const ssl: ProxySslInfo = {
    client,
    tls: (client & PP2_CLIENT_SSL) !== 0,
    certificateOnConnection: (client & PP2_CLIENT_CERT_CONN) !== 0,
    certificateInSession: (client & PP2_CLIENT_CERT_SESS) !== 0,
    verifyResult: ((value[1] << 24) | (value[2] << 16) | (value[3] << 8) | value[4]) >>> 0,
    tlvs: splitTlvs(value, 5, value.length, "SSL sub-TLV"),
  };
  for (const sub of ssl.tlvs) {
    const text = utf8Decode(sub.value);
    if (sub.type === PP2_SUBTYPE_SSL_VERSION) ssl.version = text;
    else if (sub.type === PP2_SUBTYPE_SSL_CN) ssl.commonName = text;
    else if (sub.type === PP2_SUBTYPE_SSL_CIPHER) ssl.cipher = text;
    else if (sub.type === PP2_SUBTYPE_SSL_SIG_ALG) ssl.signatureAlgorithm = text;
    else if (sub.type === PP2_SUBTYPE_SSL_KEY_ALG) ssl.keyAlgorithm = text;
  }
  return ssl;
}

/**
 * Parses a complete PROXY header at the start of `bytes` in one call (a new
 * {@linkcode ProxyHeaderParser} fed once).
 *
 * @example
 * ```ts
 * import { parseProxyHeader } from "./proxy_protocol.ts";
 * const r = parseProxyHeader(new TextEncoder().encode("PROXY UNKNOWN\r\n"));
 * console.log(r.done && r.header.transport); // "UNKNOWN"
 * ```
 *
 * @param bytes The first bytes of a connection.
 * @param options The bound on v2 headers.
 * @returns `{ done: false }` when `bytes` ends inside the header, else the header and the rest.
 * @throws {RtmpError} As {@linkcode ProxyHeaderParser.push}.
 */
export function parseProxyHeader(
  bytes: Uint8Array,
  options: ProxyHeaderParserOptions = {},
): ProxyParseResult {
  return new ProxyHeaderParser(options).push(bytes);
}

// ---------------------------------------------------------------------------------------------
// IP addresses in text

/** §2.1: four decimals in 0..255, no leading zeroes. */
function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(parts[i])) return null;
    const n = Number(parts[i]);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

/**
 * §2.1: colon-separated hex groups with at most one `::`, 128 bits in all. Groups of one to four
 * digits and a trailing dotted IPv4 part are accepted too, since that is what `inet_ntop()`
 * (and so HAProxy's v1 sender) prints for compressed and IPv4-mapped addresses.
 */
function parseIpv6(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 45) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (half: string): number[] | null => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIpv4(part);
        if (v4 === null) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return null;
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === null || tail === null) return null;
  // An embedded IPv4 part may only end the address.
  if (halves.length === 2 && halves[0].includes(".")) return null;
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return null;
  const all = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return out;
}

/**
 * Parses an IPv4 (`192.0.2.1`, no leading zeroes) or IPv6 (`2001:db8::1`, `::ffff:192.0.2.1`)
 * address in text form.
 *
 * @example
 * ```ts
 * import { parseIpAddress } from "./proxy_protocol.ts";
 * console.log(parseIpAddress("127.0.0.1")); // Uint8Array [127, 0, 0, 1]
 * console.log(parseIpAddress("::1")?.length); // 16
 * console.log(parseIpAddress("localhost")); // null
 * ```
 *
 * @param text The address, without brackets, zone or port.
 * @returns 4 bytes for IPv4, 16 for IPv6, or `null` when `text` is neither.
 */
export function parseIpAddress(text: string): Uint8Array | null {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

/**
 * Formats 4 or 16 address bytes as text: dotted decimal for IPv4, RFC 5952 for IPv6 (lower
 * case, the longest run of two or more zero groups as `::`), and `::ffff:a.b.c.d` for an
 * IPv4-mapped IPv6 address, as Node's sockets report it.
 *
 * @example
 * ```ts
 * import { formatIpAddress, parseIpAddress } from "./proxy_protocol.ts";
 * console.log(formatIpAddress(parseIpAddress("2001:0DB8:0:0:0:0:0:1")!)); // "2001:db8::1"
 * ```
 *
 * @param bytes A 4-byte IPv4 or 16-byte IPv6 address.
 * @returns The text form.
 * @throws {RtmpError} `INVALID_ARGUMENT` for any other length.
 */
export function formatIpAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `formatIpAddress: expected 4 or 16 bytes, got ${bytes.length}`,
    );
  }
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${formatIpAddress(bytes.subarray(12))}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hexes = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hexes.join(":");
  return `${hexes.slice(0, bestStart).join(":")}::${hexes.slice(bestStart + bestLength).join(":")}`;
}

// ---------------------------------------------------------------------------------------------
// CRC32c

let crcTable: Uint32Array | null = null;

function table(): Uint32Array {
  if (crcTable !== null) return crcTable;
  crcTable = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    // Castagnoli polynomial 0x1EDC6F41, bit-reversed (RFC 4960 Appendix B).
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    crcTable[n] = c >>> 0;
  }
  return crcTable;
}

/**
 * CRC32c (Castagnoli, RFC 4960 Appendix B), the checksum of the PP2_TYPE_CRC32C TLV (§2.2.3).
 *
 * @example
 * ```ts
 * import { crc32c } from "./proxy_protocol.ts";
 * console.log(crc32c(new TextEncoder().encode("123456789")).toString(16)); // "e3069283"
 * ```
 *
 * @param bytes The data.
 * @returns The checksum as an unsigned 32-bit integer.
 */
export function crc32c(bytes: Uint8Array): number {
  const t = table();
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = t[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
