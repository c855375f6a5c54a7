// The push client against real servers: nginx-rtmp, node-media-server and ffmpeg -listen. What
// arrives is pulled back (or recorded) by ffmpeg and counted with ffprobe.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { RtmpClient } from "../client.ts";
import { RtmpError } from "../errors.ts";
import {
  countPackets,
  ffmpegPull,
  freePort,
  makeTestFlv,
  removeTempDir,
  startFfmpegListen,
  startHttpStatus,
  startNginxRtmp,
  startNodeMediaServer,
  tempDir,
} from "./support/peers.ts";
import { readFlvTags } from "./support/media.ts";
import { requirePeer } from "./support/require_peer.ts";
import { makeTestCert } from "./support/tls_cert.ts";

const noFfmpeg = requirePeer("ffmpeg");
const noNginx = requirePeer("nginx-rtmp");
const noNms = requirePeer("node-media-server", "openssl");

let source = "";
let dir = "";

/** Publishes every tag of `file` through our client, paced by timestamps at `speed`× real time. */
async function publishFile(
  url: string,
  file: string,
  options: { speed?: number; tls?: { ca: string } } = {},
): Promise<void> {
  const tags = await readFlvTags(file);
  const client = await RtmpClient.connect(url, { timeout: 10_000, tls: options.tls });
  const speed = options.speed ?? 0;
  const start = performance.now();
  for (const tag of tags) {
    if (speed > 0) {
      const wait = tag.timestamp / speed - (performance.now() - start);
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    }
    await client.sendFlvTag(tag);
  }
  await client.close();
}

/**
 * Attaches an ffmpeg player to `server` for `key`, publishes the source to `publishUrl` with our
 * client, and checks the player recorded every frame.
 */
async function publishToPlayer(
  server: { url(app: string, key: string): string; waitForPlay(key: string): Promise<void> },
  key: string,
  publishUrl: string,
  tls?: { ca: string },
): Promise<void> {
  const out = join(dir, `${key}.flv`);
  const player = ffmpegPull(server.url("live", key), out, { idleTimeoutSec: 3, timeoutMs: 30_000 });
  await server.waitForPlay(key);
  await publishFile(publishUrl, source, { speed: 4, tls });
  const r = await player.done;
  assert.ok(r.code === 0 || /timed out|End of file/i.test(r.stderr), r.stderr);
  await assertSameFrames(out, source);
}

async function assertSameFrames(got: string, want: string): Promise<void> {
  const [a, b] = await Promise.all([countPackets(got), countPackets(want)]);
  assert.deepEqual({ video: a.video, audio: a.audio }, { video: b.video, audio: b.audio });
}

describe("RtmpClient interop", { skip: noFfmpeg }, () => {
  before(async () => {
    source = await makeTestFlv({ seconds: 2 });
    dir = await tempDir("rtmp-client-interop-");
  });
  after(async () => {
    if (dir) await removeTempDir(dir);
  });

  it("publishes to ffmpeg -listen 1 with every frame recorded", async () => {
    const port = await freePort();
    const out = join(dir, "listen.flv");
    const listener = await startFfmpegListen(`rtmp://127.0.0.1:${port}/live/key`, out);
    await publishFile(`rtmp://127.0.0.1:${port}/live/key`, source);
    const r = await listener.done;
    assert.equal(r.code, 0, r.stderr);
    await assertSameFrames(out, source);
  });

  describe("nginx-rtmp", { skip: noNginx }, () => {
    it("publishes with every frame reaching a player", async () => {
      const nginx = await startNginxRtmp();
      try {
        await publishToPlayer(nginx, "k1", nginx.url("live", "k1"));
      } finally {
        await nginx.stop();
      }
    });

    it("a server killed mid-stream makes the next sends reject with a typed error", async () => {
      const nginx = await startNginxRtmp();
      let stopped = false;
      try {
        const client = await RtmpClient.connect(nginx.url("live", "dies"), { timeout: 10_000 });
        await client.sendAudio(0, new Uint8Array([0x21, 0]));
        await nginx.stop();
        stopped = true;
        let error: unknown = null;
        // Bytes may still be accepted by the kernel until the peer's reset or FIN is seen.
        for (let i = 1; i <= 200 && !error; i++) {
          try {
            await client.sendAudio(i * 20, new Uint8Array(1000));
          } catch (e) {
            error = e;
          }
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.ok(error instanceof RtmpError, `expected RtmpError, got ${error}`);
        assert.ok(["CONNECTION_CLOSED", "CONNECTION_RESET"].includes(error.code), error.code);
        await client.close();
      } finally {
        if (!stopped) await nginx.stop();
      }
    });

    it("an on_publish callback answering 403 rejects connect with a typed error", async () => {
      const hook = await startHttpStatus(403);
      const nginx = await startNginxRtmp({ onPublish: hook.url });
      try {
        const started = Date.now();
        await assert.rejects(
          RtmpClient.connect(nginx.url("live", "denied"), { timeout: 10_000 }),
          (e: unknown) => {
            assert.ok(e instanceof RtmpError, String(e));
            assert.ok(
              ["REJECTED", "CONNECTION_CLOSED", "CONNECTION_RESET"].includes(e.code),
              e.code,
            );
            return true;
          },
        );
        assert.ok(Date.now() - started < 10_000, "no hang until the timeout");
        assert.ok(hook.requests.some((r) => r.body.includes("name=denied")), "callback was called");
      } finally {
        await nginx.stop();
        await hook.stop();
      }
    });
  });

  describe("node-media-server", { skip: noNms }, () => {
    it("publishes over RTMP and RTMPS with every frame reaching a player; untrusted RTMPS fails with TLS", async () => {
      const { ca, dir: certDir } = await makeTestCert();
      const nms = await startNodeMediaServer({
        rtmps: { cert: join(certDir, "cert.pem"), key: join(certDir, "key.pem") },
        endPlayersOnUnpublish: true,
      });
      try {
        await publishToPlayer(nms, "k2", nms.url("live", "k2"));

        const secureUrl = nms.rtmpsUrl("live", "k3");
        await assert.rejects(RtmpClient.connect(secureUrl, { timeout: 5000 }), (e: unknown) => {
          assert.ok(e instanceof RtmpError && e.code === "TLS", String(e));
          return true;
        });
        await publishToPlayer(nms, "k3", secureUrl, { ca });
      } finally {
        await nms.stop();
      }
    });
  });
});
