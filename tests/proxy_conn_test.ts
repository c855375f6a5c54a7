/**
 * PROXY protocol on accepted connections: the trusted-source matcher, `acceptProxyHeader`, and
 * `listen({ proxyProtocol })` on every adapter usable here (nodeAdapter everywhere, denoAdapter
 * on Deno, bunAdapter on Bun), plain and TLS — first with hand-written headers from node:net
 * clients bound to other loopback addresses, then behind a real HAProxy (`send-proxy`,
 * `send-proxy-v2`, TLS passed through, and TLS terminated by HAProxy with its SSL TLVs).
 */

import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as net from "node:net";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as tls from "node:tls";
import type { RtmpError } from "../errors.ts";
import { DEFAULT_TRUSTED_PROXIES, parseTrustedList, trustedSources } from "../socket/trusted.ts";
import { PROXY_V2_SIGNATURE } from "../protocol/proxy_protocol.ts";
import { detectRuntime } from "../socket/mod.ts";
import { nodeAdapter } from "../socket/node.ts";
import {
  acceptProxyHeader,
  ProxiedConn,
  proxyHeaderOf,
  proxyProtocolSettings,
} from "../socket/proxy_conn.ts";
import type {
  Conn,
  Listener,
  NetAddress,
  ProxyProtocolOptions,
  SocketAdapter,
} from "../socket/types.ts";
import { haproxySkip, startHaproxy } from "./support/haproxy.ts";
import { removeTempDir, tempDir, waitFor } from "./support/peers.ts";
import { makeTestCert } from "./support/tls_cert.ts";
import { asc, rejectsCode, throwsCode } from "./support/util.ts";

const HOST = "127.0.0.1";
/** A second loopback address, so that "the real client" differs from the proxy's address. */
const CLIENT_HOST = "127.0.0.2";
const runtime = detectRuntime();

const adapters: Array<{ name: string; adapter: SocketAdapter }> = [
  { name: "node", adapter: nodeAdapter },
];
if (runtime === "deno") {
  adapters.push({ name: "deno", adapter: (await import("../socket/deno.ts")).denoAdapter });
}
if (runtime === "bun") {
  adapters.push({ name: "bun", adapter: (await import("../socket/bun.ts")).bunAdapter });
}

let server: { cert: string; key: string } = { cert: "", key: "" };
let serverCa = "";

before(async () => {
  const made = await makeTestCert();
  await removeTempDir(made.dir);
  server = { cert: made.cert, key: made.key };
  serverCa = made.ca;
});

/** Rejects with a clear message when `promise` takes longer than `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** A v1 header naming `client` as the source and 192.0.2.1:1935 as the destination. */
function v1Header(client: NetAddress): Uint8Array {
  return asc(`PROXY TCP4 ${client.hostname} 192.0.2.1 ${client.port} 1935\r\n`);
}

/** A v2 PROXY (or LOCAL) header for TCP over IPv4 from `client` to 192.0.2.1:1935. */
function v2Header(client: NetAddress, command: "PROXY" | "LOCAL" = "PROXY"): Uint8Array {
  const octets = client.hostname.split(".").map(Number);
  return Uint8Array.from([
    ...PROXY_V2_SIGNATURE,
    command === "PROXY" ? 0x21 : 0x20,
    0x11,
    0,
    12,
    ...octets,
    192,
    0,
    2,
    1,
    client.port >> 8,
    client.port & 0xff,
    1935 >> 8,
    1935 & 0xff,
  ]);
}

/** A TCP client from `localAddress`, connected. */
async function dial(port: number, localAddress = HOST): Promise<net.Socket> {
  const socket = net.connect({ host: HOST, port, localAddress });
  socket.setNoDelay(true);
  socket.on("error", () => {});
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    }),
    10_000,
    `connect to ${port}`,
  );
  return socket;
}

function write(socket: net.Socket, bytes: Uint8Array | string): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.write(bytes, (error) => (error ? reject(error) : resolve()))
  );
}

/** Starts TLS as a client over `raw` (after its PROXY header), verifying our test certificate. */
async function startClientTls(raw: net.Socket): Promise<tls.TLSSocket> {
  const secure = tls.connect({ socket: raw, servername: "localhost", ca: serverCa });
  secure.on("error", () => {});
  await within(
    new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", resolve);
      secure.once("error", reject);
    }),
    10_000,
    "client TLS handshake",
  );
  return secure;
}

/** Everything `socket` receives until its peer ends or closes it. */
function received(socket: net.Socket): Promise<string> {
  let text = "";
  socket.on("data", (chunk) => (text += chunk));
  return new Promise((resolve) => {
    socket.once("end", () => resolve(text));
    socket.once("close", () => resolve(text));
  });
}

/** Reads `n` bytes as text. */
async function readText(conn: Conn, n: number): Promise<string> {
  let text = "";
  while (text.length < n) {
    const chunk = await conn.read();
    if (chunk === null) throw new Error(`EOF after ${text.length} of ${n} bytes`);
    text += new TextDecoder().decode(chunk);
  }
  return text;
}

interface Rejection {
  error: RtmpError;
  peer: NetAddress;
}

/** A `proxyProtocol` listener that records what it rejects. */
async function proxyListener(
  adapter: SocketAdapter,
  useTls: boolean,
  options: ProxyProtocolOptions = {},
): Promise<{ listener: Listener; rejections: Rejection[] }> {
  const rejections: Rejection[] = [];
  const listener = await adapter.listen({
    hostname: HOST,
    port: 0,
    tls: useTls ? server : undefined,
    proxyProtocol: {
      ...options,
      onReject: (error, peer) => rejections.push({ error, peer }),
    },
  });
  return { listener, rejections };
}

function noRejections(rejections: Rejection[]): void {
  assert.equal(rejections.length, 0, rejections.map((r) => r.error.message).join("\n"));
}

async function accept(listener: Listener): Promise<Conn> {
  const conn = await within(listener.accept(), 10_000, "accept");
  assert.ok(conn !== null, "listener closed before a connection arrived");
  return conn;
}

/** Server half of the exchange every test uses: read "hello", answer "world", half-close. */
async function answer(conn: Conn): Promise<void> {
  assert.equal(await readText(conn, 5), "hello");
  await conn.write(asc("world"));
  await conn.closeWrite();
}

/** A client that sends `header` (then TLS, if asked) and "hello"; resolves what it got back. */
async function client(
  port: number,
  header: Uint8Array | null,
  useTls: boolean,
  localAddress = HOST,
): Promise<{ reply: Promise<string>; localPort: number; socket: net.Socket }> {
  const raw = await dial(port, localAddress);
  const localPort = raw.localPort ?? 0;
  if (header !== null) await write(raw, header);
  const socket = useTls ? await startClientTls(raw) : raw;
  const reply = received(socket);
  await write(socket, "hello");
  socket.end();
  return { reply, localPort, socket };
}

describe("trusted sources", () => {
  it("trusts loopback by default, in IPv4, IPv6 and IPv4-mapped form", () => {
    const trusted = trustedSources();
    assert.deepEqual(trusted.entries, DEFAULT_TRUSTED_PROXIES);
    for (const address of ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "[::1]"]) {
      assert.equal(trusted.has(address), true, address);
    }
    for (const address of ["::ffff:127.0.0.1", "::FFFF:127.1.2.3", "::1%lo"]) {
      assert.equal(trusted.has(address), true, address);
    }
    for (const address of ["128.0.0.1", "10.0.0.1", "::2", "::ffff:10.0.0.1", "", "localhost"]) {
      assert.equal(trusted.has(address), false, address);
    }
  });

  it("matches CIDR ranges at their exact boundaries", () => {
    const trusted = trustedSources([
      "10.0.0.0/8",
      "192.0.2.128/25",
      "2001:db8::/33",
      "::ffff:0:0/127",
    ]);
    assert.equal(trusted.has("10.255.255.255"), true);
    assert.equal(trusted.has("11.0.0.0"), false);
    assert.equal(trusted.has("192.0.2.128"), true);
    assert.equal(trusted.has("192.0.2.127"), false);
    assert.equal(trusted.has("2001:db8:7fff:ffff::1"), true);
    assert.equal(trusted.has("2001:db8:8000::"), false);
    assert.equal(trusted.has("0.0.0.1"), true, "::ffff:0:0/127 covers 0.0.0.0 and 0.0.0.1");
    assert.equal(trusted.has("0.0.0.2"), false);
  });

  it("trusts every peer with ::/0, every IPv4 peer with 0.0.0.0/0, nobody with []", () => {
    assert.equal(trustedSources(["::/0"]).has("203.0.113.9"), true);
    assert.equal(trustedSources(["0.0.0.0/0"]).has("203.0.113.9"), true);
    assert.equal(trustedSources(["0.0.0.0/0"]).has("2001:db8::1"), false);
    assert.equal(trustedSources([]).has("127.0.0.1"), false);
  });

  it("rejects entries that are not addresses or ranges, or have host bits set", () => {
    throwsCode(() => trustedSources(["localhost"]), "INVALID_ARGUMENT", '"localhost"');
    throwsCode(() => trustedSources(["10.0.0.0/33"]), "INVALID_ARGUMENT", "0..32");
    throwsCode(() => trustedSources(["::/129"]), "INVALID_ARGUMENT", "0..128");
    throwsCode(() => trustedSources(["10.0.0.0/08"]), "INVALID_ARGUMENT", '"08"');
    throwsCode(() => trustedSources(["10.0.0.1/8"]), "INVALID_ARGUMENT", "beyond its /8 prefix");
    throwsCode(() => trustedSources(["2001:db8::1/32"]), "INVALID_ARGUMENT", "beyond its /32");
  });

  it("splits a --trusted-proxies list", () => {
    assert.deepEqual(parseTrustedList(" 127.0.0.1,10.0.0.0/8 ::1 ,, "), [
      "127.0.0.1",
      "10.0.0.0/8",
      "::1",
    ]);
  });
});

describe("proxyProtocol options", () => {
  it("apply defaults and reject bad values at listen time", async () => {
    const settings = proxyProtocolSettings({});
    assert.equal(settings.timeout, 5000);
    assert.equal(settings.required, true);
    throwsCode(() => proxyProtocolSettings({ timeout: 0 }), "INVALID_ARGUMENT", "timeout");
    throwsCode(
      () => proxyProtocolSettings({ required: "yes" as unknown as boolean }),
      "INVALID_ARGUMENT",
      "boolean",
    );
    for (const { adapter } of adapters) {
      for (const useTls of [false, true]) {
        await rejectsCode(
          adapter.listen({
            hostname: HOST,
            port: 0,
            tls: useTls ? server : undefined,
            proxyProtocol: { trusted: ["not-an-ip"] },
          }),
          "INVALID_ARGUMENT",
          "not-an-ip",
        );
      }
    }
  });
});

describe("acceptProxyHeader on an accepted connection", () => {
  it("returns a Conn whose remoteAddr is the header's client and whose first read is the rest", async () => {
    const listener = await nodeAdapter.listen({ hostname: HOST, port: 0 });
    try {
      const accepted = accept(listener);
      const socket = await dial(listener.addr.port);
      const reply = received(socket);
      await write(
        socket,
        new Uint8Array([...v1Header({ hostname: "198.51.100.7", port: 4242 }), ...asc("hello")]),
      );
      const conn = await acceptProxyHeader(await accepted, { timeout: 5000 });
      assert.ok(conn instanceof ProxiedConn);
      assert.deepEqual(conn.remoteAddr, { hostname: "198.51.100.7", port: 4242 });
      assert.deepEqual(conn.proxyAddr, { hostname: HOST, port: socket.localPort });
      assert.deepEqual(conn.proxyHeader?.destination, { hostname: "192.0.2.1", port: 1935 });
      assert.equal(proxyHeaderOf(conn), conn.proxyHeader);
      assert.equal(conn.tls, false);
      assert.equal(conn.localAddr.port, listener.addr.port);
      await answer(conn);
      assert.equal(await reply, "world");
      socket.destroy();
      conn.close();
      await conn.closed;
    } finally {
      listener.close();
    }
  });

  it("closes the connection and rejects MALFORMED when the first bytes are no header", async () => {
    const listener = await nodeAdapter.listen({ hostname: HOST, port: 0 });
    try {
      const accepted = accept(listener);
      const socket = await dial(listener.addr.port);
      const reply = received(socket);
      await write(socket, Uint8Array.of(0x03, 1, 2, 3)); // an RTMP C0 + C1 start
      const conn = await accepted;
      await rejectsCode(acceptProxyHeader(conn), "MALFORMED", "RTMP handshake");
      assert.equal(await reply, "", "nothing may be sent to a client without a header");
      await within(conn.closed, 5000, "closed connection");
    } finally {
      listener.close();
    }
  });
});

for (const { name, adapter } of adapters) {
  for (const useTls of [false, true]) {
    const kind = useTls ? "TLS" : "plain";
    describe(`${name} adapter, ${kind} listen({ proxyProtocol })`, () => {
      it("v1: remoteAddr is the client named by the header; bytes pass both ways", async () => {
        const { listener, rejections } = await proxyListener(adapter, useTls);
        try {
          assert.equal(listener.tls, useTls);
          const accepted = accept(listener);
          const named = { hostname: "198.51.100.7", port: 4242 };
          const c = await client(listener.addr.port, v1Header(named), useTls);
          const conn = await accepted;
          assert.deepEqual(conn.remoteAddr, named);
          assert.equal(conn.tls, useTls);
          assert.equal(proxyHeaderOf(conn)?.version, 1);
          await answer(conn);
          assert.equal(await c.reply, "world");
          conn.close();
          c.socket.destroy();
          noRejections(rejections);
        } finally {
          listener.close();
        }
      });

      it("v2 sent one byte at a time, with the data in the same stream", async () => {
        const { listener, rejections } = await proxyListener(adapter, useTls);
        try {
          const accepted = accept(listener);
          const raw = await dial(listener.addr.port, CLIENT_HOST);
          const header = v2Header({ hostname: "203.0.113.50", port: 61000 });
          for (const byte of header) await write(raw, Uint8Array.of(byte));
          const socket = useTls ? await startClientTls(raw) : raw;
          const reply = received(socket);
          await write(socket, "hello");
          socket.end();
          const conn = await accepted;
          assert.deepEqual(conn.remoteAddr, { hostname: "203.0.113.50", port: 61000 });
          assert.equal(proxyHeaderOf(conn)?.version, 2);
          await answer(conn);
          assert.equal(await reply, "world");
          conn.close();
          raw.destroy();
          noRejections(rejections);
        } finally {
          listener.close();
        }
      });

      it("LOCAL (a proxy health check) keeps the real peer as remoteAddr", async () => {
        const { listener } = await proxyListener(adapter, useTls);
        try {
          const accepted = accept(listener);
          const c = await client(
            listener.addr.port,
            v2Header({ hostname: "203.0.113.50", port: 1 }, "LOCAL"),
            useTls,
            CLIENT_HOST,
          );
          const conn = await accepted;
          assert.deepEqual(conn.remoteAddr, { hostname: CLIENT_HOST, port: c.localPort });
          assert.equal(proxyHeaderOf(conn)?.command, "LOCAL");
          await answer(conn);
          assert.equal(await c.reply, "world");
          conn.close();
          c.socket.destroy();
        } finally {
          listener.close();
        }
      });

      it("required: a trusted peer without a header is closed and reported, the next one served", async () => {
        const { listener, rejections } = await proxyListener(adapter, useTls);
        try {
          const bad = await dial(listener.addr.port);
          const badPort = bad.localPort; // Node and Bun forget it once the socket closes.
          const badReply = received(bad);
          await write(bad, "hello");
          assert.equal(await within(badReply, 10_000, "bad client closed"), "");
          await waitFor(() => rejections.length === 1, { what: "a rejection" });
          assert.equal(rejections[0].error.code, "MALFORMED");
          assert.match(rejections[0].error.message, /expected a header starting with "PROXY "/);
          assert.deepEqual(rejections[0].peer, { hostname: HOST, port: badPort });

          const accepted = accept(listener);
          const good = await client(
            listener.addr.port,
            v1Header({ hostname: "192.0.2.9", port: 9 }),
            useTls,
          );
          const conn = await accepted;
          assert.equal(conn.remoteAddr.hostname, "192.0.2.9", "accept() returned the rejected one");
          await answer(conn);
          assert.equal(await good.reply, "world");
          conn.close();
          good.socket.destroy();
        } finally {
          listener.close();
        }
      });

      it("required: an untrusted peer is closed without reading", async () => {
        const { listener, rejections } = await proxyListener(adapter, useTls, {
          trusted: ["127.0.0.1"],
        });
        try {
          const socket = await dial(listener.addr.port, CLIENT_HOST);
          const reply = received(socket);
          await write(socket, v1Header({ hostname: "192.0.2.9", port: 9 }));
          assert.equal(await within(reply, 10_000, "untrusted client closed"), "");
          await waitFor(() => rejections.length === 1, { what: "a rejection" });
          assert.equal(rejections[0].error.code, "REJECTED");
          assert.match(rejections[0].error.message, /127\.0\.0\.2:\d+ is not a trusted proxy/);
        } finally {
          listener.close();
        }
      });

      it("optional: direct clients pass; an untrusted one sending a header is refused", async () => {
        const { listener, rejections } = await proxyListener(adapter, useTls, {
          trusted: ["127.0.0.1"],
          required: false,
        });
        try {
          // Trusted, without a header: served as itself.
          let accepted = accept(listener);
          let c = await client(listener.addr.port, null, useTls);
          let conn = await accepted;
          assert.deepEqual(conn.remoteAddr, { hostname: HOST, port: c.localPort });
          assert.equal(proxyHeaderOf(conn), null);
          await answer(conn);
          assert.equal(await c.reply, "world");
          conn.close();
          // Untrusted, without a header: served as itself.
          accepted = accept(listener);
          c = await client(listener.addr.port, null, useTls, CLIENT_HOST);
          conn = await accepted;
          assert.deepEqual(conn.remoteAddr, { hostname: CLIENT_HOST, port: c.localPort });
          await answer(conn);
          assert.equal(await c.reply, "world");
          conn.close();
          // Trusted, with a header: the header counts.
          accepted = accept(listener);
          c = await client(
            listener.addr.port,
            v2Header({ hostname: "192.0.2.3", port: 3 }),
            useTls,
          );
          conn = await accepted;
          assert.deepEqual(conn.remoteAddr, { hostname: "192.0.2.3", port: 3 });
          await answer(conn);
          assert.equal(await c.reply, "world");
          conn.close();
          noRejections(rejections);
          // Untrusted, with a header: an attempt to pass for someone else.
          const spoof = await dial(listener.addr.port, CLIENT_HOST);
          const spoofReply = received(spoof);
          await write(spoof, v1Header({ hostname: "192.0.2.4", port: 4 }));
          assert.equal(await within(spoofReply, 10_000, "spoofing client closed"), "");
          await waitFor(() => rejections.length === 1, { what: "a rejection" });
          assert.equal(rejections[0].error.code, "REJECTED");
          assert.match(
            rejections[0].error.message,
            /sent a PROXY header but is not a trusted proxy/,
          );
        } finally {
          listener.close();
        }
      });

      it("a header not complete within the timeout is closed and reported as TIMEOUT", async () => {
        const { listener, rejections } = await proxyListener(adapter, useTls, { timeout: 300 });
        try {
          const silent = await dial(listener.addr.port);
          const partial = await dial(listener.addr.port);
          const ports = { silent: silent.localPort, partial: partial.localPort };
          const closed = [received(silent), received(partial)];
          await write(partial, "PROXY TCP4");
          await within(Promise.all(closed), 10_000, "slow clients closed");
          await waitFor(() => rejections.length === 2, { what: "two rejections" });
          const byPort = new Map(rejections.map((r) => [r.peer.port, r.error]));
          assert.ok(rejections.every((r) => r.error.code === "TIMEOUT"));
          assert.match(
            byPort.get(ports.partial!)?.message ?? "",
            /sent 10 bytes but no complete header within 300 ms/,
          );
          assert.match(byPort.get(ports.silent!)?.message ?? "", /sent nothing within 300 ms/);
        } finally {
          listener.close();
        }
      });

      it("close() ends connections still reading their header, without reporting them", async () => {
        const { listener, rejections } = await proxyListener(adapter, useTls);
        const socket = await dial(listener.addr.port);
        const closed = received(socket);
        await write(socket, "PROXY ");
        const next = listener.accept();
        listener.close();
        assert.equal(await next, null);
        await within(closed, 10_000, "pending client closed");
        noRejections(rejections);
      });
    });
  }
}

/** A self-signed client certificate (CN rtmp-test-client, clientAuth) made with openssl. */
async function makeClientCert(): Promise<{ cert: string; key: string }> {
  const dir = await tempDir("rtmp-client-cert-");
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-subj",
          "/CN=rtmp-test-client",
          "-addext",
          "basicConstraints=critical,CA:FALSE",
          "-addext",
          "keyUsage=critical,digitalSignature",
          "-addext",
          "extendedKeyUsage=clientAuth",
          "-days",
          "2",
          "-keyout",
          join(dir, "key.pem"),
          "-out",
          join(dir, "cert.pem"),
        ],
        (error, _stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(),
      );
    });
    return {
      cert: await readFile(join(dir, "cert.pem"), "utf8"),
      key: await readFile(join(dir, "key.pem"), "utf8"),
    };
  } finally {
    await removeTempDir(dir);
  }
}

describe("behind a real HAProxy", { skip: haproxySkip() }, () => {
  for (const { name, adapter } of adapters) {
    for (const useTls of [false, true]) {
      const kind = useTls ? "TLS passed through" : "plain";
      it(`${name} adapter, ${kind}: send-proxy and send-proxy-v2 name the client at 127.0.0.2`, async () => {
        const { listener, rejections } = await proxyListener(adapter, useTls);
        const haproxy = await startHaproxy([
          { backendPort: listener.addr.port, sendProxy: "v1" },
          { backendPort: listener.addr.port, sendProxy: "v2" },
        ]);
        try {
          for (const [i, port] of haproxy.ports.entries()) {
            const accepted = accept(listener);
            const c = await client(port, null, useTls, CLIENT_HOST);
            const conn = await accepted;
            const what = `front end ${i} (send-proxy${i === 0 ? "" : "-v2"})`;
            assert.deepEqual(conn.remoteAddr, { hostname: CLIENT_HOST, port: c.localPort }, what);
            const header = proxyHeaderOf(conn);
            assert.equal(header?.version, i + 1, what);
            assert.equal(header?.transport, "TCP4", what);
            assert.deepEqual(header?.destination, { hostname: HOST, port }, what);
            assert.equal((conn as ProxiedConn).proxyAddr.hostname, HOST, what);
            assert.equal(conn.tls, useTls);
            await answer(conn);
            assert.equal(await c.reply, "world", what);
            conn.close();
            c.socket.destroy();
          }
          noRejections(rejections);
        } finally {
          await haproxy.stop();
          listener.close();
        }
      });
    }

    it(`${name} adapter: HAProxy terminating TLS sends the SSL, authority, unique-id and CRC32C TLVs`, async () => {
      const clientCert = await makeClientCert();
      const { listener, rejections } = await proxyListener(adapter, false);
      const haproxy = await startHaproxy([{
        backendPort: listener.addr.port,
        sendProxy: "v2",
        serverOptions:
          "proxy-v2-options ssl,cert-cn,ssl-cipher,cert-sig,cert-key,authority,crc32c,unique-id",
        frontendTls: { ...server, clientCa: clientCert.cert },
        frontendLines: ["unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt"],
      }]);
      try {
        const accepted = accept(listener);
        const raw = await dial(haproxy.ports[0], CLIENT_HOST);
        const secure = tls.connect({
          socket: raw,
          servername: "localhost",
          ca: serverCa,
          cert: clientCert.cert,
          key: clientCert.key,
        });
        secure.on("error", () => {});
        await within(
          new Promise((resolve) => secure.once("secureConnect", resolve)),
          10_000,
          "TLS",
        );
        const reply = received(secure);
        secure.write("hello");
        secure.end();
        const conn = await accepted;
        assert.equal(conn.tls, false, "HAProxy decrypted; the backend hop is plain");
        assert.equal(conn.remoteAddr.hostname, CLIENT_HOST);
        const header = proxyHeaderOf(conn);
        assert.ok(header !== null);
        assert.equal(header.checksummed, true, "crc32c was sent and verified");
        assert.equal(header.authority, "localhost");
        assert.ok(header.uniqueId !== undefined && header.uniqueId.length > 0);
        assert.match(new TextDecoder().decode(header.uniqueId), /^7F000002:[0-9A-F]+_/);
        const ssl = header.ssl;
        assert.ok(ssl !== undefined, "PP2_TYPE_SSL present");
        assert.equal(ssl.tls, true);
        assert.equal(ssl.certificateOnConnection, true);
        assert.equal(ssl.commonName, "rtmp-test-client");
        assert.equal(ssl.verifyResult, 0, "client certificate verified against its CA");
        assert.match(ssl.version ?? "", /^TLSv1\.[23]$/);
        assert.ok((ssl.cipher ?? "").length > 0, "cipher named");
        assert.match(ssl.signatureAlgorithm ?? "", /RSA|ECDSA/i);
        assert.match(ssl.keyAlgorithm ?? "", /RSA|EC/i);
        await answer(conn);
        assert.equal(await reply, "world");
        conn.close();
        raw.destroy();
        noRejections(rejections);
      } finally {
        await haproxy.stop();
        listener.close();
      }
    });

    it(`${name} adapter: HAProxy at an untrusted address is refused`, async () => {
      const { listener, rejections } = await proxyListener(adapter, false, {
        trusted: ["192.0.2.0/24"],
      });
      const haproxy = await startHaproxy([{ backendPort: listener.addr.port, sendProxy: "v2" }]);
      try {
        const c = await client(haproxy.ports[0], null, false, CLIENT_HOST);
        assert.equal(await within(c.reply, 10_000, "refused client closed"), "");
        await waitFor(() => rejections.length === 1, { what: "a rejection" });
        assert.equal(rejections[0].error.code, "REJECTED");
        assert.equal(rejections[0].peer.hostname, HOST, "the peer is HAProxy itself");
        c.socket.destroy();
      } finally {
        await haproxy.stop();
        listener.close();
      }
    });
  }
});
