// Graceful drain with the E-RTMP v2 ReconnectRequest: two servers; the first is drained while a
// client publishes to it, the client moves to the second, and the two recordings together are
// the whole stream (the second starts with metadata and headers, the gap is one frame). Also:
// publishers without ReconnectRequest support are closed at the deadline, close() ends a drain,
// and `rtmp serve` drains on SIGTERM (a second signal stops at once).
//
// The client side, twice: `MigratingPublisher` below is a small loop over the
// `reconnect-request` event doing what the spec asks of a client (keep sending to the old server
// up to the next keyframe, connect to the named tcUrl, resend metadata and sequence headers,
// continue there, then close the old connection); the second case uses RtmpClient's own
// `reconnect` option, which announces capsEx Reconnect and does the same by itself.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import process from "node:process";
import { RtmpClient, type RtmpClientOptions } from "../client.ts";
import type { ConnectRequest } from "../session/server_session.ts";
import { RtmpServer, type RtmpServerOptions, type ServerEvent } from "../server.ts";
import type { PublishSession } from "../server/publish_session.ts";
import { recordPackets } from "../flv/recorder.ts";
import { CapsExMask } from "../protocol/capabilities.ts";
import type { FlvTag } from "../protocol/flv.ts";
import { isKeyframePayload, isSequenceHeaderPayload } from "../protocol/packet.ts";
import { ClientSession, type ClientSessionEvent } from "../session/client_session.ts";
import { ServerSession } from "../session/server_session.ts";
import { concat, throwsCode } from "./support/util.ts";
import { countPackets, ffmpegPull, makeTestFlv, tempDir, waitFor } from "./support/peers.ts";
import { readFlvTags, sleep, within } from "./support/media.ts";
import { requirePeer } from "./support/require_peer.ts";
import { type RunningScript, startScript, stopScript } from "./support/runtime.ts";

const noFfmpeg = requirePeer("ffmpeg");
const RECONNECT_CAPS: RtmpClientOptions = {
  connectProperties: { capsEx: CapsExMask.Reconnect },
};

function isHeader(tag: FlvTag): boolean {
  return (tag.type === 8 || tag.type === 9) &&
    isSequenceHeaderPayload(tag.type === 9 ? "video" : "audio", tag.data);
}

function isVideoKeyframe(tag: FlvTag): boolean {
  return tag.type === 9 && !isHeader(tag) && isKeyframePayload(tag.data);
}

/** A publisher that follows ReconnectRequests at the next keyframe (see the file comment). */
class MigratingPublisher {
  #client: RtmpClient;
  readonly #streamName: string;
  readonly #options: RtmpClientOptions;
  #target: string | null = null;
  #metadata: FlvTag | null = null;
  readonly #headers = new Map<number, FlvTag>();
  /** The URLs published to, in order. */
  readonly urls: string[];
  /** Timestamp of the keyframe each move happened at. */
  readonly movedAt: number[] = [];
  lastTimestamp = -1;

  private constructor(client: RtmpClient, url: string, options: RtmpClientOptions) {
    this.#client = client;
    this.#streamName = client.url.streamName;
    this.#options = options;
    this.urls = [url];
    this.#watch(client);
  }

  static async connect(url: string, options: RtmpClientOptions): Promise<MigratingPublisher> {
    return new MigratingPublisher(await RtmpClient.connect(url, options), url, options);
  }

  #watch(client: RtmpClient): void {
    (async () => {
      for await (const ev of client.events()) {
        if (ev.type !== "reconnect-request" || client !== this.#client) continue;
        // E-RTMP v2: no tcUrl means the current one; a relative one resolves against it.
        const base = client.url.tcUrl;
        this.#target = ev.tcUrl === null ? base : new URL(ev.tcUrl, base).href;
      }
    })();
  }

  async send(tag: FlvTag): Promise<void> {
    if (tag.type === 18 && this.#metadata === null) this.#metadata = tag;
    if (isHeader(tag)) this.#headers.set(tag.type, tag);
    if (this.#target !== null && isVideoKeyframe(tag)) await this.#move(this.#target, tag);
    await this.#client.sendFlvTag(tag);
    this.lastTimestamp = tag.timestamp;
  }

  async #move(tcUrl: string, at: FlvTag): Promise<void> {
    this.#target = null;
    const url = `${tcUrl.replace(/\/$/, "")}/${this.#streamName}`;
    const next = await RtmpClient.connect(url, this.#options);
    if (this.#metadata) await next.sendFlvTag({ ...this.#metadata, timestamp: at.timestamp });
    for (const h of this.#headers.values()) {
      await next.sendFlvTag({ ...h, timestamp: at.timestamp });
    }
    const old = this.#client;
    this.#client = next;
    this.urls.push(url);
    this.movedAt.push(at.timestamp);
    this.#watch(next);
    await old.close();
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}

/** Sends every tag, paced at `speed` times real time (a live encoder, sped up). */
async function publishPaced(
  pub: MigratingPublisher,
  tags: FlvTag[],
  speed: number,
): Promise<void> {
  const start = Date.now();
  for (const tag of tags) {
    const due = start + tag.timestamp / speed - Date.now();
    if (due > 0) await sleep(due);
    await pub.send(tag);
  }
}

/** A server that records every publish to DIR/<id>.flv. */
async function recordingServer(
  dir: string,
  log: string[],
  extra: Partial<RtmpServerOptions> = {},
): Promise<{ server: RtmpServer; files: string[]; recorded: Promise<unknown>[] }> {
  const files: string[] = [];
  const recorded: Promise<unknown>[] = [];
  const server = await RtmpServer.listen({
    ...extra,
    hostname: "127.0.0.1",
    port: 0,
    log: (line) => log.push(line),
    onSession: (session: PublishSession) => {
      const path = join(dir, `${session.id}.flv`);
      files.push(path);
      const done = recordPackets(session, path);
      recorded.push(done);
      return done.then(() => {});
    },
  });
  return { server, files, recorded };
}

function events(server: RtmpServer): ServerEvent[] {
  const seen: ServerEvent[] = [];
  (async () => {
    for await (const e of server.events) seen.push(e);
  })();
  return seen;
}

describe("drain with ReconnectRequest", { skip: noFfmpeg }, () => {
  let source = "";
  let tags: FlvTag[] = [];
  before(async () => {
    source = await makeTestFlv({ seconds: 8, fps: 25 });
    tags = await readFlvTags(source);
  });

  it("moves a publisher to a second server; the recordings together are one stream", async () => {
    const dir = await tempDir("rtmp-drain-");
    const logA: string[] = [];
    const logB: string[] = [];
    const a = await recordingServer(await tempDir("rtmp-drain-a-"), logA);
    const b = await recordingServer(await tempDir("rtmp-drain-b-"), logB);
    const seenA = events(a.server);
    try {
      const urlA = `rtmp://127.0.0.1:${a.server.addr.port}/live/cam`;
      const tcUrlB = `rtmp://127.0.0.1:${b.server.addr.port}/live`;
      // The player waits on A for the publisher (the server holds a play of a key that is not
      // live yet), so it is there before the drain however slowly ffmpeg starts.
      const player = ffmpegPull(urlA, join(dir, "player-a.flv"), { timeoutMs: 30_000 });
      await waitFor(() => a.server.playerCount === 1, { what: "A's player waiting" });
      const pub = await MigratingPublisher.connect(urlA, RECONNECT_CAPS);
      const publishing = publishPaced(pub, tags, 4);
      await waitFor(() => pub.lastTimestamp >= 1000, { what: "1 s of media sent to A" });
      const result = await within(
        a.server.drain({ timeout: 20_000, tcUrl: tcUrlB }),
        25_000,
        "drain of A",
      );
      await publishing;
      await pub.close();
      await within(Promise.all(b.recorded), 10_000, "B's recording");
      await b.server.close();

      assert.deepEqual(pub.urls, [urlA, `${tcUrlB}/cam`], "the client moved to B once");
      assert.deepEqual(
        { asked: result.asked, left: result.left, closed: result.closed },
        { asked: 1, left: 1, closed: 0 },
      );
      assert.deepEqual(result.publishers[0].reasons, ["publisher-closed"]);
      assert.ok(result.publishers[0].asked);
      const reconnect = seenA.find((e) => e.type === "reconnect-request");
      assert.ok(reconnect && reconnect.type === "reconnect-request");
      assert.equal(reconnect.tcUrl, tcUrlB);
      assert.deepEqual(reconnect.keys, ["live/cam"]);
      assert.ok(seenA.some((e) => e.type === "drain-start"));
      assert.ok(seenA.some((e) => e.type === "drain-end" && e.left === 1));
      assert.ok(
        logA.some((l) =>
          /drain: rtmp 127\.0\.0\.1:\d+ publishing "live\/cam": asked to reconnect to rtmp:/.test(l)
        ),
        logA.join("\n"),
      );
      assert.ok(
        logA.some((l) =>
          /drain: rtmp 127\.0\.0\.1:\d+ left after [\d.]+ s \("live\/cam" publisher-closed\)/.test(
            l,
          )
        ),
        logA.join("\n"),
      );
      assert.ok(
        logA.some((l) => /drain: done in [\d.]+ s: 1 of 1 publisher\(s\) left, 0 closed/.test(l)),
      );

      // Both recordings are finalized files; together they hold every frame exactly once.
      assert.equal(a.files.length, 1);
      assert.equal(b.files.length, 1);
      const fileA = await readFlvTags(a.files[0]);
      const fileB = await readFlvTags(b.files[0]);
      const switchAt = pub.movedAt[0];
      assert.ok(
        switchAt > 0 && tags.some((t) => isVideoKeyframe(t) && t.timestamp === switchAt),
        `moved at a keyframe after the start, got ${switchAt}`,
      );
      // B starts with metadata and both sequence headers, then the keyframe.
      assert.equal(fileB[0].type, 18, "B starts with onMetaData");
      assert.deepEqual(
        fileB.slice(1, 3).map((t) => [t.type, isHeader(t)]).sort(),
        [[8, true], [9, true]],
        "then the audio and video sequence headers",
      );
      const firstB = fileB.find((t) => t.type === 9 && !isHeader(t))!;
      assert.ok(isVideoKeyframe(firstB), "B's first frame is a keyframe");
      assert.equal(firstB.timestamp, switchAt);
      const frames = (list: FlvTag[]) =>
        list.filter((t) => (t.type === 8 || t.type === 9) && !isHeader(t)).map((t) =>
          `${t.type}@${t.timestamp}:${t.data.length}`
        );
      assert.deepEqual(
        [...frames(fileA), ...frames(fileB)],
        frames(tags),
        "no frame lost or doubled",
      );
      const lastVideoA = fileA.filter((t) => t.type === 9).at(-1)!.timestamp;
      assert.ok(firstB.timestamp - lastVideoA <= 100, `gap ${firstB.timestamp - lastVideoA} ms`);
      for (const f of [a.files[0], b.files[0]]) {
        const counts = await countPackets(f);
        assert.ok(counts.video > 0 && counts.audio > 0, `${f} probes as audio + video`);
      }
      // A's player was told the stream ended (UnpublishNotify) and left by itself, before the
      // drain's wait was over and the server closed.
      const stop = seenA.findIndex((e) => e.type === "stop");
      const end = seenA.findIndex((e) => e.type === "drain-end");
      assert.ok(stop >= 0 && stop < end, seenA.map((e) => e.type).join(","));
      const stopped = seenA[stop];
      assert.ok(stopped.type === "stop" && /player sent|connection closed/.test(stopped.reason));
      const played = await within(player.done, 20_000, "A's player");
      assert.equal(played.code, 0, played.stderr);
      const got = await countPackets(join(dir, "player-a.flv"));
      assert.ok(got.video > 0);
    } finally {
      await a.server.close();
      await b.server.close();
    }
  });
});

describe("drain with RtmpClient's own reconnect option", { skip: noFfmpeg }, () => {
  it("a real RtmpClient with reconnect follows A's ReconnectRequest to B; B's recording starts clean", async () => {
    const tags = await readFlvTags(await makeTestFlv({ seconds: 8, fps: 25 }));
    const logA: string[] = [];
    const logB: string[] = [];
    const connects: ConnectRequest[] = [];
    const a = await recordingServer(await tempDir("rtmp-drain-rc-a-"), logA, {
      onConnect: (info) => {
        connects.push(info.connect);
        return true;
      },
    });
    const b = await recordingServer(await tempDir("rtmp-drain-rc-b-"), logB);
    try {
      const urlA = `rtmp://127.0.0.1:${a.server.addr.port}/live/cam`;
      const tcUrlB = `rtmp://127.0.0.1:${b.server.addr.port}/live`;
      // No connectProperties: the client announces capsEx Reconnect itself when reconnecting is on.
      const client = await RtmpClient.connect(urlA, {
        reconnect: { maxAttempts: 3, initialDelay: 100, maxDelay: 1_000 },
      });
      assert.equal(connects.length, 1);
      assert.ok(
        ((connects[0].capsEx ?? 0) & CapsExMask.Reconnect) !== 0,
        `capsEx announces Reconnect: ${connects[0].capsEx}`,
      );
      let last = -1;
      const start = Date.now();
      const publishing = (async () => {
        // 4× real time, like MigratingPublisher's test above.
        for (const tag of tags) {
          const due = start + tag.timestamp / 4 - Date.now();
          if (due > 0) await sleep(due);
          await client.sendFlvTag(tag);
          last = tag.timestamp;
        }
      })();
      await waitFor(() => last >= 1000, { what: "1 s of media sent to A" });
      const result = await within(
        a.server.drain({ timeout: 20_000, tcUrl: tcUrlB }),
        25_000,
        "drain of A",
      );
      await within(publishing, 20_000, "the publish");
      await client.close();
      await within(Promise.all(b.recorded), 10_000, "B's recording");
      await within(Promise.all(a.recorded), 10_000, "A's recording");

      assert.deepEqual(
        { asked: result.asked, left: result.left, closed: result.closed },
        { asked: 1, left: 1, closed: 0 },
        logA.join("\n"),
      );
      assert.equal(client.reconnects, 1, "one reconnect");
      assert.equal(client.url.tcUrl, tcUrlB, "the client now publishes on B");
      assert.equal(b.files.length, 1, logB.join("\n"));
      const fileB = await readFlvTags(b.files[0]);
      assert.equal(fileB[0].type, 18, "B starts with onMetaData");
      assert.deepEqual(
        fileB.slice(1, 3).map((t) => [t.type, isHeader(t)]).sort(),
        [[8, true], [9, true]],
        "then the audio and video sequence headers",
      );
      const firstB = fileB.find((t) => t.type === 9 && !isHeader(t))!;
      assert.ok(isVideoKeyframe(firstB), "B's first frame is a keyframe");
      assert.ok(firstB.timestamp > 0, `B starts after the beginning (t=${firstB.timestamp})`);
      // Every frame B got is the source's from its first keyframe on, in order.
      const frames = (list: FlvTag[]) =>
        list.filter((t) => (t.type === 8 || t.type === 9) && !isHeader(t)).map((t) =>
          `${t.type}@${t.timestamp}:${t.data.length}`
        );
      const fromSwitch = frames(tags.filter((t) => t.timestamp >= firstB.timestamp));
      const gotB = frames(fileB);
      assert.deepEqual(
        gotB.filter((f) => f.startsWith("9@")),
        fromSwitch.filter((f) => f.startsWith("9@")),
        "video on B from the keyframe to the end",
      );
      const fileA = await readFlvTags(a.files[0]);
      assert.deepEqual(
        [...frames(fileA), ...gotB],
        frames(tags),
        "A and B together hold every frame once",
      );
      const lastVideoA = fileA.filter((t) => t.type === 9).at(-1)!.timestamp;
      assert.ok(firstB.timestamp - lastVideoA <= 100, `gap ${firstB.timestamp - lastVideoA} ms`);
      const counts = await countPackets(b.files[0]);
      assert.ok(counts.video > 0 && counts.audio > 0, "B's recording probes as audio + video");
    } finally {
      await a.server.close();
      await b.server.close();
    }
  });
});

describe("ServerSession.requestReconnect (sans-IO)", () => {
  it("sends onStatus NetConnection.Connect.ReconnectRequest with and without a tcUrl; the client reads both", () => {
    const client = new ClientSession({
      connect: { app: "live", tcUrl: "rtmp://127.0.0.1/live", capsEx: CapsExMask.Reconnect },
      streamName: "k",
    });
    const server = new ServerSession();
    const seen: ClientSessionEvent[] = [];
    for (let round = 0; round < 50; round++) {
      const up = concat(client.takeOutput());
      const down = concat(server.takeOutput());
      if (up.length === 0 && down.length === 0) break;
      if (up.length > 0) {
        for (const e of server.receive(up)) {
          if (e.type === "connect-request") {
            assert.equal(e.request.capsEx, CapsExMask.Reconnect);
            server.accept(e.id);
          } else if (e.type === "publish-request") server.accept(e.id);
        }
      }
      if (down.length > 0) seen.push(...client.receive(down));
    }
    assert.ok(seen.some((e) => e.type === "publishing"));
    server.requestReconnect("rtmp://node-2.example.com/live", "moving you");
    server.requestReconnect();
    const events = client.receive(concat(server.takeOutput()));
    assert.deepEqual(events, [
      {
        type: "reconnect-request",
        tcUrl: "rtmp://node-2.example.com/live",
        description: "moving you",
      },
      {
        type: "reconnect-request",
        tcUrl: null,
        description: "The server asks the client to reconnect.",
      },
    ]);
  });

  it("is refused before a connect was accepted", () => {
    throwsCode(() => new ServerSession().requestReconnect(), "INVALID_ARGUMENT");
  });
});

describe("drain without ReconnectRequest support", () => {
  const frame = new Uint8Array([0, 0, 0, 1, 0x65]);

  it("a publisher that did not announce capsEx Reconnect is closed at the deadline", async () => {
    const log: string[] = [];
    const server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: (l) => log.push(l),
    });
    const legacy = await RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/old`);
    const capable = await RtmpClient.connect(
      `rtmp://127.0.0.1:${server.addr.port}/live/new`,
      RECONNECT_CAPS,
    );
    const asked: string[] = [];
    (async () => {
      for await (const ev of capable.events()) {
        if (ev.type === "reconnect-request") asked.push(ev.tcUrl ?? "(own)");
      }
    })();
    await legacy.sendVideo(0, true, frame);
    await capable.sendVideo(0, true, frame);
    const sessions = server.liveSessions();
    const result = await within(
      server.drain({ timeout: 300, tcUrl: ({ app }) => `rtmp://127.0.0.2/${app}` }),
      10_000,
      "drain",
    );
    assert.deepEqual(asked, ["rtmp://127.0.0.2/live"], "only the capable one was asked");
    assert.equal(result.asked, 1);
    assert.equal(result.closed, 2, "neither left: both are closed at the deadline");
    for (const s of sessions) assert.equal(await s.ended, "server-closed");
    assert.ok(log.some((l) => /"live\/old" did not announce ReconnectRequest support/.test(l)));
    assert.ok(log.some((l) => /still publishing "live\/old" after 300 ms: closing/.test(l)));
    await legacy.closed;
    await capable.closed;
  });

  it("close() during a drain ends it; the listener is closed from the start", async () => {
    const server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, log: null });
    const port = server.addr.port;
    const client = await RtmpClient.connect(`rtmp://127.0.0.1:${port}/live/a`);
    await client.sendVideo(0, true, frame);
    const draining = server.drain({ timeout: 60_000 });
    assert.equal(server.drain(), draining, "one drain");
    const refused = await RtmpClient.connect(`rtmp://127.0.0.1:${port}/live/b`, { timeout: 3000 })
      .then(() => "connected", (e) => String(e));
    assert.match(refused, /ECONNREFUSED|refused|CONNECTION/i, "the listener is closed");
    assert.equal(server.stats().draining, true);
    await server.close();
    const result = await within(draining, 5000, "drain after close()");
    assert.equal(result.closed, 1);
    assert.deepEqual(result.publishers[0].reasons, ["server-closed"]);
    await client.closed;
  });
});

describe("rtmp serve drains on SIGTERM", { skip: noFfmpeg }, () => {
  let tags: FlvTag[] = [];
  before(async () => {
    tags = await readFlvTags(await makeTestFlv({ seconds: 8, fps: 25 }));
  });

  async function startServe(args: string[]): Promise<{ serve: RunningScript; port: number }> {
    const serve = startScript("cli.ts", ["serve", "--listen", "127.0.0.1:0", ...args]);
    const m = await serve.waitFor(/listening on rtmp:\/\/127\.0\.0\.1:(\d+)/);
    return { serve, port: Number(m[1]) };
  }

  it("the publisher moves to --reconnect-url and serve exits 0", async () => {
    const b = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, log: null });
    const tcUrlB = `rtmp://127.0.0.1:${b.addr.port}/live`;
    const { serve, port } = await startServe([
      "--drain-timeout",
      "20000",
      "--reconnect-url",
      tcUrlB,
    ]);
    try {
      const pub = await MigratingPublisher.connect(
        `rtmp://127.0.0.1:${port}/live/k`,
        RECONNECT_CAPS,
      );
      const publishing = publishPaced(pub, tags, 4);
      await waitFor(() => pub.lastTimestamp >= 1000, { what: "1 s of media sent" });
      process.kill(serve.child.pid!, "SIGTERM");
      assert.equal(await within(serve.exit, 20_000, "serve exit"), 0, serve.stderr());
      await publishing;
      assert.equal(pub.urls.at(-1), `${tcUrlB}/k`);
      assert.equal(b.streamCount, 1, "the stream lives on B");
      await pub.close();
      const out = serve.stderr();
      assert.match(out, /SIGTERM: draining \(up to 20000 ms/);
      assert.match(
        out,
        /publishing "live\/k": asked to reconnect to rtmp:\/\/127\.0\.0\.1:\d+\/live/,
      );
      assert.match(out, /1 of 1 publisher\(s\) left, 0 closed/);
    } finally {
      await stopScript(serve);
      await b.close();
    }
  });

  it("a second signal stops at once, closing publishers that cannot reconnect", async () => {
    const { serve, port } = await startServe(["--drain-timeout", "60000"]);
    try {
      const client = await RtmpClient.connect(`rtmp://127.0.0.1:${port}/live/legacy`);
      await client.sendVideo(0, true, new Uint8Array([0, 0, 0, 1, 0x65]));
      process.kill(serve.child.pid!, "SIGTERM");
      await serve.waitFor(/did not announce ReconnectRequest support/);
      process.kill(serve.child.pid!, "SIGTERM");
      assert.equal(await within(serve.exit, 15_000, "serve exit after the second signal"), 0);
      assert.match(serve.stderr(), /SIGTERM again: closing every connection now/);
      assert.match(serve.stderr(), /0 of 1 publisher\(s\) left, 1 closed/);
      await client.closed;
    } finally {
      await stopScript(serve);
    }
  });
});
