// Restreaming against real peers: `serve --push` to nginx-rtmp and node-media-server at once, a
// destination killed and restarted, one behind a TLS terminator, one that refuses the key, one
// that stops reading, and destinations chosen per publish or added and removed at run time.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import type { DestinationEvent, RestreamDestination } from "../relay/destination.ts";
import { RtmpServer } from "../server.ts";
import type { PublishSession } from "../server/publish_session.ts";
import type { FlvTag } from "../protocol/flv.ts";
import { isKeyframePayload, isSequenceHeaderPayload } from "../protocol/packet.ts";
import {
  countPackets,
  ffmpegPublish,
  ffmpegPull,
  makeTestFlv,
  startHttpStatus,
  startNodeMediaServer,
  tempDir,
  waitFor,
} from "./support/peers.ts";
import { readFlvTags } from "./support/media.ts";
import { type Nginx, recordings, startNginx } from "./support/nginx.ts";
import { requirePeer } from "./support/require_peer.ts";
import { type RunningScript, startScript, stopScript } from "./support/runtime.ts";
import { makeTestCert } from "./support/tls_cert.ts";

const noPeers = requirePeer("ffmpeg", "nginx-rtmp", "node-media-server", "rtmpdump");
const noTls = requirePeer("ffmpeg", "nginx-rtmp", "nginx-stream", "openssl");

/** `application live` recording every publish into `DIR/SUB` (one file per publish). */
function recordingApp(sub: string, extra = ""): (ctx: { dir: string }) => string {
  return ({ dir }) =>
    `application live { live on; record all; record_unique on; record_path ${
      join(dir, sub)
    }; ${extra} }`;
}

/** Video + audio packets as ffprobe counts them (sequence headers are not packets). */
async function avPackets(file: string): Promise<number> {
  const c = await countPackets(file);
  return c.video + c.audio;
}

/** Runs ffmpeg to decode the first video frame; resolves with its exit code and stderr. */
function decodeFirstFrame(file: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("ffmpeg", [
      ...["-hide_banner", "-v", "error", "-nostdin", "-i", file],
      ...["-map", "0:v:0", "-frames:v", "1", "-f", "null", "-"],
    ], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d: string) => stderr += d);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

/**
 * What a remote got starts clean: onMetaData first (when `metadata`), each kind's sequence
 * header before its first frame, and a keyframe as the first video frame.
 */
function assertStartsClean(tags: FlvTag[], what: string, metadata: boolean): void {
  assert.ok(tags.length > 3, `${what}: only ${tags.length} tags`);
  if (metadata) assert.equal(tags[0].type, 18, `${what}: the first tag is onMetaData`);
  const video = tags.filter((t) => t.type === 9);
  const audio = tags.filter((t) => t.type === 8);
  assert.ok(isSequenceHeaderPayload("video", video[0].data), `${what}: video header first`);
  assert.ok(isSequenceHeaderPayload("audio", audio[0].data), `${what}: audio header first`);
  const frame = video.find((t) => !isSequenceHeaderPayload("video", t.data));
  assert.ok(frame && isKeyframePayload(frame.data), `${what}: the first video frame is a keyframe`);
}

/** An HTTP callback for nginx's `on_publish` that answers 200 only once released. */
async function startHeldHook(): Promise<
  { url: string; requests: number[]; release(): number; stop(): Promise<void> }
> {
  const requests: number[] = [];
  let released = 0;
  const held: Array<() => void> = [];
  const server = createServer((req, res) => {
    requests.push(Date.now());
    req.resume();
    const answer = (): void => void res.writeHead(200, { connection: "close" }).end();
    if (released) answer();
    else held.push(answer);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/on_publish`,
    requests,
    release: () => {
      released = Date.now();
      for (const answer of held.splice(0)) answer();
      return released;
    },
    stop: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** rtmpdump as a player: it writes the tags exactly as the server sent them. */
function startRtmpdump(url: string, out: string): { stop(): Promise<void> } {
  const child = spawn("rtmpdump", ["-q", "--live", "-r", url, "-o", out], { stdio: "ignore" });
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  return {
    stop: async () => {
      // SIGINT: rtmpdump finishes the tag it is writing and closes the file.
      if (child.exitCode === null) child.kill("SIGINT");
      await closed;
    },
  };
}

/** Lines of a `serve` log stamped at or after `from` (ms) that match `pattern`. */
function linesSince(serve: RunningScript, pattern: RegExp, from: number): string[] {
  return serve.stderr().split("\n").filter((line) =>
    Date.parse(line.slice(0, line.indexOf(" "))) >= from && pattern.test(line)
  );
}

/** The time stamp (ms) of the first `serve` log line at or after `from` matching `pattern`. */
async function logTime(serve: RunningScript, pattern: RegExp, from: number): Promise<number> {
  await waitFor(() => linesSince(serve, pattern, from).length > 0, {
    what: `${pattern} in the serve log`,
    timeoutMs: 20_000,
  });
  const line = linesSince(serve, pattern, from)[0];
  return Date.parse(line.slice(0, line.indexOf(" ")));
}

describe("restream: serve --push to real peers", { skip: noPeers }, () => {
  it("pushes to nginx-rtmp and node-media-server; nginx killed and restarted is live again within 2 s, nms loses nothing", async () => {
    const backoffMax = 500;
    const source = await makeTestFlv({ seconds: 14 });
    let nginx: Nginx = await startNginx({ rtmp: recordingApp("rec1"), folders: ["rec1"] });
    const nms = await startNodeMediaServer({ endPlayersOnUnpublish: true });
    const dir = await tempDir("rtmp-restream-");
    const out = join(dir, "nms.flv");
    const hooks: Array<{ stop(): Promise<void> }> = [];
    const dumps: Array<{ stop(): Promise<void> }> = [];
    const nginxDest = new RegExp(`→ rtmp://127\\.0\\.0\\.1:${nginx.port}/live/\\S+: `);
    const serve = startScript("cli.ts", [
      ...["serve", "--listen", "127.0.0.1:0", "--push-backoff", String(backoffMax)],
      ...["--push", `rtmp://127.0.0.1:${nginx.port}/live/{name}`],
      ...["--push", `rtmp://127.0.0.1:${nms.port}/live/{name}`],
    ]);
    try {
      const port = (await serve.waitFor(/listening on rtmp:\/\/127\.0\.0\.1:(\d+)/))[1];
      const player = ffmpegPull(nms.url("live", "cam"), out);
      await nms.waitForPlay("cam");
      const publish = ffmpegPublish(source, `rtmp://127.0.0.1:${port}/live/cam`, {
        realtime: true,
      });
      await serve.waitFor(new RegExp(`${nginxDest.source}live`));
      await serve.waitFor(new RegExp(`→ rtmp://127\\.0\\.0\\.1:${nms.port}/live/\\S+: live`));
      // Mid-stream: once nginx has recorded a few seconds.
      await waitFor(async () => {
        const [file] = await recordings(join(nginx.dir, "rec1"));
        return file !== undefined && (await countPackets(file)).duration >= 3;
      }, { what: "3 s in nginx's first recording" });
      nginx.signal("SIGKILL");
      await nginx.exited;
      const killedAt = Date.now();
      // Down for a while: at least two failed attempts (the backoff at work).
      const backingOff = new RegExp(`${nginxDest.source}backing-off`);
      await waitFor(() => linesSince(serve, backingOff, killedAt).length >= 2, {
        what: "two failed reconnects while nginx is down",
      });
      // nginx comes back; its on_publish callback holds our publish until an rtmpdump player
      // is attached, so the player sees the reconnected push from its very first message.
      const hook = await startHeldHook();
      hooks.push(hook);
      nginx = await startNginx({
        port: nginx.port,
        dir: nginx.dir,
        rtmp: recordingApp("rec2", `on_publish ${hook.url};`),
        folders: ["rec2"],
      });
      await waitFor(() => hook.requests.length > 0, { what: "the push publishing again" });
      const dump = startRtmpdump(nginx.url("live", "cam"), join(dir, "dump.flv"));
      dumps.push(dump);
      await nginx.waitForLog(" play: name='cam'");
      const releasedAt = hook.release();
      const liveAt = await logTime(serve, new RegExp(`${nginxDest.source}live`), killedAt);
      const back = hook.requests[0] - nginx.listeningAt;
      const gap = liveAt - nginx.listeningAt - (releasedAt - hook.requests[0]);
      console.log(
        `restream: publishing again ${back} ms after nginx listened again, live ${gap} ms ` +
          `after (not counting the ${releasedAt - hook.requests[0]} ms the test held ` +
          `on_publish; backoff max ${backoffMax} ms)`,
      );
      assert.ok(gap < 2000 + backoffMax, `live again after ${gap} ms`);

      const published = await publish;
      assert.equal(published.code, 0, published.stderr);
      const played = await player.done;
      assert.equal(played.code, 0, played.stderr);
      const [got, want] = await Promise.all([countPackets(out), countPackets(source)]);
      assert.deepEqual([got.video, got.audio], [want.video, want.audio], "nms leg is complete");

      await serve.waitFor(new RegExp(`${nginxDest.source}stopped`));
      await nginx.waitForLog("deleteStream");
      await dump.stop();
      // What nginx got from the reconnected push: metadata, headers, then a keyframe…
      assertStartsClean(await readFlvTags(join(dir, "dump.flv")), "player of nginx", true);
      // …and what it recorded (nginx writes no metadata into recordings) decodes at once.
      const [second] = await recordings(join(nginx.dir, "rec2"));
      assert.ok(second, "nginx recorded the stream after its restart");
      assertStartsClean(await readFlvTags(second), "nginx's second recording", false);
      const decoded = await decodeFirstFrame(second);
      assert.equal(decoded.code, 0, decoded.stderr);
      assert.equal(decoded.stderr.trim(), "", "the first frame decodes without errors");
    } finally {
      assert.equal(await stopScript(serve), 0, serve.stderr());
      for (const d of dumps) await d.stop();
      await nginx.stop();
      await nms.stop();
      for (const h of hooks) await h.stop();
    }
  });
});
