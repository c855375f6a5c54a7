// The examples run as written, as child processes on the runtime running this file.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isKeyframePayload } from "../protocol/packet.ts";
import { RtmpServer } from "../server.ts";
import type { PublishSession } from "../server/publish_session.ts";
import {
  countPackets,
  ffmpegPublish,
  freePort,
  makeTestFlv,
  removeTempDir,
  tempDir,
} from "./support/peers.ts";
import { collect, mediaOfTags, readFlvTags } from "./support/media.ts";
import { requirePeer } from "./support/require_peer.ts";
import { currentRuntime, startScript, stopScript } from "./support/runtime.ts";

const noFfmpeg = requirePeer("ffmpeg");

describe("examples", { skip: noFfmpeg }, () => {
  let source = "";
  let dir = "";
  before(async () => {
    source = await makeTestFlv({ seconds: 2 });
    dir = await tempDir("rtmp-examples-");
  });
  after(async () => {
    await removeTempDir(dir);
  });

  it("push.ts publishes a file to a server", async () => {
    const sessions: Promise<{ session: PublishSession; count: number }>[] = [];
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: null,
      onSession: (session) =>
        void sessions.push(collect(session).then((p) => ({ session, count: p.length }))),
    });
    const push = startScript("examples/push.ts", [
      `rtmp://127.0.0.1:${server.addr.port}/live/ex`,
      source,
    ]);
    assert.equal(await push.exit, 0, push.stderr());
    assert.match(push.stdout(), /sent \d+ tags/);
    const [{ session, count }] = await Promise.all(sessions);
    assert.equal(session.name, "ex");
    const tags = await readFlvTags(source);
    assert.equal(count, tags.filter((t) => t.type === 8 || t.type === 9 || t.type === 18).length);
  });

  it("ingest.ts checks keys from a file and prints per-stream stats", async () => {
    const keys = join(dir, "keys.txt");
    await writeFile(keys, "# studio keys\nalpha\n");
    const ingest = startScript("examples/ingest.ts", [
      "--keys",
      keys,
      "--port",
      "0",
      "--host",
      "127.0.0.1",
    ]);
    try {
      const m = await ingest.waitFor(/listening on rtmp:\/\/127\.0\.0\.1:(\d+)/);
      const base = `rtmp://127.0.0.1:${m[1]}/live`;
      const bad = await ffmpegPublish(source, `${base}/beta`);
      assert.notEqual(bad.code, 0);
      const ok = await ffmpegPublish(source, `${base}/alpha`);
      assert.equal(ok.code, 0, ok.stderr);
      // The stats count RTMP messages, sequence headers included: compare with the FLV's tags.
      const tags = mediaOfTags(await readFlvTags(source));
      const line = await ingest.waitFor(
        /live\/alpha from 127\.0\.0\.1 ended \(publisher-closed\): (\d+) video \((\d+) keyframes\), (\d+) audio/,
      );
      const video = tags.filter((t) => t.type === 9);
      assert.equal(Number(line[1]), video.length);
      // Coded key frames only: the AVC sequence header (frame type 1 too) is not one.
      const keyframes = video.filter((t) => isKeyframePayload(t.data)).length;
      assert.ok(keyframes > 0 && keyframes < video.filter((t) => t.data[0] >> 4 === 1).length);
      assert.equal(Number(line[2]), keyframes);
      assert.equal(Number(line[3]), tags.filter((t) => t.type === 8).length);
    } finally {
      await stopScript(ingest);
    }
  });

  it("restream.ts feeds every destination independently, even when one is down", async () => {
    const received: Promise<number>[] = [];
    await using dest = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: null,
      onSession: (s) =>
        void received.push(collect(s).then((p) => p.filter((x) => x.type !== "data").length)),
    });
    const downPort = await freePort(); // nothing listens here
    const port = await freePort();
    const restream = startScript("examples/restream.ts", [
      "--port",
      String(port),
      "--host",
      "127.0.0.1",
      "--key",
      "in",
      `rtmp://127.0.0.1:${dest.addr.port}/live/a`,
      `rtmp://127.0.0.1:${downPort}/live/b`,
      `rtmp://127.0.0.1:${dest.addr.port}/live/c`,
    ]);
    try {
      await restream.waitFor(/restream: rtmp/);
      const r = await ffmpegPublish(source, `rtmp://127.0.0.1:${port}/live/in`, { realtime: true });
      assert.equal(r.code, 0, r.stderr);
      await restream.waitFor(/ingest ended/);
      const counts = await Promise.all(received);
      assert.equal(counts.length, 2, "both live destinations got a stream");
      const want = mediaOfTags(await readFlvTags(source)).length;
      for (const c of counts) assert.equal(c, want);
      // The down destination backs off (its key is masked in logs) and never goes live.
      const down = `127\\.0\\.0\\.1:${downPort}/live/\\S+`;
      assert.match(restream.stderr(), new RegExp(`${down}: backing-off \\(.*refused`, "i"));
      assert.doesNotMatch(restream.stderr(), new RegExp(`${down}: live`));
      // Every message of the stream counted as dropped for it: nothing is lost silently.
      const all = (await readFlvTags(source)).filter((t) => [8, 9, 18].includes(t.type)).length;
      assert.match(
        restream.stdout(),
        new RegExp(`→ rtmp://${down}: 0 packets sent, ${all} dropped`),
      );
    } finally {
      await stopScript(restream);
    }
  });

  it("bun_ingest.ts records on Bun's own sockets", {
    skip: currentRuntime() === "bun" ? false : "Bun only",
  }, async () => {
    const out = join(dir, "bun");
    const port = await freePort();
    const ingest = startScript("examples/bun_ingest.ts", [String(port), out]);
    try {
      await ingest.waitFor(/bun ingest on/);
      const r = await ffmpegPublish(source, `rtmp://127.0.0.1:${port}/live/bun-demo`);
      assert.equal(r.code, 0, r.stderr);
      await ingest.waitFor(/bun-demo: \d+ tags written/);
      const [file] = await readdir(out);
      const [got, want] = await Promise.all([countPackets(join(out, file)), countPackets(source)]);
      assert.deepEqual([got.video, got.audio], [want.video, want.audio]);
    } finally {
      await stopScript(ingest);
    }
  });
});
