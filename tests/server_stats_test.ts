// Server events, stats() and the HTTP API (/api/streams, /api/stats, /metrics), against real
// peers: ffmpeg publishers, curl as the scraper and HTTP-FLV viewer, and the official Prometheus
// Python client's parser for the /metrics page. Also `rtmp serve --log-format json --api-listen`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { connect as tcpConnect } from "node:net";
import { RtmpServer, type ServerEvent, type ServerEventMessage } from "../server.ts";
import { RtmpClient } from "../client.ts";
import { ffmpegPublish, makeTestFlv, waitFor } from "./support/peers.ts";
import { requirePeer } from "./support/require_peer.ts";
import { rejectionOf } from "./support/util.ts";
import { within } from "./support/media.ts";
import { startScript, stopScript } from "./support/runtime.ts";

const noPeers = requirePeer("ffmpeg", "curl", "prometheus-client");
const frame = new Uint8Array([0, 0, 0, 1, 0x65]);

/** GET with curl: status and body. */
function curl(url: string, args: string[] = []): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      "curl",
      ["-s", "-S", "-w", "\n%{http_code}", ...args, url],
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`curl ${url}: ${error.message}\n${stderr}`));
        const cut = stdout.lastIndexOf("\n");
        resolve({ status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) });
      },
    );
  });
}

const PARSE = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        out[s.name + ("{" + labels + "}" if labels else "")] = s.value
    out["__type__" + family.name] = family.type
print(json.dumps(out))
`;

/** Parses a /metrics page with prometheus_client: `name{labels}` → value. */
function parseMetrics(text: string): Promise<Record<string, number | string>> {
  return new Promise((resolve, reject) => {
    const child = execFile("/usr/bin/python3", ["-c", PARSE], (error, stdout, stderr) => {
      if (error) reject(new Error(`prometheus_client rejected the page: ${stderr}\n${text}`));
      else resolve(JSON.parse(stdout));
    });
    child.stdin?.end(text);
  });
}

async function scrape(base: string): Promise<Record<string, number | string>> {
  const r = await curl(`${base}/metrics`, ["-D", "-"]);
  assert.equal(r.status, 200);
  assert.match(r.body, /content-type: text\/plain; version=0\.0\.4; charset=utf-8/i);
  return parseMetrics(r.body.slice(r.body.indexOf("\r\n\r\n") + 4));
}

function collect(server: RtmpServer): ServerEvent[] {
  const seen: ServerEvent[] = [];
  (async () => {
    for await (const e of server.events) seen.push(e);
  })();
  return seen;
}

describe("server events and counters", () => {
  it("report accepted, refused, timed-out and failed publishes with causes, and unpublish stats", async () => {
    const server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: null,
      limits: { hookTimeout: 300 },
      onPublish: ({ name }) => {
        if (name === "slow") return new Promise(() => {});
        if (name === "boom") throw new Error("key service down");
        return name === "good";
      },
    });
    const seen = collect(server);
    const refusedByListener: string[] = [];
    server.events.addEventListener("publish-refused", (e) => {
      const detail = (e as ServerEventMessage).detail;
      if (detail.type === "publish-refused") refusedByListener.push(detail.cause);
    });
    const base = `rtmp://127.0.0.1:${server.addr.port}/live`;
    const good = await RtmpClient.connect(`${base}/good`);
    await good.sendVideo(0, true, frame);
    for (const name of ["bad", "slow", "boom"]) {
      await rejectionOf(RtmpClient.connect(`${base}/${name}`, { timeout: 5000 }));
    }
    await good.close();
    await waitFor(() => seen.some((e) => e.type === "unpublish"), { what: "unpublish event" });
    await server.close();
    await waitFor(() => seen.filter((e) => e.type === "disconnect").length === 4, {
      what: "four disconnects",
    });

    const refused = seen.filter((e) => e.type === "publish-refused");
    assert.deepEqual(
      refused.map((e) => e.type === "publish-refused" && [e.key, e.cause, e.code]),
      [
        ["live/bad", "hook", "NetStream.Publish.BadName"],
        ["live/slow", "hook-timeout", "NetStream.Publish.Failed"],
        ["live/boom", "hook-failure", "NetStream.Publish.Failed"],
      ],
    );
    assert.deepEqual(refusedByListener, ["hook", "hook-timeout", "hook-failure"]);
    const failure = seen.find((e) => e.type === "hook-failure");
    assert.ok(failure?.type === "hook-failure" && /key service down/.test(failure.reason));
    assert.ok(seen.some((e) => e.type === "hook-timeout" && e.stage === "publish"));
    const publish = seen.find((e) => e.type === "publish");
    assert.ok(publish?.type === "publish" && publish.key === "live/good");
    assert.equal(publish.remoteAddr.hostname, "127.0.0.1");
    const unpublish = seen.find((e) => e.type === "unpublish");
    assert.ok(unpublish?.type === "unpublish");
    assert.equal(unpublish.reason, "publisher-closed");
    assert.equal(unpublish.stats.videoPackets, 1);
    assert.equal(unpublish.stats.payloadBytes, frame.length + 5);
    const connects = seen.filter((e) => e.type === "connect");
    assert.equal(connects.length, 4);
    // Every event names a connection that had a `connection` event first.
    const ids = new Set(seen.flatMap((e) => e.type === "connection" ? [e.connectionId] : []));
    for (const e of seen) {
      if ("connectionId" in e && e.connectionId !== null) assert.ok(ids.has(e.connectionId));
    }

    const c = server.stats().counters;
    assert.equal(c.connectionsAccepted, 4);
    assert.equal(c.connectsAccepted, 4);
    assert.equal(c.publishesAccepted, 1);
    assert.deepEqual(c.publishesRefused, { hook: 1, "hook-timeout": 1, "hook-failure": 1 });
    assert.deepEqual(c.hookTimeouts, { publish: 1 });
    assert.deepEqual(c.hookFailures, { publish: 1 });
    assert.deepEqual(c.unpublishes, { "publisher-closed": 1 });
    assert.ok(c.bytesIn > 3073 * 4, "at least four handshakes read");
    assert.ok(c.bytesOut > 3073 * 4, "at least four handshakes written");
  });

  it("a protocol error is an event and a counter; the iteration ends when the server closes", async () => {
    const server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, log: null });
    const seen: ServerEvent[] = [];
    const iterating = (async () => {
      for await (const e of server.events.subscribe({ types: ["protocol-error"] })) seen.push(e);
    })();
    const socket = tcpConnect({ host: "127.0.0.1", port: server.addr.port });
    socket.on("error", () => {});
    socket.write(new Uint8Array(1537).fill(0x7f)); // C0 must be version 3
    await waitFor(() => server.stats().counters.protocolErrors === 1, { what: "protocol error" });
    socket.destroy();
    await server.close();
    await within(iterating, 5000, "event iteration end");
    assert.equal(seen.length, 1);
    assert.ok(seen[0].type === "protocol-error" && seen[0].message.length > 0);
  });
});

describe("stats() and the HTTP API with real peers", { skip: noPeers }, () => {
  it("stats() and /api/streams show a live ffmpeg stream with codecs, bitrate and an HTTP-FLV viewer", async () => {
    const source = await makeTestFlv({ seconds: 4 });
    await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, log: null });
    const http = await server.listenHttp({ hostname: "127.0.0.1", port: 0, api: true });
    const base = `http://127.0.0.1:${http.port}`;
    const publishing = ffmpegPublish(source, `rtmp://127.0.0.1:${server.addr.port}/live/cam`, {
      realtime: true,
    });
    await waitFor(() => {
      const s = server.stats().streams[0];
      return s !== undefined && s.codecs.video.length > 0 && s.codecs.audio.length > 0 &&
        s.uptime >= 1000;
    }, { what: "a live stream with codecs" });
    const viewer = spawn("curl", ["-s", "-N", "-o", "/dev/null", `${base}/live/cam.flv`]);
    try {
      await waitFor(() => server.stats().streams[0]?.players === 1, { what: "the viewer" });
      const stats = server.stats();
      assert.equal(stats.streams.length, 1);
      const s = stats.streams[0];
      assert.equal(s.key, "live/cam");
      assert.deepEqual(s.codecs, { video: ["avc1"], audio: ["mp4a"] });
      assert.ok(s.bitrate > 0 && s.bytes > 0 && s.messages > 0 && s.lastTimestamp > 0);
      assert.equal(s.publisher?.remoteAddr.hostname, "127.0.0.1");
      assert.equal(s.publisher?.publishType, "live");
      const viewerStats = s.subscribers.find((x) => x.policy === "drop");
      assert.ok(viewerStats && /^http-flv 127\.0\.0\.1:\d+$/.test(viewerStats.label));
      assert.equal(typeof viewerStats.lagMs, "number");
      assert.equal(viewerStats.droppedMessages, 0);
      const conn = stats.connections.find((c) => c.publishing.includes("live/cam"));
      assert.ok(conn, JSON.stringify(stats.connections));
      assert.equal(conn.state, "live");
      assert.equal(conn.app, "live");
      assert.match(conn.flashVer ?? "", /Lavf|FMLE/);
      assert.equal(conn.proxyAddr, null);
      assert.ok(conn.bytesIn > s.bytes, "chunk headers and handshake come on top");

      const api = await curl(`${base}/api/streams`);
      assert.equal(api.status, 200);
      const body = JSON.parse(api.body);
      assert.equal(body.streams.length, 1);
      assert.equal(body.streams[0].key, "live/cam");
      assert.deepEqual(body.streams[0].codecs, { video: ["avc1"], audio: ["mp4a"] });
      assert.equal(body.streams[0].players, 1);
      const all = JSON.parse((await curl(`${base}/api/stats`)).body);
      assert.equal(all.connections.length, 1);
      assert.equal(all.counters.publishesAccepted, 1);
      const metrics = await scrape(base);
      assert.equal(metrics['rtmp_stream_players{app="live",name="cam"}'], 1);
      assert.ok(Number(metrics['rtmp_stream_bitrate_bits_per_second{app="live",name="cam"}']) > 0);
      assert.equal(metrics['rtmp_plays_accepted_total{protocol="http-flv"}'], 1);
      assert.equal((await curl(`${base}/api/streams`, ["-X", "POST"])).status, 405);
    } finally {
      viewer.kill();
    }
    const done = await publishing;
    assert.equal(done.code, 0, done.stderr);
  });

  it("/metrics counters move as publishes are accepted and refused, and the page parses", async () => {
    const source = await makeTestFlv({ seconds: 2 });
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: null,
      onPublish: ({ name }) => name === "good",
    });
    const http = await server.listenHttp({
      hostname: "127.0.0.1",
      port: 0,
      api: true,
      flv: false,
    });
    const base = `http://127.0.0.1:${http.port}`;
    const rtmp = `rtmp://127.0.0.1:${server.addr.port}/live`;
    const before = await scrape(base);
    assert.equal(before.__type__rtmp_publishes_accepted, "counter");
    assert.equal(before.__type__rtmp_live_streams, "gauge");
    assert.equal(before.rtmp_publishes_accepted_total, 0);
    assert.equal(before['rtmp_publishes_refused_total{cause="hook"}'], 0, "zeros are listed");
    assert.equal(before.rtmp_connections_accepted_total, 0);

    const ok = await ffmpegPublish(source, `${rtmp}/good`);
    assert.equal(ok.code, 0, ok.stderr);
    await waitFor(() => server.stats().counters.unpublishes["publisher-closed"] === 1, {
      what: "the publish to end",
    });
    const middle = await scrape(base);
    assert.equal(middle.rtmp_publishes_accepted_total, 1);
    assert.equal(middle['rtmp_publishes_refused_total{cause="hook"}'], 0);
    assert.equal(middle['rtmp_unpublishes_total{reason="publisher-closed"}'], 1);
    assert.ok(Number(middle.rtmp_received_bytes_total) > 100_000, "the clip's bytes");

    const bad = await ffmpegPublish(source, `${rtmp}/bad`, { timeoutMs: 10_000 });
    assert.notEqual(bad.code, 0);
    await waitFor(() => server.stats().counters.publishesRefused.hook === 1, { what: "refusal" });
    const after = await scrape(base);
    assert.equal(after.rtmp_publishes_accepted_total, 1);
    assert.equal(after['rtmp_publishes_refused_total{cause="hook"}'], 1);
    assert.equal(after.rtmp_connections_accepted_total, 2);
    assert.ok(Number(after.rtmp_received_bytes_total) > Number(middle.rtmp_received_bytes_total));
    assert.equal(after.rtmp_live_streams, 0);
    assert.equal((await curl(`${base}/live/good.flv`)).status, 404, "no FLV on an API-only port");
  });

  it("rtmp serve --log-format json --api-listen: JSON lines with events, and /metrics", async () => {
    const source = await makeTestFlv({ seconds: 2 });
    const serve = startScript("cli.ts", [
      ...["serve", "--listen", "127.0.0.1:0", "--api-listen", ":0", "--log-format", "json"],
      ...["--key", "k"],
    ]);
    try {
      const m = await serve.waitFor(
        /"msg":"listening on rtmp:\/\/127\.0\.0\.1:(\d+) and http:\/\/127\.0\.0\.1:(\d+) \(API\)/,
      );
      const ok = await ffmpegPublish(source, `rtmp://127.0.0.1:${m[1]}/live/k`);
      assert.equal(ok.code, 0, ok.stderr);
      const bad = await ffmpegPublish(source, `rtmp://127.0.0.1:${m[1]}/live/nope`, {
        timeoutMs: 10_000,
      });
      assert.notEqual(bad.code, 0);
      await serve.waitFor(/"event":"publish-refused"/);
      const metrics = await scrape(`http://127.0.0.1:${m[2]}`);
      assert.equal(metrics.rtmp_publishes_accepted_total, 1);
      assert.equal(metrics['rtmp_publishes_refused_total{cause="hook"}'], 1);
    } finally {
      assert.equal(await within(stopScript(serve), 20_000, "serve stop"), 0, serve.stderr());
    }
    const lines = serve.stderr().trim().split("\n").map((l) => JSON.parse(l));
    for (const line of lines) assert.match(String(line.time), /^\d{4}-\d\d-\d\dT/);
    const types = lines.flatMap((l) => l.event ? [l.event] : []);
    for (const t of ["connection", "connect", "publish", "unpublish", "publish-refused"]) {
      assert.ok(types.includes(t), `${t} in ${types.join(",")}`);
    }
    const refused = lines.find((l) => l.event === "publish-refused");
    assert.equal(refused.key, "live/nope");
    assert.equal(refused.cause, "hook");
    assert.ok(lines.some((l) => /publish "live\/k" accepted/.test(l.msg ?? "")));
  });
});
