/**
 * The PROXY protocol parser against the examples and rules of HAProxy's spec ("The PROXY
 * protocol, Versions 1 & 2", 2020/03/05), hand-written v2 layouts, and a seeded fuzz run.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import {
  crc32c,
  detectProxyHeader,
  formatIpAddress,
  parseIpAddress,
  parseProxyHeader,
  PROXY_V1_MAX_LENGTH,
  PROXY_V2_SIGNATURE,
  type ProxyHeader,
  ProxyHeaderParser,
  type ProxyParseResult,
} from "../protocol/proxy_protocol.ts";
import { RtmpError } from "../errors.ts";
import { asc, cat, prng, throwsCode, u16, u32 } from "./support/util.ts";

// Reproduce a failure with RTMP_TEST_SEED=<seed printed below>.
const SEED = process.env.RTMP_TEST_SEED !== undefined
  ? Number(process.env.RTMP_TEST_SEED) >>> 0
  : 0x5eed_1515;
console.log(`proxy_protocol_test seed: ${SEED} (set RTMP_TEST_SEED=${SEED} to reproduce)`);

const SIG = [...PROXY_V2_SIGNATURE];

/** A v2 header: signature, version/command byte, family byte, then `body` with its length. */
function v2(versionCommand: number, family: number, body: number[]): Uint8Array {
  return Uint8Array.from([...SIG, versionCommand, family, ...u16(body.length), ...body]);
}

/** TCP over IPv4 addresses 127.0.0.2:50000 → 127.0.0.1:1935 (§2.2 ipv4_addr layout). */
const IPV4_BLOCK = [127, 0, 0, 2, 127, 0, 0, 1, ...u16(50000), ...u16(1935)];

function tlv(type: number, value: number[]): number[] {
  return [type, ...u16(value.length), ...value];
}

function text(s: string): number[] {
  return [...new TextEncoder().encode(s)];
}

/** Bitwise CRC32c, written independently of the table-driven one under test. */
function slowCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Sets the CRC32C TLV value (located at `valueAt`) of `header` to the correct checksum. */
function withCrc(header: Uint8Array, valueAt: number): Uint8Array {
  const out = header.slice();
  out.fill(0, valueAt, valueAt + 4);
  out.set(u32(slowCrc32c(out)), valueAt);
  return out;
}

function done(result: ProxyParseResult): { header: ProxyHeader; remainder: Uint8Array } {
  assert.equal(result.done, true, "expected a complete header");
  if (!result.done) throw new Error("unreachable");
  return result;
}

function parseText(s: string): { header: ProxyHeader; remainder: Uint8Array } {
  return done(parseProxyHeader(asc(s)));
}

describe("PROXY protocol v1 (§2.1)", () => {
  it("parses the spec's example in front of an HTTP request", () => {
    const request = "GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";
    const { header, remainder } = parseText(
      `PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n${request}`,
    );
    assert.deepEqual(header, {
      version: 1,
      command: "PROXY",
      transport: "TCP4",
      source: { hostname: "192.168.0.1", port: 56324 },
      destination: { hostname: "192.168.0.11", port: 443 },
      length: 47,
      tlvs: [],
      checksummed: false,
    });
    assert.equal(new TextDecoder().decode(remainder), request);
  });

  it("accepts the spec's longest lines: 56 (TCP4), 104 (TCP6), 15 and 107 (UNKNOWN) bytes", () => {
    const ffff = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    const tcp4 = "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
    const tcp6 = `PROXY TCP6 ${ffff} ${ffff} 65535 65535\r\n`;
    const unknownShort = "PROXY UNKNOWN\r\n";
    const unknownLong = `PROXY UNKNOWN ${ffff} ${ffff} 65535 65535\r\n`;
    assert.deepEqual(
      [tcp4.length, tcp6.length, unknownShort.length, unknownLong.length],
      [56, 104, 15, PROXY_V1_MAX_LENGTH],
    );
    assert.deepEqual(parseText(tcp4).header.source, { hostname: "255.255.255.255", port: 65535 });
    assert.deepEqual(parseText(tcp6).header.destination, { hostname: ffff, port: 65535 });
    for (const line of [unknownShort, unknownLong]) {
      const { header } = parseText(line);
      assert.equal(header.transport, "UNKNOWN");
      assert.equal(header.source, null);
      assert.equal(header.destination, null);
      assert.equal(header.length, line.length);
    }
  });

  it("rejects a line with no CRLF in the first 107 bytes", () => {
    const long = `PROXY UNKNOWN ${"x".repeat(PROXY_V1_MAX_LENGTH)}`;
    const parser = new ProxyHeaderParser();
    throwsCode(() => parser.push(asc(long)), "MALFORMED", "within the first 107 bytes");
    // 106 bytes without CRLF still wait for more.
    assert.equal(parseProxyHeader(asc(long.slice(0, 106))).done, false);
  });

  it("reads IPv6 in compressed and IPv4-mapped form (as inet_ntop prints) into RFC 5952 text", () => {
    const { header } = parseText("PROXY TCP6 ::FFFF:127.0.0.2 2001:0DB8:0:0:0:0:0:1 1 2\r\n");
    assert.deepEqual(header.source, { hostname: "::ffff:127.0.0.2", port: 1 });
    assert.deepEqual(header.destination, { hostname: "2001:db8::1", port: 2 });
    assert.deepEqual(parseText("PROXY TCP6 ::1 :: 0 0\r\n").header.source, {
      hostname: "::1",
      port: 0,
    });
  });

  const bad: Array<[string, string]> = [
    ["PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n", "lone LF"],
    ["PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rX", "expected LF after CR"],
    ["PROXY TCP4 192.168.01.1 192.168.0.11 56324 443\r\n", "source address as IPv4"],
    ["PROXY TCP4 192.168.0.1 192.168.0.256 56324 443\r\n", "destination address as IPv4"],
    ["PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n", "source port"],
    ["PROXY TCP4 192.168.0.1 192.168.0.11 56324 65536\r\n", "destination port"],
    ["PROXY TCP4 ::1 ::1 1 2\r\n", "source address as IPv4"],
    ["PROXY TCP6 127.0.0.1 ::1 1 2\r\n", "source address as IPv6"],
    ["PROXY TCP6 1::2::3 ::1 1 2\r\n", "source address as IPv6"],
    ["PROXY TCP4 192.168.0.1  192.168.0.11 56324 443\r\n", "single spaces"],
    ["PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n", "single spaces"],
    ["PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n", "single spaces"],
    ["PROXY TCP5 192.168.0.1 192.168.0.11 56324 443\r\n", 'got "TCP5"'],
    ["PROXY UNKNOWNX\r\n", 'got "UNKNOWNX"'],
    ["PROXY \r\n", 'got ""'],
    ["PROXY TCP4 1.2.3.4 1.2.3.4 1 2\t\r\n", "US-ASCII text"],
    ["PROXY\r\n", 'starting with "PROXY "'],
    ["PROXZ", 'starting with "PROXY "'],
  ];
  for (const [line, message] of bad) {
    it(`rejects ${JSON.stringify(line)}`, () => {
      throwsCode(() => parseProxyHeader(asc(line)), "MALFORMED", message);
    });
  }

  it("rejects non-ASCII bytes at once", () => {
    throwsCode(
      () => parseProxyHeader(Uint8Array.from([...asc("PROXY TCP4 "), 0xc3, 0xa9])),
      "MALFORMED",
      "byte 0xc3",
    );
  });
});

describe("PROXY protocol v2 (§2.2)", () => {
  it("parses TCP over IPv4 with nothing after the addresses", () => {
    const bytes = cat(v2(0x21, 0x11, IPV4_BLOCK), asc("rtmp"));
    const { header, remainder } = done(parseProxyHeader(bytes));
    assert.deepEqual(header, {
      version: 2,
      command: "PROXY",
      transport: "TCP4",
      source: { hostname: "127.0.0.2", port: 50000 },
      destination: { hostname: "127.0.0.1", port: 1935 },
      length: 28,
      tlvs: [],
      checksummed: false,
    });
    assert.deepEqual(remainder, asc("rtmp"));
  });

  it("parses TCP over IPv6, UDP over IPv4 and a UNIX stream", () => {
    const v6 = [
      ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
      ...[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1],
      ...u16(443),
      ...u16(8443),
    ];
    const tcp6 = done(parseProxyHeader(v2(0x21, 0x21, v6))).header;
    assert.equal(tcp6.transport, "TCP6");
    assert.deepEqual(tcp6.source, { hostname: "2001:db8::7", port: 443 });
    assert.deepEqual(tcp6.destination, { hostname: "::ffff:10.0.0.1", port: 8443 });

    const udp4 = done(parseProxyHeader(v2(0x21, 0x12, IPV4_BLOCK))).header;
    assert.equal(udp4.transport, "UDP4");
    assert.deepEqual(udp4.source, { hostname: "127.0.0.2", port: 50000 });

    const unix = done(parseProxyHeader(v2(0x21, 0x31, new Array(216).fill(0x41)))).header;
    assert.equal(unix.transport, "UNIX_STREAM");
    assert.equal(unix.source, null);
    assert.equal(unix.length, 16 + 216);
  });

  it("takes LOCAL (a health check) as valid and discards its addresses", () => {
    const bare = done(parseProxyHeader(v2(0x20, 0x00, []))).header;
    assert.equal(bare.command, "LOCAL");
    assert.equal(bare.transport, "UNKNOWN");
    assert.equal(bare.source, null);
    assert.equal(bare.length, 16);
    // §2.2: "must not assume zero is presented for LOCAL connections".
    const withAddresses = done(parseProxyHeader(cat(v2(0x20, 0x11, IPV4_BLOCK), asc("x"))));
    assert.equal(withAddresses.header.source, null);
    assert.equal(withAddresses.header.length, 28);
    assert.deepEqual(withAddresses.remainder, asc("x"));
    // A LOCAL block too short for its family is skipped whole.
    const short = done(parseProxyHeader(v2(0x20, 0x11, [1, 2, 3]))).header;
    assert.equal(short.length, 19);
  });

  it("skips the block of an AF_UNSPEC/UNSPEC PROXY header and of half-specified families", () => {
    const unspec = done(parseProxyHeader(v2(0x21, 0x00, tlv(0x04, [0, 0])))).header;
    assert.equal(unspec.transport, "UNKNOWN");
    assert.deepEqual(unspec.tlvs, [{ type: 0x04, value: Uint8Array.of(0, 0) }]);
    const half = done(parseProxyHeader(v2(0x21, 0x10, [9, 9, 9]))).header;
    assert.equal(half.transport, "UNKNOWN");
    assert.equal(half.source, null);
    assert.deepEqual(half.tlvs, []);
  });

  const bad: Array<[string, Uint8Array, string]> = [
    ["version 1", v2(0x11, 0x11, IPV4_BLOCK), "expected version 2"],
    ["version 3", v2(0x31, 0x11, IPV4_BLOCK), "expected version 2"],
    ["command 2", v2(0x22, 0x11, IPV4_BLOCK), "expected command LOCAL (0) or PROXY (1)"],
    ["family 4", v2(0x21, 0x41, IPV4_BLOCK), "address family"],
    ["transport 3", v2(0x21, 0x13, IPV4_BLOCK), "transport UNSPEC, STREAM or DGRAM"],
    ["a short IPv4 block", v2(0x21, 0x11, IPV4_BLOCK.slice(0, 8)), "at least 12 address bytes"],
    ["a short IPv6 block", v2(0x21, 0x21, IPV4_BLOCK), "at least 36 address bytes"],
    ["a 2-byte TLV stub", v2(0x21, 0x11, [...IPV4_BLOCK, 0x04, 0]), "3-byte TLV header"],
    ["a TLV past the end", v2(0x21, 0x11, [...IPV4_BLOCK, 0x01, 0, 5, 1]), "needs 5 bytes, 1 left"],
    ["a short SSL TLV", v2(0x21, 0x11, [...IPV4_BLOCK, ...tlv(0x20, [1, 0, 0])]), "at least 5"],
    [
      "an SSL sub-TLV past its TLV",
      v2(0x21, 0x11, [...IPV4_BLOCK, ...tlv(0x20, [1, 0, 0, 0, 0, 0x21, 0, 9, 0x54])]),
      "SSL sub-TLV 0x21",
    ],
    [
      "two AUTHORITY TLVs",
      v2(0x21, 0x11, [...IPV4_BLOCK, ...tlv(0x02, text("a")), ...tlv(0x02, text("b"))]),
      "one PP2_TYPE_AUTHORITY",
    ],
    [
      "a 129-byte unique ID",
      v2(0x21, 0x11, [...IPV4_BLOCK, ...tlv(0x05, new Array(129).fill(1))]),
      "at most 128 bytes",
    ],
    [
      "a 3-byte CRC32C",
      v2(0x21, 0x11, [...IPV4_BLOCK, ...tlv(0x03, [1, 2, 3])]),
      "4-byte PP2_TYPE_CRC32C",
    ],
  ];
  for (const [what, bytes, message] of bad) {
    it(`rejects ${what}`, () => {
      throwsCode(() => parseProxyHeader(bytes), "MALFORMED", message);
    });
  }

  it("bounds the header length before buffering the body", () => {
    const huge = Uint8Array.from([...SIG, 0x21, 0x11, 0xff, 0xff]);
    throwsCode(() => parseProxyHeader(huge), "LIMIT_EXCEEDED", "65551 bytes exceeds the limit");
    const body = [...IPV4_BLOCK, ...tlv(0x04, new Array(100).fill(0))];
    throwsCode(
      () => parseProxyHeader(v2(0x21, 0x11, body), { maxLength: 64 }),
      "LIMIT_EXCEEDED",
      "131 bytes exceeds the limit of 64",
    );
    assert.equal(
      done(parseProxyHeader(v2(0x21, 0x11, body), { maxLength: 131 })).header.length,
      131,
    );
    throwsCode(() => new ProxyHeaderParser({ maxLength: 15 }), "INVALID_ARGUMENT", "16..65551");
  });

  it("decodes ALPN, AUTHORITY, UNIQUE_ID, NETNS and the SSL sub-TLVs; keeps unknown TLVs", () => {
    const ssl = [
      0x07, // PP2_CLIENT_SSL | CERT_CONN | CERT_SESS
      ...u32(0), // verified
      ...tlv(0x21, text("TLSv1.3")),
      ...tlv(0x22, text("client.example")),
      ...tlv(0x23, text("TLS_AES_256_GCM_SHA384")),
      ...tlv(0x24, text("RSA-SHA256")),
      ...tlv(0x25, text("RSA2048")),
      ...tlv(0x2f, [1]),
    ];
    const body = [
      ...IPV4_BLOCK,
      ...tlv(0x01, text("h2")),
      ...tlv(0x02, text("live.example.com")),
      ...tlv(0x04, [0, 0, 0]),
      ...tlv(0x05, [0xde, 0xad]),
      ...tlv(0x20, ssl),
      ...tlv(0x30, text("blue")),
      ...tlv(0xe0, [42]),
    ];
    const { header } = done(parseProxyHeader(v2(0x21, 0x11, body)));
    assert.equal(header.alpn, "h2");
    assert.equal(header.authority, "live.example.com");
    assert.deepEqual(header.uniqueId, Uint8Array.of(0xde, 0xad));
    assert.equal(header.netns, "blue");
    assert.deepEqual(header.tlvs.map((t) => t.type), [0x01, 0x02, 0x04, 0x05, 0x20, 0x30, 0xe0]);
    assert.deepEqual(header.tlvs[6].value, Uint8Array.of(42));
    assert.deepEqual(header.ssl, {
      client: 7,
      tls: true,
      certificateOnConnection: true,
      certificateInSession: true,
      verifyResult: 0,
      version: "TLSv1.3",
      commonName: "client.example",
      cipher: "TLS_AES_256_GCM_SHA384",
      signatureAlgorithm: "RSA-SHA256",
      keyAlgorithm: "RSA2048",
      tlvs: [
        { type: 0x21, value: Uint8Array.from(text("TLSv1.3")) },
        { type: 0x22, value: Uint8Array.from(text("client.example")) },
        { type: 0x23, value: Uint8Array.from(text("TLS_AES_256_GCM_SHA384")) },
        { type: 0x24, value: Uint8Array.from(text("RSA-SHA256")) },
        { type: 0x25, value: Uint8Array.from(text("RSA2048")) },
        { type: 0x2f, value: Uint8Array.of(1) },
      ],
    });
  });

  it("checks a CRC32C TLV over the whole header (§2.2.3)", () => {
    // RFC 3720 B.4 / iSCSI check value of CRC32c.
    assert.equal(crc32c(asc("123456789")), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    const body = [...IPV4_BLOCK, ...tlv(0x02, text("a.example")), ...tlv(0x03, [0, 0, 0, 0])];
    const valueAt = 16 + body.length - 4;
    const good = withCrc(v2(0x21, 0x11, body), valueAt);
    const { header } = done(parseProxyHeader(good));
    assert.equal(header.checksummed, true);
    assert.equal(header.authority, "a.example");
    const corrupt = good.slice();
    corrupt[20] ^= 1; // one bit of the source address
    throwsCode(() => parseProxyHeader(corrupt), "MALFORMED", "CRC32C mismatch");
  });
});

describe("PROXY protocol parser: incremental input", () => {
  const samples: Array<[string, Uint8Array]> = [
    ["v1", asc("PROXY TCP6 2001:db8::1 2001:db8::2 4000 1935\r\nafter")],
    ["v2", cat(v2(0x21, 0x11, [...IPV4_BLOCK, ...tlv(0x01, text("rtmp"))]), asc("after"))],
  ];
  for (const [name, bytes] of samples) {
    it(`${name}: every split point gives the one-shot result`, () => {
      const whole = done(parseProxyHeader(bytes));
      for (let split = 0; split <= bytes.length; split++) {
        const parser = new ProxyHeaderParser();
        const first = parser.push(bytes.subarray(0, split));
        const result = first.done ? first : parser.push(bytes.subarray(split));
        const r = done(result);
        assert.deepEqual(r.header, whole.header, `split at ${split}`);
        const length = whole.header.length;
        const expected = first.done ? bytes.subarray(length, split) : bytes.subarray(length);
        assert.deepEqual(r.remainder, expected, `split at ${split}`);
      }
    });

    it(`${name}: byte by byte, not done until the last header byte`, () => {
      const parser = new ProxyHeaderParser();
      const length = done(parseProxyHeader(bytes)).header.length;
      for (let i = 0; i < length - 1; i++) {
        assert.equal(parser.push(bytes.subarray(i, i + 1)).done, false, `byte ${i}`);
        assert.equal(parser.buffered, i + 1);
      }
      const last = done(parser.push(bytes.subarray(length - 1)));
      assert.deepEqual(last.remainder, asc("after"));
    });
  }

  it("copies what it keeps: reusing the input buffer does not change the result", () => {
    const bytes = asc("PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n");
    const buffer = bytes.slice(0, 20);
    const parser = new ProxyHeaderParser();
    assert.equal(parser.push(buffer).done, false);
    buffer.fill(0x58);
    assert.deepEqual(done(parser.push(bytes.subarray(20))).header.source, {
      hostname: "10.0.0.1",
      port: 1,
    });
  });

  it("rejects at the first byte that cannot start a header, naming RTMP and TLS", () => {
    throwsCode(() => parseProxyHeader(Uint8Array.of(0x03, 0, 0)), "MALFORMED", "RTMP handshake");
    throwsCode(() => parseProxyHeader(Uint8Array.of(0x16, 3, 1)), "MALFORMED", "TLS ClientHello");
    const parser = new ProxyHeaderParser();
    assert.equal(parser.push(Uint8Array.of(0x0d, 0x0a, 0x0d)).done, false);
    throwsCode(() => parser.push(Uint8Array.of(0x0d)), "MALFORMED", "0d 0a 0d 0d");
  });

  it("stays failed after an error and refuses bytes after success", () => {
    const failed = new ProxyHeaderParser();
    let first: unknown;
    try {
      failed.push(asc("GET /"));
    } catch (error) {
      first = error;
    }
    assert.ok(first instanceof RtmpError);
    assert.throws(() => failed.push(asc("PROXY UNKNOWN\r\n")), (e: unknown) => e === first);
    const parsed = new ProxyHeaderParser();
    done(parsed.push(asc("PROXY UNKNOWN\r\n")));
    throwsCode(() => parsed.push(asc("x")), "INVALID_ARGUMENT", "complete");
  });

  it("detects the kind of start", () => {
    assert.equal(detectProxyHeader(asc("PROXY ")), "v1");
    assert.equal(detectProxyHeader(asc("PROXY")), "incomplete");
    assert.equal(detectProxyHeader(PROXY_V2_SIGNATURE), "v2");
    assert.equal(detectProxyHeader(PROXY_V2_SIGNATURE.subarray(0, 11)), "incomplete");
    assert.equal(detectProxyHeader(new Uint8Array(0)), "incomplete");
    assert.equal(detectProxyHeader(asc("POST")), "none");
    assert.equal(detectProxyHeader(Uint8Array.of(0x03)), "none");
  });
});

describe("IP address text", () => {
  const canonical: Array<[string, string]> = [
    ["127.0.0.1", "127.0.0.1"],
    ["0.0.0.0", "0.0.0.0"],
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // RFC 5952 §4.2.3: the first longest run
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // §4.2.2: a single 0 stays
    ["2001:DB8::ABCD", "2001:db8::abcd"], // §4.3: lower case
    ["::ffff:192.0.2.128", "::ffff:192.0.2.128"],
    ["::ffff:c000:0280", "::ffff:192.0.2.128"],
    ["fe80::1:2:3:4", "fe80::1:2:3:4"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
  ];
  for (const [input, output] of canonical) {
    it(`${input} → ${output}`, () => {
      const bytes = parseIpAddress(input);
      assert.ok(bytes !== null);
      assert.equal(formatIpAddress(bytes), output);
    });
  }

  for (
    const input of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "01.2.3.4",
      "256.0.0.1",
      "1.2.3.-4",
      ":::",
      "1::2::3",
      "12345::",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8::",
      "::ffff:1.2.3",
      "1.2.3.4::",
      "g::1",
      "localhost",
    ]
  ) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.equal(parseIpAddress(input), null);
    });
  }

  it("formats only 4 or 16 bytes", () => {
    throwsCode(() => formatIpAddress(new Uint8Array(5)), "INVALID_ARGUMENT", "4 or 16 bytes");
  });
});

describe(`PROXY protocol fuzz (seed ${SEED})`, () => {
  const random = prng(SEED);
  const int = (n: number): number => Math.floor(random() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const octet = (): number => int(256);

  function validV1(): Uint8Array {
    const v4 = (): string => [octet(), octet(), octet(), octet()].join(".");
    const v6 = (): string =>
      formatIpAddress(Uint8Array.from({ length: 16 }, () => pick([0, octet()])));
    const port = (): number => int(65536);
    switch (int(3)) {
      case 0:
        return asc(`PROXY TCP4 ${v4()} ${v4()} ${port()} ${port()}\r\n`);
      case 1:
        return asc(`PROXY TCP6 ${v6()} ${v6()} ${port()} ${port()}\r\n`);
      default:
        return asc(`PROXY UNKNOWN${pick(["", " junk 1 2"])}\r\n`);
    }
  }

  function validV2(): Uint8Array {
    const family = pick([0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32]);
    const size = family === 0 ? 0 : family >> 4 === 1 ? 12 : family >> 4 === 2 ? 36 : 216;
    const body: number[] = Array.from({ length: size }, octet);
    // Types that may appear once (ALPN, AUTHORITY, UNIQUE_ID, SSL, NETNS) are drawn without
    // repetition; NOOP and the custom/experimental ranges may repeat.
    const once = [0x01, 0x02, 0x05, 0x20, 0x30];
    for (let n = int(5); n > 0; n--) {
      const type = int(2) === 0 && once.length > 0
        ? once.splice(int(once.length), 1)[0]
        : pick([0x04, 0xe5, 0xf1]);
      if (type === 0x20) {
        body.push(
          ...tlv(0x20, [octet(), ...u32(int(3)), ...tlv(pick([0x21, 0x22, 0x23]), text("x"))]),
        );
      } else {
        body.push(...tlv(type, Array.from({ length: int(20) }, octet)));
      }
    }
    return v2(pick([0x20, 0x21]), family, body);
  }

  function mutate(bytes: Uint8Array): Uint8Array {
    const out = [...bytes];
    for (let n = 1 + int(3); n > 0; n--) {
      const at = int(out.length + 1);
      switch (int(4)) {
        case 0:
          if (out.length > 0) out[Math.min(at, out.length - 1)] = octet();
          break;
        case 1:
          out.splice(at, 0, octet());
          break;
        case 2:
          out.splice(at, 1);
          break;
        default:
          out.length = Math.min(out.length, at);
      }
    }
    return Uint8Array.from(out);
  }

  /** Parses `bytes` in random pieces; returns the result or the RtmpError, fails on anything else. */
  function run(bytes: Uint8Array, context: string): ProxyParseResult | RtmpError {
    const parser = new ProxyHeaderParser();
    let at = 0;
    try {
      for (;;) {
        const end = at >= bytes.length ? at : Math.min(bytes.length, at + 1 + int(40));
        const result = parser.push(bytes.subarray(at, end));
        if (result.done) {
          assert.equal(result.header.length + result.remainder.length, end, context);
          return {
            done: true,
            header: result.header,
            remainder: bytes.subarray(result.header.length),
          };
        }
        if (end >= bytes.length) return result;
        at = end;
      }
    } catch (error) {
      if (!(error instanceof RtmpError)) {
        assert.fail(`seed ${SEED}: ${context} threw a non-RtmpError: ${String(error)}`);
      }
      assert.ok(
        error.code === "MALFORMED" || error.code === "LIMIT_EXCEEDED",
        `seed ${SEED}: ${context}: unexpected code ${error.code}: ${error.message}`,
      );
      return error;
    }
  }

  function sameOutcome(bytes: Uint8Array, context: string): void {
    const pieces = run(bytes, context);
    let whole: ProxyParseResult | RtmpError;
    try {
      whole = parseProxyHeader(bytes);
    } catch (error) {
      whole = error as RtmpError;
    }
    if (whole instanceof RtmpError) {
      assert.ok(pieces instanceof RtmpError, `${context}: one-shot failed, pieces did not`);
      assert.equal(pieces.message, whole.message, context);
    } else {
      assert.deepEqual(pieces, whole, `${context}: pieces and one-shot differ`);
    }
  }

  it("valid headers parse, whole and in pieces, to the same header", () => {
    for (let i = 0; i < 600; i++) {
      const bytes = cat(i % 2 === 0 ? validV1() : validV2(), asc("tail"));
      const result = run(bytes, `valid case ${i}`);
      assert.ok(!(result instanceof RtmpError), `seed ${SEED} valid case ${i}: ${String(result)}`);
      assert.equal(result.done, true, `seed ${SEED} valid case ${i}`);
      sameOutcome(bytes, `seed ${SEED} valid case ${i}`);
    }
  });

  it("mutated headers give a header, need-more, or an RtmpError; never anything else", () => {
    const counts = { done: 0, more: 0, error: 0 };
    for (let i = 0; i < 3000; i++) {
      const bytes = mutate(i % 2 === 0 ? validV1() : validV2());
      const result = run(bytes, `mutated case ${i}`);
      if (result instanceof RtmpError) counts.error++;
      else if (result.done) counts.done++;
      else counts.more++;
      sameOutcome(bytes, `seed ${SEED} mutated case ${i}`);
    }
    // The mutations must exercise all three outcomes, or the generator is broken.
    assert.ok(counts.done > 0 && counts.more > 0 && counts.error > 0, JSON.stringify(counts));
  });

  it("random bytes after either prefix never escape as anything but RtmpError", () => {
    const prefixes = [
      new Uint8Array(0),
      asc("PROXY "),
      PROXY_V2_SIGNATURE,
      Uint8Array.of(...SIG, 0x21),
    ];
    for (let i = 0; i < 3000; i++) {
      const junk = Uint8Array.from({ length: int(300) }, octet);
      sameOutcome(cat(pick(prefixes), junk), `seed ${SEED} random case ${i}`);
    }
  });
});
