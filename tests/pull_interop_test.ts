// The playing client and `rtmp pull` against real servers started on 127.0.0.1: nginx-rtmp fed
// by an ffmpeg publisher (also behind an nginx stream TLS terminator for RTMPS with SNI),
// node-media-server, ffmpeg as a one-shot server, and our own server through the CLI. What was
// pulled is compared with the source packet for packet (per track: servers interleave the
// sequence headers differently) and counted with ffprobe.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { RtmpClient } from "../client.ts";
import type { MediaPacket } from "../protocol/packet.ts";
import { isSequenceHeader } from "../protocol/packet.ts";
import { FlvDemuxer, type FlvTag } from "../protocol/flv.ts";
import { RtmpServer } from "../server.ts";
import { metadataOf } from "../protocol/data.ts";
import { flvTagToPacket } from "../flv/tags.ts";
import {
  countPackets,
  ffmpegPublish,
  freePort,
  isPortListening,
  makeTestFlv,
  removeTempDir,
  startHttpStatus,
  startNginxRtmp,
  startNodeMediaServer,
  tempDir,
  waitFor,
} from "./support/peers.ts";
import { readFlvTags, within } from "./support/media.ts";
import { requirePeer } from "./support/require_peer.ts";
import { makeTestCert } from "./support/tls_cert.ts";
import { startTlsProxy } from "./support/tls_proxy.ts";
import { records } from "./support/synthetic.ts";
import { scriptCommand, startScript } from "./support/runtime.ts";

const noFfmpeg = requirePeer("ffmpeg");
const noNginx = requirePeer("ffmpeg", "nginx-rtmp");
const noTls = requirePeer("ffmpeg", "nginx-rtmp", "nginx-stream", "openssl");
const noNms = requirePeer("ffmpeg", "node-media-server");

let source = "";
let sourceTags: FlvTag[] = [];
let dir = "";

async function drain(player: AsyncIterable<MediaPacket>): Promise<MediaPacket[]> {
  const out: MediaPacket[] = [];
  for await (const p of player) out.push(p);
  return out;
}

/** Per-track records (type, timestamp, payload hash): what must arrive unchanged. */
function tracks(
  items: Array<FlvTag | MediaPacket>,
  shift = 0,
): { video: string[]; audio: string[] } {
  const all = records(items, { media: true }).map((r) => {
    const [type, ts, rest] = r.split(" ");
    return `${type} ${Number(ts) + shift} ${rest}`;
  });
  return {
    video: all.filter((r) => r.startsWith("9 ")),
    audio: all.filter((r) => r.startsWith("8 ")),
  };
}

function assertSameTracks(got: MediaPacket[], want: FlvTag[]): void {
  const g = tracks(got);
  const w = tracks(want);
  assert.deepEqual(g.video, w.video, "video packets");
  assert.deepEqual(g.audio, w.audio, "audio packets");
}

async function assertSameCounts(file: string): Promise<void> {
  const [a, b] = await Promise.all([countPackets(file), countPackets(source)]);
  assert.deepEqual({ video: a.video, audio: a.audio }, { video: b.video, audio: b.audio });
}

/** Runs the CLI with stdout collected as bytes. */
function runCliBytes(
  args: string[],
): { exit: Promise<number>; stdout: () => Uint8Array; stderr: () => string } {
  const [cmd, argv] = scriptCommand("cli.ts", args);
  const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
  const out: Uint8Array[] = [];
  let err = "";
  child.stdout!.on("data", (d: Uint8Array) => out.push(new Uint8Array(d)));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => err += d);
  const exit = new Promise<number>((resolve) => child.once("close", (code) => resolve(code ?? -1)));
  return {
    exit,
    stdout: () => {
      const n = out.reduce((s, b) => s + b.length, 0);
      const all = new Uint8Array(n);
      let at = 0;
      for (const b of out) {
        all.set(b, at);
        at += b.length;
      }
      return all;
    },
    stderr: () => err,
  };
}

describe("RtmpPlayer and rtmp pull against real servers", { skip: noFfmpeg }, () => {
  before(async () => {
    source = await makeTestFlv({ seconds: 2 });
    sourceTags = await readFlvTags(source);
    dir = await tempDir("rtmp-pull-interop-");
  });
  after(async () => {
    await removeTempDir(dir);
  });

  describe("nginx-rtmp", { skip: noNginx }, () => {
    it("plays an ffmpeg publish packet for packet, with PublishNotify, metadata and UnpublishNotify", async () => {
      const nginx = await startNginxRtmp();
      try {
        const events: string[] = [];
        const player = await RtmpClient.play(nginx.url("live", "lib"), {
          onEvent: (e) => events.push(e.type),
        });
        const got = drain(player);
        const pub = await ffmpegPublish(source, nginx.url("live", "lib"));
        assert.equal(pub.code, 0, pub.stderr);
        const packets = await within(got, 20_000, "the pulled packets");
        assertSameTracks(packets, sourceTags);
        for (const e of ["publish-notify", "metadata", "stream-eof", "unpublish-notify"]) {
          assert.ok(events.includes(e), `${e} in ${events.join()}`);
        }
        assert.equal(player.endReason, "unpublished");
        const md = packets.find((p) => p.type === "data");
        assert.ok(md?.type === "data" && md.data && metadataOf(md.data)?.videocodecid === 7);
      } finally {
        await nginx.stop();
      }
    });

    it("timestamps shifted past 0xFFFFFF ms (ffmpeg -output_ts_offset 16800) arrive exact", async () => {
      const nginx = await startNginxRtmp();
      try {
        const player = await RtmpClient.play(nginx.url("live", "ext"));
        const got = drain(player);
        const pub = await ffmpegPublish(source, nginx.url("live", "ext"), {
          extraArgs: ["-output_ts_offset", "16800"],
        });
        assert.equal(pub.code, 0, pub.stderr);
        const packets = await within(got, 20_000, "the pulled packets");
        // Frames carry the shifted time exactly; nginx replays its cached sequence headers at 0.
        const frames = (list: MediaPacket[]) => list.filter((p) => !isSequenceHeader(p));
        const want = frames(sourceTags.map(flvTagToPacket).filter((p) => p !== null));
        const g = tracks(frames(packets));
        const w = tracks(want, 16_800_000);
        assert.deepEqual(g.video, w.video);
        assert.deepEqual(g.audio, w.audio);
        assert.ok(packets.some((p) => p.timestamp > 0xffffff));
      } finally {
        await nginx.stop();
      }
    });

    it("rtmp pull writes a valid FLV with the source's packet counts; - streams it to stdout", async () => {
      const nginx = await startNginxRtmp();
      try {
        const file = join(dir, "nginx.flv");
        const toFile = startScript("cli.ts", ["pull", nginx.url("live", "cli"), file]);
        await nginx.waitForPlay("cli");
        const toStdout = runCliBytes(["pull", nginx.url("live", "cli"), "-"]);
        await nginx.waitForPlay("cli", { count: 2 });
        const pub = await ffmpegPublish(source, nginx.url("live", "cli"), { realtime: true });
        assert.equal(pub.code, 0, pub.stderr);
        assert.equal(await within(toFile.exit, 20_000, "pull to a file"), 0, toFile.stderr());
        assert.match(
          toFile.stderr(),
          /pulled \d+ tags \(\d+ video, \d+ audio\), \d+ bytes.*the stream ended/,
        );
        await assertSameCounts(file);
        const meta = await countPackets(file);
        assert.ok(meta.duration > 1.5, `duration ${meta.duration} patched into the metadata`);
        assert.equal(await within(toStdout.exit, 20_000, "pull to stdout"), 0, toStdout.stderr());
        const piped = join(dir, "stdout.flv");
        await writeFile(piped, toStdout.stdout());
        await assertSameCounts(piped);
      } finally {
        await nginx.stop();
      }
    });

    it("a key refused by on_play (HTTP 403) exits 1 and says why", async () => {
      const hook = await startHttpStatus(403);
      const nginx = await startNginxRtmp({ onPlay: hook.url + "on_play" });
      try {
        const pull = startScript("cli.ts", [
          "pull",
          nginx.url("live", "nope"),
          join(dir, "no.flv"),
        ]);
        assert.equal(await within(pull.exit, 20_000, "refused pull"), 1);
        // nginx-rtmp answers a refused play by closing the connection, without a status.
        assert.match(
          pull.stderr(),
          /rtmp pull: .*closed the connection before NetStream\.Play\.Start/,
        );
        assert.equal(hook.requests.length, 1);
        assert.match(hook.requests[0].body, /call=play&name=nope/);
      } finally {
        await nginx.stop();
        await hook.stop();
      }
    });

    it("a remote that goes away mid-stream leaves a valid FLV up to the last tag, readable while it grows", async () => {
      const longer = await makeTestFlv({ seconds: 8 });
      const nginx = await startNginxRtmp();
      const file = join(dir, "cut.flv");
      try {
        const pull = startScript("cli.ts", ["pull", "-q", nginx.url("live", "cut"), file]);
        await nginx.waitForPlay("cut");
        const pub = ffmpegPublish(longer, nginx.url("live", "cut"), { realtime: true });
        // Readable by ffprobe while growing.
        await waitFor(async () => (await stat(file).catch(() => null))?.size! > 60_000, {
          what: "the file to grow",
        });
        const growing = await countPackets(file);
        assert.ok(
          growing.video > 10,
          `ffprobe read ${growing.video} video packets of a growing file`,
        );
        await nginx.stop(); // the server goes away mid-stream
        const code = await within(pull.exit, 20_000, "pull after the server left");
        assert.ok(code === 0 || code === 1, `exit ${code}: ${pull.stderr()}`);
        await pub;
        const bytes = new Uint8Array(await readFile(file));
        const demuxer = new FlvDemuxer();
        const tags = demuxer.push(bytes);
        assert.equal(demuxer.end().truncatedBytes, 0, "ends at a tag boundary");
        assert.ok(tags.filter((t) => t.type === 9).length > growing.video);
        const final = await countPackets(file);
        assert.ok(final.video >= growing.video && final.duration > 0);
      } finally {
        await nginx.stop();
      }
    });

    it("rtmps:// through a TLS terminator in front of nginx-rtmp: SNI sent, certificate verified", {
      skip: noTls,
    }, async () => {
      const nginx = await startNginxRtmp();
      const cert = await makeTestCert();
      const tls = await startTlsProxy({ backendPort: nginx.port, cert: cert.cert, key: cert.key });
      try {
        const url = `rtmps://localhost:${tls.port}/live/tls`;
        const untrusted = await RtmpClient.play(url, { timeout: 5000 }).then(
          () => null,
          (e) => e,
        );
        assert.equal(untrusted?.code, "TLS", String(untrusted));
        const player = await RtmpClient.play(url, { tls: { ca: cert.ca } });
        const got = drain(player);
        const file = join(dir, "tls.flv");
        const cli = startScript("cli.ts", ["pull", "--ca", join(cert.dir, "ca.pem"), url, file]);
        await nginx.waitForPlay("tls", { count: 2 });
        const pub = await ffmpegPublish(source, nginx.url("live", "tls"));
        assert.equal(pub.code, 0, pub.stderr);
        assertSameTracks(await within(got, 20_000, "packets over RTMPS"), sourceTags);
        assert.equal(await within(cli.exit, 20_000, "pull --ca"), 0, cli.stderr());
        await assertSameCounts(file);
        await waitFor(async () => (await tls.serverNames()).length >= 3, {
          what: "the access log",
        });
        assert.deepEqual([...new Set(await tls.serverNames())], ["localhost"]);
      } finally {
        await tls.stop();
        await nginx.stop();
      }
    });
  });

  it("node-media-server: plays an ffmpeg publish packet for packet", { skip: noNms }, async () => {
    const nms = await startNodeMediaServer({ endPlayersOnUnpublish: true });
    try {
      const player = await RtmpClient.play(nms.url("live", "nms"));
      const got = drain(player);
      await nms.waitForPlay("nms");
      const pub = await ffmpegPublish(source, nms.url("live", "nms"));
      assert.equal(pub.code, 0, pub.stderr);
      assertSameTracks(await within(got, 20_000, "packets from node-media-server"), sourceTags);
    } finally {
      await nms.stop();
    }
  });

  it("ffmpeg as a one-shot server (-f flv -listen 1): plays its stream packet for packet", async () => {
    const port = await freePort();
    const url = `rtmp://127.0.0.1:${port}/live/oneshot`;
    const ff = spawn("ffmpeg", [
      ...["-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", source],
      ...["-c", "copy", "-f", "flv", "-listen", "1", url],
    ], { stdio: ["ignore", "ignore", "pipe"] });
    const exited = new Promise<number | null>((r) => ff.once("close", (c) => r(c)));
    try {
      await waitFor(() => isPortListening(port), { what: "ffmpeg -listen 1" });
      const file = join(dir, "oneshot.flv");
      const pull = startScript("cli.ts", ["pull", url, file]);
      assert.equal(await within(pull.exit, 20_000, "pull from ffmpeg"), 0, pull.stderr());
      assert.match(pull.stderr(), /the server closed the connection/);
      await assertSameCounts(file);
      const tags = await readFlvTags(file);
      assertSameTracks(tags.map(flvTagToPacket).filter((p) => p !== null), sourceTags);
      assert.equal(await within(exited, 10_000, "ffmpeg's exit"), 0);
    } finally {
      ff.kill("SIGKILL");
    }
  });

  it("our server: rtmp pull records a publish; an onPlay refusal exits 1 with the server's text", async () => {
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: null,
      sessionQueue: "lazy",
      onPlay: ({ name }) =>
        name === "ok" ? true : { accept: false, description: `no viewers for ${name} today` },
    });
    const base = `rtmp://127.0.0.1:${server.addr.port}/live`;
    const refused = startScript("cli.ts", ["pull", `${base}/secret`, join(dir, "refused.flv")]);
    assert.equal(await within(refused.exit, 20_000, "refused pull"), 1);
    assert.match(refused.stderr(), /no viewers for secret today/);
    const publisher = await RtmpClient.connect(`${base}/ok`);
    await publisher.sendFlvTag(sourceTags[0]); // metadata: the stream is live
    const file = join(dir, "ours.flv");
    const pull = startScript("cli.ts", ["pull", `${base}/ok`, file]);
    await waitFor(() => server.playerCount === 1, { what: "the CLI to play" });
    for (const tag of sourceTags.slice(1)) await publisher.sendFlvTag(tag);
    await publisher.close();
    assert.equal(await within(pull.exit, 20_000, "pull from our server"), 0, pull.stderr());
    await assertSameCounts(file);
    const tags = await readFlvTags(file);
    assertSameTracks(tags.map(flvTagToPacket).filter((p) => p !== null), sourceTags);
  });
});
