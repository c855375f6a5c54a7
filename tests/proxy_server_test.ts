// RtmpServer behind a real HAProxy (Debian's package) sending PROXY protocol v1 and v2, on the
// runtime that runs this file (Deno, Bun or Node) with its default socket adapter. ffmpeg cannot
// bind a source address, so each publisher goes ffmpeg → socat (which connects to HAProxy from
// 127.0.0.2 or 127.0.0.3) → HAProxy → the server: HAProxy then names a distinct client address
// in its header, as a balancer in front of a fleet names each encoder.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { connect as tcpConnect } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { RtmpServer, type ServerEvent } from "../server.ts";
import { RtmpClient } from "../client.ts";
import { startHaproxy } from "./support/haproxy.ts";
import { ffmpegPublish, freePort, isPortListening, makeTestFlv, waitFor } from "./support/peers.ts";
import { requirePeer } from "./support/require_peer.ts";
import { within } from "./support/media.ts";
import { makeTestCert, type TestCert } from "./support/tls_cert.ts";
import { runScript, startScript, stopScript } from "./support/runtime.ts";

const noPeers = requirePeer("haproxy", "socat", "ffmpeg", "openssl");

/** socat relaying 127.0.0.1:port to 127.0.0.1:target from `source` (a loopback address). */
interface Relay {
  port: number;
  stop(): Promise<void>;
}

const relays = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of relays) child.kill("SIGKILL");
});

async function relay(target: number, source: string): Promise<Relay> {
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    const child = spawn("socat", [
      `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`,
      `TCP:127.0.0.1:${target},bind=${source}`,
    ], { stdio: ["ignore", "ignore", "pipe"] });
    relays.add(child);
    let exited = false;
    const exit = new Promise<void>((resolve) =>
      child.once("exit", () => {
        exited = true;
        relays.delete(child);
        resolve();
      })
    );
    const deadline = Date.now() + 10_000;
    while (!exited && Date.now() < deadline && !(await isPortListening(port))) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    if (!exited && await isPortListening(port)) {
      return {
        port,
        stop: async () => {
          if (!exited) child.kill("SIGTERM");
          await exit;
        },
      };
    }
    child.kill("SIGKILL");
    await exit;
  }
  throw new Error("socat did not listen");
}

function collect(server: RtmpServer): ServerEvent[] {
  const seen: ServerEvent[] = [];
  (async () => {
    for await (const e of server.events) seen.push(e);
  })();
  return seen;
}

describe("RtmpServer behind a real HAProxy", { skip: noPeers }, () => {
  let source = "";
  let longSource = "";
  let cert: TestCert;
  before(async () => {
    source = await makeTestFlv({ seconds: 2 });
    longSource = await makeTestFlv({ seconds: 4 });
    cert = await makeTestCert();
  });

  for (const version of ["v1", "v2"] as const) {
    it(`send-proxy${version === "v2" ? "-v2" : ""}: the hook, logs, stats, events and per-IP limits see the real client`, async () => {
      const seenByHook: string[] = [];
      const log: string[] = [];
      const server = await RtmpServer.listen({
        hostname: "127.0.0.1",
        port: 0,
        log: (l) => log.push(l),
        proxyProtocol: true,
        limits: { maxConnectionsPerIp: 1 },
        onPublish: ({ name, remoteAddr }) => {
          seenByHook.push(`${name}@${remoteAddr.hostname}`);
          return true;
        },
      });
      const seen = collect(server);
      const haproxy = await startHaproxy([{ backendPort: server.addr.port, sendProxy: version }]);
      const from2 = await relay(haproxy.ports[0], "127.0.0.2");
      const from3 = await relay(haproxy.ports[0], "127.0.0.3");
      try {
        const url = (r: Relay, key: string) => `rtmp://127.0.0.1:${r.port}/live/${key}`;
        const first = ffmpegPublish(longSource, url(from2, "a"), { realtime: true });
        await waitFor(() => server.streamCount === 1, { what: "live/a live" });
        const stats = server.stats();
        const conn = stats.connections.find((c) => c.publishing.includes("live/a"));
        assert.equal(conn?.remoteAddr.hostname, "127.0.0.2");
        assert.equal(conn?.proxyAddr?.hostname, "127.0.0.1", "HAProxy's own address");
        assert.equal(stats.streams[0].publisher?.remoteAddr.hostname, "127.0.0.2");

        // One live connection per address: a second one from 127.0.0.2 is refused, while one
        // from 127.0.0.3 is served, though all three come from HAProxy at 127.0.0.1.
        const second = await ffmpegPublish(source, url(from2, "b"), { timeoutMs: 15_000 });
        assert.notEqual(second.code, 0, "the second publisher from 127.0.0.2 is refused");
        const third = await ffmpegPublish(source, url(from3, "c"));
        assert.equal(third.code, 0, third.stderr);
        const done = await first;
        assert.equal(done.code, 0, done.stderr);

        assert.deepEqual(seenByHook, ["a@127.0.0.2", "b@127.0.0.2", "c@127.0.0.3"]);
        assert.ok(log.some((l) => /^rtmp 127\.0\.0\.2:\d+: publish "live\/a" accepted/.test(l)));
        assert.ok(
          log.some((l) =>
            /^rtmp 127\.0\.0\.2:\d+: publish "live\/b" rejected: 1 live connections from 127\.0\.0\.2/
              .test(l)
          ),
          log.join("\n"),
        );
        assert.ok(log.some((l) => /^rtmp 127\.0\.0\.3:\d+: publish "live\/c" accepted/.test(l)));
        const refused = seen.find((e) => e.type === "publish-refused");
        assert.ok(refused?.type === "publish-refused");
        assert.equal(refused.cause, "limit");
        assert.equal(refused.remoteAddr.hostname, "127.0.0.2");
        const connections = seen.filter((e) => e.type === "connection");
        assert.deepEqual(
          connections.map((e) => e.type === "connection" && e.remoteAddr.hostname),
          ["127.0.0.2", "127.0.0.2", "127.0.0.3"],
        );
        for (const e of connections) {
          assert.ok(e.type === "connection" && e.proxyAddr?.hostname === "127.0.0.1");
        }
        assert.deepEqual(server.stats().counters.connectionsRefused, {});
      } finally {
        await from2.stop();
        await from3.stop();
        await haproxy.stop();
        await server.close();
      }
    });
  }

  it("RTMPS passed through HAProxy: the header precedes TLS; the hook sees 127.0.0.2 over TLS", async () => {
    const seenByHook: string[] = [];
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: null,
      tls: { cert: cert.cert, key: cert.key },
      proxyProtocol: { trusted: ["127.0.0.1"] },
      onPublish: ({ remoteAddr, tls }) => {
        seenByHook.push(`${remoteAddr.hostname} tls=${tls}`);
        return true;
      },
    });
    const haproxy = await startHaproxy([{ backendPort: server.addr.port, sendProxy: "v2" }]);
    const from2 = await relay(haproxy.ports[0], "127.0.0.2");
    try {
      const client = await RtmpClient.connect(`rtmps://localhost:${from2.port}/live/t`, {
        tls: { ca: cert.ca },
      });
      await client.sendVideo(0, true, new Uint8Array([0, 0, 0, 1, 0x65]));
      await client.close();
      assert.deepEqual(seenByHook, ["127.0.0.2 tls=true"]);
    } finally {
      await from2.stop();
      await haproxy.stop();
    }
  });

  it("a connection without a header, or from an untrusted address, is closed and logged with the reason", async () => {
    const log: string[] = [];
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: (l) => log.push(l),
      proxyProtocol: { trusted: ["127.0.0.1"], timeout: 2000 },
    });
    const seen = collect(server);
    const direct = await ffmpegPublish(source, `rtmp://127.0.0.1:${server.addr.port}/live/x`, {
      timeoutMs: 15_000,
    });
    assert.notEqual(direct.code, 0, "ffmpeg sends no PROXY header: refused");
    const untrusted = tcpConnect({
      host: "127.0.0.1",
      port: server.addr.port,
      localAddress: "127.0.0.5",
    });
    untrusted.on("error", () => {});
    untrusted.write("PROXY TCP4 192.0.2.1 127.0.0.1 5000 1935\r\n");
    await within(
      new Promise((resolve) => untrusted.once("close", resolve)),
      10_000,
      "untrusted peer closed",
    );
    await waitFor(() => server.stats().counters.connectionsRefused["proxy-protocol"] === 2, {
      what: "two refusals",
    });
    assert.ok(
      log.some((l) => /^refusing 127\.0\.0\.1:\d+: PROXY protocol: /.test(l)),
      log.join("\n"),
    );
    assert.ok(
      log.some((l) => /^refusing 127\.0\.0\.5:\d+: PROXY protocol: .*trusted/.test(l)),
      log.join("\n"),
    );
    const refusals = seen.filter((e) => e.type === "connection-refused");
    assert.deepEqual(
      refusals.map((e) => e.type === "connection-refused" && [e.cause, e.remoteAddr.hostname]),
      [["proxy-protocol", "127.0.0.1"], ["proxy-protocol", "127.0.0.5"]],
    );
    assert.equal(server.stats().counters.connectionsAccepted, 0, "neither reached the server");
  });

  it("rtmp serve --proxy-protocol --trusted-proxies behind HAProxy logs the real client", async () => {
    const bad = await runScript("cli.ts", ["serve", "--trusted-proxies", "127.0.0.1"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--trusted-proxies needs --proxy-protocol/);
    const serve = startScript("cli.ts", [
      ...["serve", "--listen", "127.0.0.1:0", "--proxy-protocol"],
      ...["--trusted-proxies", "127.0.0.1,::1", "--record", join(cert.dir, "rec")],
    ]);
    let haproxy: Awaited<ReturnType<typeof startHaproxy>> | null = null;
    let from2: Relay | null = null;
    try {
      const m = await serve.waitFor(/listening on rtmp:\/\/127\.0\.0\.1:(\d+)/);
      assert.match(serve.stderr(), /PROXY protocol on: trusting 127\.0\.0\.1, ::1/);
      haproxy = await startHaproxy([{ backendPort: Number(m[1]), sendProxy: "v1" }]);
      from2 = await relay(haproxy.ports[0], "127.0.0.2");
      const ok = await ffmpegPublish(source, `rtmp://127.0.0.1:${from2.port}/live/k`);
      assert.equal(ok.code, 0, ok.stderr);
      await serve.waitFor(/rtmp 127\.0\.0\.2:\d+: publish "live\/k" accepted/);
      await serve.waitFor(/recorded \S+\.flv/);
    } finally {
      await from2?.stop();
      await haproxy?.stop();
      assert.equal(await stopScript(serve), 0, serve.stderr());
    }
  });
});
