// More of `serve` and `push` as users run them: RTMPS, a publisher that vanishes, a broken
// recording folder, and `push --loop`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FlvFileReader } from "../flv/file.ts";
import { RtmpServer } from "../server.ts";
import {
  countPackets,
  ffmpegPublish,
  ffmpegPull,
  makeTestFlv,
  startNginxRtmp,
  tempDir,
  waitFor,
} from "./support/peers.ts";
import { requirePeer } from "./support/require_peer.ts";
import { makeTestCert } from "./support/tls_cert.ts";
import { type RunningScript, runScript, startScript, stopScript } from "./support/runtime.ts";

const noPeers = requirePeer("ffmpeg", "openssl");
const noNginx = requirePeer("nginx-rtmp");

async function finishedRecording(serve: RunningScript, folder: string): Promise<string> {
  const m = await serve.waitFor(/recorded (\S+\.flv): \d+ tags/);
  assert.ok(m[1].startsWith(folder), m[1]);
  return m[1];
}

describe("cli serve/push edge cases", { skip: noPeers }, () => {
  it("serves RTMPS only, and push --ca publishes to it; without --ca push fails with a TLS error", async () => {
    const source = await makeTestFlv({ seconds: 2 });
    const { dir: certDir } = await makeTestCert();
    const rec = await tempDir("rtmp-cli-tls-");
    const serve = startScript("cli.ts", [
      ...[
        "serve",
        "--listen",
        "none",
        "--tls-cert",
        join(certDir, "cert.pem"),
        "--tls-key",
        join(certDir, "key.pem"),
      ],
      ...["--tls-listen", "127.0.0.1:0", "--key", "k", "--record", rec],
    ]);
    try {
      const m = await serve.waitFor(/listening on rtmps:\/\/127\.0\.0\.1:(\d+)/);
      const url = `rtmps://localhost:${m[1]}/live/k`;
      const untrusted = await runScript("cli.ts", ["push", "--fast", source, url]);
      assert.equal(untrusted.code, 1);
      assert.match(untrusted.stderr, /certificate|TLS/i);
      const ok = await runScript("cli.ts", [
        "push",
        "--fast",
        "--ca",
        join(certDir, "ca.pem"),
        source,
        url,
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      const file = await finishedRecording(serve, rec);
      const [got, want] = await Promise.all([countPackets(file), countPackets(source)]);
      assert.deepEqual([got.video, got.audio], [want.video, want.audio]);
      assert.match(serve.stderr(), /rtmps 127\.0\.0\.1:\d+: publish "live\/k" accepted/);
    } finally {
      assert.equal(await stopScript(serve), 0, serve.stderr());
    }
  });

  it("a publisher that vanishes mid-stream leaves a valid file up to its last complete tag", async () => {
    const source = await makeTestFlv({ seconds: 6 });
    const rec = await tempDir("rtmp-cli-vanish-");
    const serve = startScript("cli.ts", ["serve", "--listen", "127.0.0.1:0", "--record", rec]);
    try {
      const m = await serve.waitFor(/listening on rtmp:\/\/127\.0\.0\.1:(\d+)/);
      const ffmpeg = spawn("ffmpeg", [
        ...["-hide_banner", "-loglevel", "error", "-re", "-i", source, "-c", "copy", "-f", "flv"],
        `rtmp://127.0.0.1:${m[1]}/live/gone`,
      ], { stdio: "ignore" });
      const recording = (await serve.waitFor(/recording "live\/gone" to (\S+\.flv)/))[1];
      // Kill the publisher mid-stream: once a quarter of the clip's bytes are on disk (ffmpeg
      // -re sends in real time, so the rest is still seconds away).
      const sourceBytes = statSync(source).size;
      await waitFor(() => existsSync(recording) && statSync(recording).size > sourceBytes / 4, {
        timeoutMs: 20_000,
        what: "a quarter of the stream in the recording",
      });
      ffmpeg.kill("SIGKILL");
      const file = await finishedRecording(serve, rec);
      assert.match(serve.stderr(), /unpublish "live\/gone" \(connection-lost\)/);
      await using reader = await FlvFileReader.open(file);
      let tags = 0;
      for await (const _ of reader) tags++;
      assert.equal(reader.eof?.truncatedBytes, 0, "only whole tags were written");
      assert.ok(tags > 10, `some tags recorded (${tags})`);
      const [got, full] = await Promise.all([countPackets(file), countPackets(source)]);
      assert.ok(
        got.video > 0 && got.video < full.video,
        `partial video ${got.video}/${full.video}`,
      );
    } finally {
      assert.equal(await stopScript(serve), 0, serve.stderr());
    }
  });

  it("a recording that cannot be written ends with a log line, not the server", async () => {
    const source = await makeTestFlv({ seconds: 2 });
    const rec = await tempDir("rtmp-cli-diskerr-");
    await writeFile(join(rec, "broken"), "a file where the app folder should be");
    const serve = startScript("cli.ts", ["serve", "--listen", "127.0.0.1:0", "--record", rec]);
    try {
      const m = await serve.waitFor(/listening on rtmp:\/\/127\.0\.0\.1:(\d+)/);
      const broken = await ffmpegPublish(source, `rtmp://127.0.0.1:${m[1]}/broken/k`);
      assert.equal(broken.code, 0, "the publisher is not disturbed");
      await serve.waitFor(/recording "broken\/k" failed/);
      const fine = await ffmpegPublish(source, `rtmp://127.0.0.1:${m[1]}/live/k`);
      assert.equal(fine.code, 0, fine.stderr);
      const file = await finishedRecording(serve, rec);
      assert.ok((await countPackets(file)).video > 0);
      assert.deepEqual(await readdir(join(rec, "live")), [file.split("/").pop()]);
    } finally {
      assert.equal(await stopScript(serve), 0, serve.stderr());
    }
  });

  it("push --fast to nginx-rtmp arrives complete at a player", {
    skip: noNginx,
  }, async () => {
    const source = await makeTestFlv({ seconds: 2 });
    const out = await tempDir("rtmp-cli-nginx-");
    const nginx = await startNginxRtmp();
    try {
      const player = ffmpegPull(nginx.url("live", "cli"), join(out, "got.flv"), {
        idleTimeoutSec: 3,
        timeoutMs: 30_000,
      });
      await nginx.waitForPlay("cli");
      const push = await runScript("cli.ts", ["push", "--fast", source, nginx.url("live", "cli")]);
      assert.equal(push.code, 0, push.stderr);
      await player.done;
      const [got, want] = await Promise.all([
        countPackets(join(out, "got.flv")),
        countPackets(source),
      ]);
      assert.deepEqual([got.video, got.audio], [want.video, want.audio]);
    } finally {
      await nginx.stop();
    }
  });

  it("push --loop repeats a file with continuous timestamps", async () => {
    const source = await makeTestFlv({ seconds: 1 });
    const stamps: number[] = [];
    let resolveEnough!: () => void;
    const enough = new Promise<void>((r) => resolveEnough = r);
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: null,
      onSession: async (session) => {
        for await (const p of session) {
          if (p.type === "video") stamps.push(p.timestamp);
          if (p.timestamp > 2500) resolveEnough();
        }
      },
    });
    const push = startScript("cli.ts", [
      "push",
      "--loop",
      source,
      `rtmp://127.0.0.1:${server.addr.port}/live/loop`,
    ]);
    try {
      await enough;
    } finally {
      await stopScript(push);
    }
    for (let i = 1; i < stamps.length; i++) {
      assert.ok(
        stamps[i] >= stamps[i - 1],
        `video timestamps never go back (${stamps[i - 1]} → ${stamps[i]})`,
      );
    }
    const perLoop = (await countPackets(source)).video;
    assert.ok(
      stamps.length > 2 * perLoop,
      `${stamps.length} video packets: the file was sent more than twice`,
    );
  });
});
