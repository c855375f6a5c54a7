/**
 * HTTP-FLV and WebSocket-FLV playback through the real server: an in-process RtmpServer with
 * `listenHttp`, ffmpeg publishing over RTMP, and ffprobe, curl and the runtime's own `WebSocket`
 * reading the stream. The viewers attach before the publish starts (the server waits
 * `limits.playWaitTimeout` for a key that is not live yet), so they must get every packet.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { RtmpServer } from "../server.ts";
import type { PlayInfo } from "../server/types.ts";
import { FlvDemuxer, type FlvTag } from "../protocol/flv.ts";
import { isKeyframePayload, isSequenceHeaderPayload } from "../protocol/packet.ts";
import {
  countPackets,
  ffmpegPublish,
  makeTestFlv,
  type PacketCounts,
  tempDir,
  waitFor,
} from "./support/peers.ts";
import { requirePeer } from "./support/require_peer.ts";
import { concat } from "./support/util.ts";

const noPeers = requirePeer("ffmpeg", "curl");

/** Runs curl writing the body to `out`; resolves with its exit code when the stream ends. */
function curlTo(url: string, out: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("curl", ["-sS", "--fail", "-o", out, url], { stdio: "ignore" });
    child.once("error", reject);
    child.once("exit", (code) => resolve(code ?? -1));
  });
}

/** Collects a WebSocket stream with the runtime's own client until it closes. */
function webSocketBytes(
  url: string,
): Promise<{ bytes: Uint8Array; code: number; opened: boolean }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const chunks: Uint8Array[] = [];
    let opened = false;
    ws.onopen = () => opened = true;
    ws.onmessage = (e: MessageEvent) => chunks.push(new Uint8Array(e.data as ArrayBuffer));
    ws.onclose = (e: CloseEvent) => resolve({ bytes: concat(chunks), code: e.code, opened });
  });
}

/** Reads an HTTP-FLV response until `enough(tags)` holds, then cancels it. */
async function readTagsUntil(url: string, enough: (tags: FlvTag[]) => boolean): Promise<FlvTag[]> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const demuxer = new FlvDemuxer({ strict: true });
  const tags: FlvTag[] = [];
  try {
    while (!enough(tags)) {
      const { done, value } = await reader.read();
      if (done) break;
      tags.push(...demuxer.push(value));
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return tags;
}

function isHeader(tag: FlvTag): boolean {
  return (tag.type === 8 || tag.type === 9) &&
    isSequenceHeaderPayload(tag.type === 9 ? "video" : "audio", tag.data);
}

describe("HTTP-FLV / WS-FLV playback of a real RTMP publish", { skip: noPeers }, () => {
  let server: RtmpServer;
  let rtmp = "";
  let http = "";
  let ws = "";
  let dir = "";
  const plays: PlayInfo[] = [];
  const log: string[] = [];

  before(async () => {
    server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: (line) => log.push(line),
      limits: { playWaitTimeout: 15_000 },
      onPlay: (info) => {
        plays.push(info);
        if (info.query.get("token") === "bad") {
          return { accept: false, reason: "bad token", description: "token refused" };
        }
        return true;
      },
    });
    const addr = await server.listenHttp({ hostname: "127.0.0.1", port: 0 });
    rtmp = `rtmp://127.0.0.1:${server.addr.port}/live`;
    http = `http://127.0.0.1:${addr.port}/live`;
    ws = `ws://127.0.0.1:${addr.port}/live`;
    dir = await tempDir("http-play-");
  });

  after(async () => {
    await server?.close();
  });

  it("ffprobe, curl and WebSocket viewers attached before the publish get every packet", async () => {
    const source = await makeTestFlv({ seconds: 2, bFrames: true });
    const want = await countPackets(source);
    assert.ok(want.video > 0 && want.audio > 0);
    const key = "early";
    const curlFile = join(dir, "curl.flv");
    const probe: Promise<PacketCounts> = countPackets(`${http}/${key}.flv?token=p`);
    const curl = curlTo(`${http}/${key}.flv?token=c`, curlFile);
    const socket = webSocketBytes(`${ws}/${key}.flv?token=w`);
    await waitFor(() => (server.hub.get(`live/${key}`)?.subscriberCount ?? 0) === 3, {
      timeoutMs: 10_000,
      what: `three viewers waiting on live/${key} (${log.join("\n")})`,
    });
    const published = await ffmpegPublish(source, `${rtmp}/${key}`);
    assert.equal(published.code, 0, published.stderr);
    assert.equal(await curl, 0, "curl ends cleanly when the publisher leaves");
    const got = await socket;
    assert.equal(got.opened, true);
    assert.equal(got.code, 1000);
    const wsFile = join(dir, "ws.flv");
    await writeFile(wsFile, got.bytes);
    const probed = await probe;
    const curled = await countPackets(curlFile);
    const socketed = await countPackets(wsFile);
    for (const [name, c] of [["ffprobe", probed], ["curl", curled], ["ws", socketed]] as const) {
      assert.equal(c.video, want.video, `${name} video packets`);
      assert.equal(c.audio, want.audio, `${name} audio packets`);
    }
    // The WebSocket bytes are one well-formed FLV: header, then tags.
    const tags = new FlvDemuxer({ strict: true }).push(got.bytes);
    assert.equal(tags[0].type, 18, "metadata first");
    assert.deepEqual(
      new Uint8Array(await readFile(curlFile)).subarray(0, 3),
      new TextEncoder().encode("FLV"),
    );
    const early = plays.filter((p) => p.name === key);
    assert.deepEqual(
      early.map((p) => `${p.protocol}:${p.query.get("token")}`).sort(),
      ["http-flv:c", "http-flv:p", "ws-flv:w"],
    );
  });

  it("a late HTTP viewer starts with metadata, headers and a keyframe", async () => {
    const source = await makeTestFlv({ seconds: 4, bFrames: false });
    const key = "late";
    const publishing = ffmpegPublish(source, `${rtmp}/${key}`, { realtime: true });
    try {
      // Join mid-GOP: past the first keyframe (GOP 2 s), before the second.
      await waitFor(() => (server.hub.get(`live/${key}`)?.lastTimestamp ?? 0) >= 2_600, {
        timeoutMs: 15_000,
        what: "the publish to pass 2.6 s",
      });
      const tags = await readTagsUntil(
        `${http}/${key}.flv`,
        (t) => t.filter((x) => x.type === 9 && !isHeader(x)).length >= 10,
      );
      assert.equal(tags[0].type, 18, "metadata first");
      const firstMedia = tags.findIndex((t) => !isHeader(t) && t.type !== 18);
      const headers = tags.slice(1, firstMedia);
      assert.deepEqual(headers.map((t) => t.type).sort(), [8, 9], "both sequence headers");
      const firstVideo = tags.find((t) => t.type === 9 && !isHeader(t))!;
      assert.ok(isKeyframePayload(firstVideo.data), "the first video frame is a keyframe");
      assert.ok(firstVideo.timestamp >= 2_000, `joined late (t=${firstVideo.timestamp})`);
      assert.ok(plays.some((p) => p.name === key && p.protocol === "http-flv"));
    } finally {
      const done = await publishing;
      assert.equal(done.code, 0, done.stderr);
    }
  });

  it("onPlay refuses HTTP-FLV with 403 and WS-FLV at the upgrade", async () => {
    const before = plays.length;
    const res = await fetch(`${http}/any.flv?token=bad`);
    assert.equal(res.status, 403);
    assert.match(await res.text(), /token refused/);
    const got = await webSocketBytes(`${ws}/any.flv?token=bad`);
    assert.equal(got.opened, false, "the upgrade is refused");
    assert.equal(got.bytes.length, 0);
    assert.deepEqual(plays.slice(before).map((p) => p.protocol), ["http-flv", "ws-flv"]);
    assert.equal(server.hub.get("live/any")?.subscriberCount ?? 0, 0, "no viewer left behind");
  });
});
