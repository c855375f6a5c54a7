// The ingest server against real FFmpeg publishers and our own client, on whatever runtime runs
// this file (Deno, Bun or Node), with the runtime's default socket adapter.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect as tcpConnect } from "node:net";
import { RtmpServer } from "../server.ts";
import { RtmpClient } from "../client.ts";
import { RtmpError } from "../errors.ts";
import { ffmpegPublish, makeTestFlv } from "./support/peers.ts";
import { requirePeer } from "./support/require_peer.ts";
import {
  collect,
  mediaOfPackets,
  mediaOfTags,
  readFlvTags,
  sleep,
  within,
} from "./support/media.ts";
import { makeTestCert } from "./support/tls_cert.ts";
import { nextSession, rejectionOf } from "./support/util.ts";
import { waitForStall } from "./support/wait.ts";

const noFfmpeg = requirePeer("ffmpeg", "openssl");
const quiet = { log: null } as const;

describe("RtmpServer with real ffmpeg publishers", { skip: noFfmpeg }, () => {
  let source = "";
  before(async () => {
    source = await makeTestFlv({ seconds: 2 });
  });

  it("yields the packets of an ffmpeg publish tag for tag", async () => {
    await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, ...quiet });
    const url = `rtmp://127.0.0.1:${server.addr.port}/live/stream1`;
    const [session, result] = await Promise.all([
      nextSession(server),
      ffmpegPublish(source, url),
    ]);
    assert.equal(result.code, 0, result.stderr);
    const packets = await within(collect(session), 10_000, "session end");
    assert.equal(await session.ended, "publisher-closed");
    const expected = mediaOfTags(await readFlvTags(source));
    const got = mediaOfPackets(packets);
    assert.equal(got.length, expected.length);
    for (let i = 0; i < expected.length; i++) {
      assert.equal(got[i].type, expected[i].type, `tag ${i} type`);
      assert.equal(got[i].timestamp, expected[i].timestamp, `tag ${i} timestamp`);
      assert.deepEqual(got[i].data, expected[i].data, `tag ${i} payload`);
    }
    assert.ok(session.metadata, "onMetaData was seen");
    assert.equal(session.app, "live");
    assert.equal(session.name, "stream1");
    assert.match(String(session.connect.flashVer), /Lavf/);
    const stats = session.stats();
    assert.equal(stats.videoPackets + stats.audioPackets, expected.length);
  });

  it("a hook that accepts one key: the wrong key fails fast with nothing delivered, the right key works", async () => {
    const seen: string[] = [];
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      ...quiet,
      onPublish: async (info) => {
        seen.push(
          `${info.app}/${info.name}?${info.query.get("token") ?? ""}@${info.remoteAddr.hostname}`,
        );
        await sleep(5);
        return info.name === "good" && info.query.get("token") === "t1";
      },
    });
    const base = `rtmp://127.0.0.1:${server.addr.port}/live`;
    const started = Date.now();
    const bad = await ffmpegPublish(source, `${base}/bad?token=t1`, { timeoutMs: 5000 });
    assert.notEqual(bad.code, 0, "ffmpeg must fail on a rejected key");
    assert.ok(Date.now() - started < 5000, "rejection within 5 s");
    assert.equal(server.streamCount, 0);
    const [session, ok] = await Promise.all([
      nextSession(server),
      ffmpegPublish(source, `${base}/good?token=t1`),
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const packets = await collect(session);
    assert.ok(packets.length > 0);
    assert.deepEqual(seen, ["live/bad?t1@127.0.0.1", "live/good?t1@127.0.0.1"]);
  });

  it("a 50 ms hook: 10 concurrent ffmpeg publishers are all accepted and complete", async () => {
    const expected = mediaOfTags(await readFlvTags(source)).length;
    const sessions: Promise<{ name: string; count: number; reason: string }>[] = [];
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      ...quiet,
      onPublish: async () => {
        await sleep(50);
        return true;
      },
      onSession: (session) => {
        sessions.push((async () => {
          const packets = await collect(session);
          return {
            name: session.name,
            count: mediaOfPackets(packets).length,
            reason: await session.ended,
          };
        })());
      },
    });
    const base = `rtmp://127.0.0.1:${server.addr.port}/live`;
    const results = await Promise.all(
      Array.from(
        { length: 10 },
        (_, i) => ffmpegPublish(source, `${base}/s${i}`, { timeoutMs: 60_000 }),
      ),
    );
    results.forEach((r, i) => assert.equal(r.code, 0, `publisher ${i}: ${r.stderr}`));
    const done = await Promise.all(sessions);
    assert.equal(done.length, 10);
    assert.deepEqual(
      done.map((d) => d.name).sort(),
      Array.from({ length: 10 }, (_, i) => `s${i}`).sort(),
    );
    for (const d of done) {
      assert.equal(d.count, expected, `${d.name} packets`);
      assert.equal(d.reason, "publisher-closed");
    }
  });
});

describe("RtmpServer key hook failures and policies (own client)", () => {
  it("a hook that throws rejects with the retryable Publish.Failed and the server keeps serving", async () => {
    const lines: string[] = [];
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: (l) => lines.push(l),
      onPublish: (info) => {
        if (info.name === "boom") throw new Error("database down");
        return true;
      },
    });
    const base = `rtmp://127.0.0.1:${server.addr.port}/live`;
    const e = await rejectionOf(RtmpClient.connect(`${base}/boom`, { timeout: 5000 }));
    assert.equal(e.code, "REJECTED");
    assert.equal(e.status, "NetStream.Publish.Failed");
    // The exception text is for the log only: nothing internal reaches the encoder.
    assert.doesNotMatch(e.description ?? "", /database down/);
    assert.match(e.description ?? "", /try again/);
    assert.ok(lines.some((l) => l.includes("rejected") && l.includes("database down")));
    const client = await RtmpClient.connect(`${base}/fine`, { timeout: 5000 });
    await client.close();
  });

  it("a hook that never resolves rejects at the hook timeout, and its signal aborts", async () => {
    let hookSignal: AbortSignal | null = null;
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      ...quiet,
      limits: { hookTimeout: 300 },
      onPublish: (_info, signal) => {
        hookSignal = signal;
        return new Promise<boolean>(() => {});
      },
    });
    const started = Date.now();
    const e = await rejectionOf(
      RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/k`, { timeout: 10_000 }),
    );
    assert.equal(e.code, "REJECTED");
    assert.equal(e.status, "NetStream.Publish.Failed");
    assert.doesNotMatch(e.description ?? "", /300 ms/);
    assert.match(e.description ?? "", /try again/);
    assert.ok(Date.now() - started < 5000, "well before the client's own timeout");
    const signal = hookSignal as AbortSignal | null;
    assert.ok(signal?.aborted, "the hook can cancel its lookup");
    assert.ok(signal.reason instanceof RtmpError && signal.reason.code === "TIMEOUT");
  });

  it("the hook's own status code and public description reach the client, its reason does not", async () => {
    let flashVer: unknown;
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      ...quiet,
      onPublish: (info) => {
        flashVer = info.connect.flashVer;
        return {
          accept: false,
          reason: "token 17 expired at 12:00",
          description: "token expired",
          code: "NetStream.Publish.Unauthorized",
        };
      },
    });
    const e = await rejectionOf(
      RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/k?token=x`, {
        flashVer: "TEST/1.0",
      }),
    );
    assert.equal(e.status, "NetStream.Publish.Unauthorized");
    assert.equal(e.description, "token expired");
    assert.equal(flashVer, "TEST/1.0");
  });

  it("a connect hook refuses with NetConnection.Connect.Rejected", async () => {
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      ...quiet,
      onConnect: (info) =>
        info.app === "live"
          ? true
          : { accept: false, reason: `no app ${info.app}`, description: "unknown application" },
    });
    const e = await rejectionOf(RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/other/k`));
    assert.equal(e.code, "REJECTED");
    assert.equal(e.status, "NetConnection.Connect.Rejected");
    assert.equal(e.description, "unknown application");
    const ok = await RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/k`);
    await ok.close();
  });

  it("a second publisher on a live key is refused by default", async () => {
    await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, ...quiet });
    const url = `rtmp://127.0.0.1:${server.addr.port}/live/dup`;
    const first = await RtmpClient.connect(url);
    const session = await nextSession(server);
    // A live publisher sends all the time; one silent for stalePublisherTimeout is replaced.
    let ts = 0;
    const sending = setInterval(
      () => void first.sendAudio(ts += 20, new Uint8Array([0xaf, 1])),
      20,
    );
    const e = await rejectionOf(RtmpClient.connect(url)).finally(() => clearInterval(sending));
    assert.equal(e.status, "NetStream.Publish.BadName");
    assert.match(e.description ?? "", /already live/);
    assert.equal(session.endReason, null);
    await first.close();
    assert.equal(await session.ended, "publisher-closed");
  });

  it("policy replace ends the old publisher", async () => {
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      ...quiet,
      duplicatePublish: "replace",
    });
    const url = `rtmp://127.0.0.1:${server.addr.port}/live/dup`;
    const first = await RtmpClient.connect(url);
    const old = await nextSession(server);
    const second = await RtmpClient.connect(url);
    const fresh = await nextSession(server);
    assert.equal(await old.ended, "replaced");
    assert.equal(fresh.endReason, null);
    await within(first.closed, 5000, "old publisher closed");
    await assert.rejects(first.sendAudio(0, new Uint8Array([1])), RtmpError);
    await second.close();
  });

  it("garbage on one connection closes only that connection", async () => {
    const lines: string[] = [];
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: (l) => lines.push(l),
    });
    const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/steady`);
    const session = await nextSession(server);
    const received = collect(session);
    const closedByServer = await new Promise<boolean>((resolve) => {
      const sock = tcpConnect(server.addr.port, "127.0.0.1", () => {
        sock.write(new Uint8Array([6, ...new Uint8Array(1536)])); // version 6: not RTMP 3
      });
      sock.on("close", () => resolve(true));
      sock.on("error", () => {});
    });
    assert.ok(closedByServer);
    assert.ok(lines.some((l) => /protocol error.*version/i.test(l)), lines.join("\n"));
    for (let i = 0; i < 20; i++) await client.sendAudio(i * 20, new Uint8Array([0x21, i]));
    await client.close();
    const packets = await received;
    assert.equal(packets.length, 20);
    assert.equal(await session.ended, "publisher-closed");
  });

  it("a slow consumer slows the publisher instead of buffering without bound", async () => {
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      ...quiet,
      limits: { maxQueuedBytes: 256 * 1024 },
    });
    const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/slow`);
    const session = await nextSession(server);
    const frame = new Uint8Array(64 * 1024).fill(1);
    const total = 1024; // 64 MiB in all: far more than socket buffers and the queue can hold
    let sent = 0;
    const sending = (async () => {
      for (let i = 0; i < total; i++) {
        await client.sendVideo(i * 40, i % 30 === 0, frame);
        sent++;
      }
    })();
    // Nobody reads: once the server's queue and the socket buffers are full, sends block.
    const stalledAt = await waitForStall(() => sent, {
      finished: sending,
      what: "the publisher to block",
    });
    assert.ok(stalledAt < total, `publisher was not slowed down (sent ${stalledAt} of ${total})`);
    let got = 0;
    for await (const p of session) {
      assert.equal(p.payload.length, frame.length + 5);
      if (++got === total) break;
    }
    await sending;
    assert.equal(sent, total);
    await client.close();
  });

  it("close() finishes even when a session's consumer stopped reading", async () => {
    const server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      ...quiet,
      limits: { maxQueuedBytes: 64 * 1024, lingerTimeout: 500 },
    });
    const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/stuck`);
    const session = await nextSession(server); // never iterated
    const frame = new Uint8Array(64 * 1024);
    let sent = 0;
    const sending = (async () => {
      try {
        for (let i = 0; i < 2000; i++) {
          await client.sendVideo(i * 40, false, frame);
          sent++;
        }
      } catch {
        // The server goes away mid-send: expected.
      }
    })();
    // Close once the unread queue is full and the publisher blocks on it.
    const stalledAt = await waitForStall(() => sent, {
      finished: sending,
      what: "the publisher to block",
    });
    assert.ok(stalledAt < 2000, `the publisher was never blocked (sent ${stalledAt})`);
    await within(server.close(), 10_000, "server.close()");
    assert.equal(await session.ended, "server-closed");
    await within(sending, 10_000, "the publisher notices");
    await client.close();
  });

  it("limits live connections per IP (a second publisher from the address is refused)", async () => {
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      ...quiet,
      limits: { maxConnectionsPerIp: 1 },
    });
    const first = await RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/a`);
    const e = await rejectionOf(
      RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/b`, { timeout: 3000 }),
    );
    assert.equal(e.code, "REJECTED");
    assert.equal(e.status, "NetStream.Publish.Failed");
    assert.match(e.description ?? "", /full/);
    await first.close();
  });

  it("serves RTMPS with a certificate signed by a test CA", async () => {
    const { ca, cert, key } = await makeTestCert();
    const server = new RtmpServer(quiet);
    const addr = await server.listenOn({ hostname: "127.0.0.1", port: 0, tls: { cert, key } });
    try {
      const client = await RtmpClient.connect(`rtmps://localhost:${addr.port}/live/secure`, {
        tls: { ca },
      });
      const session = await nextSession(server);
      assert.equal(session.tls, true);
      await client.sendAudio(0, new Uint8Array([0xaf, 1, 2]));
      await client.close();
      const packets = await collect(session);
      assert.equal(packets.length, 1);
    } finally {
      await server.close();
    }
  });

  it("closing the server ends sessions with server-closed and the client sees the connection end", async () => {
    const server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, ...quiet });
    const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/k`);
    const session = await nextSession(server);
    await server.close();
    assert.equal(await session.ended, "server-closed");
    await within(client.closed, 5000, "client notices");
    assert.equal(server.connectionCount, 0);
  });
});

after(() => {});
