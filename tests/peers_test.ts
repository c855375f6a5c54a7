// Self-test of tests/support/peers.ts: real ffmpeg, nginx-rtmp and node-media-server exchange a
// generated clip, with no @x/rtmp code involved. Each test owns its peers and stops them in
// `finally`, so a failure never leaves a process behind.
//
// Packet counts must match the source exactly: the player attaches before the publisher starts
// (`waitForPlay`), so a live relay forwards every packet from the first one; and the player ends
// by itself (nginx's UnpublishNotify, node-media-server closing players, the one-shot server's
// EOF), so ffmpeg flushes its interleaving queue into the file instead of being killed.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import {
  countPackets,
  ffmpegPublish,
  ffmpegPull,
  freePort,
  isPortListening,
  makeTestFlv,
  removeTempDir,
  startFfmpegListen,
  startHttpStatus,
  startNginxRtmp,
  startNodeMediaServer,
  tempDir,
  waitFor,
} from "./support/peers.ts";
import { requirePeer } from "./support/require_peer.ts";

const skipFfmpeg = requirePeer("ffmpeg");
const skipNginx = requirePeer("ffmpeg", "nginx-rtmp");
const skipNms = requirePeer("ffmpeg", "node-media-server");
const skipNmsTls = requirePeer("ffmpeg", "node-media-server", "openssl");

const CLIP_SECONDS = 2;
const CLIP_FPS = 25;
const TIMEOUT = { timeout: 45_000 };

/** Player first, publisher once the server attached it, then both must end cleanly. */
async function relayAndCompare(
  source: string,
  publishUrl: string,
  playUrl: string,
  waitForPlay: () => Promise<void>,
): Promise<void> {
  const dir = await tempDir("rtmp-peers-test-");
  try {
    const out = join(dir, "pulled.flv");
    const player = ffmpegPull(playUrl, out, { timeoutMs: 30_000 });
    try {
      await waitForPlay();
    } catch (error) {
      player.kill();
      throw new Error(`player never attached: ${(await player.done).stderr}`, { cause: error });
    }
    const published = await ffmpegPublish(source, publishUrl, { realtime: true });
    assert.equal(published.code, 0, `publisher failed:\n${published.stderr}`);
    const pulled = await player.done;
    assert.equal(pulled.code, 0, `player failed:\n${pulled.stderr}`);
    const expected = await countPackets(source);
    const got = await countPackets(out);
    assert.equal(got.video, expected.video, "video packets relayed");
    assert.equal(got.audio, expected.audio, "audio packets relayed");
  } finally {
    await removeTempDir(dir);
  }
}

describe("peers: test media", () => {
  it("makeTestFlv makes a cached H.264 + AAC clip that countPackets measures", {
    ...TIMEOUT,
    skip: skipFfmpeg,
  }, async () => {
    const file = await makeTestFlv({ seconds: CLIP_SECONDS, fps: CLIP_FPS });
    assert.equal(await makeTestFlv({ seconds: CLIP_SECONDS, fps: CLIP_FPS }), file, "cached");
    const counts = await countPackets(file);
    // `-t 2` at 25 fps gives exactly 50 frames; AAC frames are 1024 samples at 48 kHz.
    assert.equal(counts.video, CLIP_SECONDS * CLIP_FPS);
    assert.ok(counts.audio >= Math.floor((CLIP_SECONDS * 48_000) / 1024), `audio ${counts.audio}`);
    assert.ok(Math.abs(counts.duration - CLIP_SECONDS) < 0.25, `duration ${counts.duration}`);

    const other = await makeTestFlv({ seconds: 1, fps: 10, width: 160, height: 120 });
    assert.notEqual(other, file);
    assert.equal((await countPackets(other)).video, 10);
  });

  it("freePort gives a port nothing listens on", async () => {
    const port = await freePort();
    assert.ok(port > 0 && port < 65536);
    assert.equal(await isPortListening(port), false);
  });
});

describe("peers: nginx-rtmp", () => {
  it("relays an ffmpeg publish to an ffmpeg player packet for packet", {
    ...TIMEOUT,
    skip: skipNginx,
  }, async () => {
    const source = await makeTestFlv({ seconds: CLIP_SECONDS, fps: CLIP_FPS });
    const nginx = await startNginxRtmp({ chunkSize: 4096 });
    try {
      assert.equal(await isPortListening(nginx.port), true);
      const url = nginx.url("live", "relay");
      await relayAndCompare(source, url, url, () => nginx.waitForPlay("relay"));
      assert.match(await nginx.logs(), /publish: name='relay'/);
    } finally {
      await nginx.stop();
    }
    assert.equal(await isPortListening(nginx.port), false, "nginx gone after stop()");
  });

  it("on_publish answered 403 makes ffmpeg's publish fail and records the key", {
    ...TIMEOUT,
    skip: skipNginx,
  }, async () => {
    const hook = await startHttpStatus(403);
    try {
      const nginx = await startNginxRtmp({ onPublish: `${hook.url}on_publish` });
      try {
        const source = await makeTestFlv({ seconds: CLIP_SECONDS, fps: CLIP_FPS });
        const result = await ffmpegPublish(source, nginx.url("live", "secret-key"), {
          timeoutMs: 20_000,
        });
        assert.notEqual(result.code, 0, "publish must be refused");
        assert.notEqual(result.code, null, `ffmpeg hung until killed:\n${result.stderr}`);
        await waitFor(() => hook.requests.length > 0, { what: "on_publish callback" });
        const call = hook.requests[0];
        assert.equal(call.url, "/on_publish");
        const form = new URLSearchParams(call.body);
        assert.equal(form.get("call"), "publish");
        assert.equal(form.get("name"), "secret-key");
        assert.equal(form.get("app"), "live");
      } finally {
        await nginx.stop();
      }
    } finally {
      await hook.stop();
    }
  });
});

describe("peers: node-media-server", () => {
  it("relays an ffmpeg publish to an ffmpeg player packet for packet", {
    ...TIMEOUT,
    skip: skipNms,
  }, async () => {
    const source = await makeTestFlv({ seconds: CLIP_SECONDS, fps: CLIP_FPS });
    const nms = await startNodeMediaServer({ endPlayersOnUnpublish: true });
    try {
      const url = nms.url("live", "relay");
      await relayAndCompare(source, url, url, () => nms.waitForPlay("relay"));
      assert.match(nms.logs(), /start push \/live\/relay/);
    } finally {
      await nms.stop();
    }
    assert.equal(await isPortListening(nms.port), false, "node-media-server gone after stop()");
  });

  it("accepts an RTMPS publish and relays it to an RTMP player", {
    ...TIMEOUT,
    skip: skipNmsTls,
  }, async () => {
    const certDir = await tempDir("rtmp-peers-cert-");
    try {
      const key = join(certDir, "key.pem");
      const cert = join(certDir, "cert.pem");
      const made = spawnSync("openssl", [
        ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"],
        ...["-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
      ], { encoding: "utf8" });
      assert.equal(made.status, 0, `openssl failed: ${made.stderr}`);
      const source = await makeTestFlv({ seconds: CLIP_SECONDS, fps: CLIP_FPS });
      const nms = await startNodeMediaServer({ rtmps: { cert, key }, endPlayersOnUnpublish: true });
      try {
        assert.ok(nms.rtmpsPort !== undefined && nms.rtmpsPort !== nms.port);
        assert.equal(await isPortListening(nms.rtmpsPort), true);
        await relayAndCompare(
          source,
          nms.rtmpsUrl("live", "tls"),
          nms.url("live", "tls"),
          () => nms.waitForPlay("tls"),
        );
      } finally {
        await nms.stop();
      }
    } finally {
      await removeTempDir(certDir);
    }
  });
});

describe("peers: ffmpeg -listen", () => {
  it("receives an ffmpeg publish with B-frames packet for packet", {
    ...TIMEOUT,
    skip: skipFfmpeg,
  }, async () => {
    const source = await makeTestFlv({ seconds: CLIP_SECONDS, fps: CLIP_FPS, bFrames: true });
    const dir = await tempDir("rtmp-peers-listen-");
    try {
      const out = join(dir, "received.flv");
      const url = `rtmp://127.0.0.1:${await freePort()}/live/listen`;
      const server = await startFfmpegListen(url, out, { timeoutMs: 30_000 });
      const published = await ffmpegPublish(source, url);
      assert.equal(published.code, 0, `publisher failed:\n${published.stderr}`);
      const received = await server.done;
      assert.equal(received.code, 0, `listener failed:\n${received.stderr}`);
      const expected = await countPackets(source);
      const got = await countPackets(out);
      assert.equal(got.video, expected.video);
      assert.equal(got.audio, expected.audio);
    } finally {
      await removeTempDir(dir);
    }
  });
});
