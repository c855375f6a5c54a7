// Restreaming against real peers: `serve --push` to nginx-rtmp and node-media-server at once, a
// destination killed and restarted, one behind a TLS terminator, one that refuses the key, one
// that stops reading, and destinations chosen per publish or added and removed at run time.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { createServer as createNetServer, type Socket } from "node:net";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DestinationEvent, RestreamDestination } from "../relay/destination.ts";
import { HubMessage } from "../hub/hub_message.ts";
import { Subscriber } from "../hub/subscriber.ts";
import { RtmpServer } from "../server.ts";
import { ServerSession } from "../session/server_session.ts";
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
import { collect, readFlvTags } from "./support/media.ts";
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

/** An in-process ingest server on 127.0.0.1 whose log lines are kept. */
async function ingest(
  options: ConstructorParameters<typeof RtmpServer>[0] = {},
): Promise<{ server: RtmpServer; url: (key: string) => string; log: string[] }> {
  const log: string[] = [];
  const server = await RtmpServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    sessionQueue: "lazy",
    log: (line) => log.push(line),
    ...options,
  });
  return { server, url: (key) => `rtmp://127.0.0.1:${server.addr.port}/live/${key}`, log };
}

/** Every event of a destination until it stops. */
function eventsOf(dest: RestreamDestination): Promise<DestinationEvent[]> {
  return (async () => {
    const all: DestinationEvent[] = [];
    for await (const e of dest.events()) all.push(e);
    return all;
  })();
}

/** Resolves once a destination is in `state`. */
function stateIs(dest: RestreamDestination, state: string): Promise<void> {
  return waitFor(() => dest.state === state, { what: `${dest.label} ${state}`, timeoutMs: 20_000 });
}

describe("restream: destinations against nginx-rtmp", { skip: noTls }, () => {
  it("pushes rtmps:// through a TLS terminator (SNI, test CA); without the CA it backs off with a TLS error", async () => {
    const cert = await makeTestCert();
    const source = await makeTestFlv({ seconds: 3 });
    const nginx = await startNginx({
      rtmp: recordingApp("rec"),
      folders: ["rec"],
      extraPortCount: 1,
      stream: ({ port, extra, dir }) =>
        [
          "stream {",
          "  log_format sni 'sni=$ssl_server_name';",
          "  server {",
          `    listen 127.0.0.1:${extra[0]} ssl;`,
          `    ssl_certificate ${join(cert.dir, "cert.pem")};`,
          `    ssl_certificate_key ${join(cert.dir, "key.pem")};`,
          `    access_log ${join(dir, "logs", "stream.log")} sni;`,
          `    proxy_pass 127.0.0.1:${port};`,
          "  }",
          "}",
        ].join("\n"),
    });
    const tlsUrl = `rtmps://localhost:${nginx.extra[0]}/live`;
    const untrusted: RestreamDestination[] = [];
    const { server, url, log } = await ingest({
      push: [`${tlsUrl}/{name}`],
      restream: { client: { tls: { ca: cert.ca } }, backoff: { initial: 200, max: 400 } },
      onSession: (session) => {
        // The same terminator without the test CA: the certificate cannot be verified.
        untrusted.push(server.restream(session, `${tlsUrl}/untrusted`, { client: {} }));
      },
    });
    try {
      const published = await ffmpegPublish(source, url("cam"), { realtime: true });
      assert.equal(published.code, 0, published.stderr);
      await waitFor(() => server.destinations().length === 0, { what: "destinations done" });
      const [file] = await recordings(join(nginx.dir, "rec"));
      assert.ok(file, `nginx recorded the push:\n${await nginx.logs()}`);
      const [got, want] = await Promise.all([countPackets(file), countPackets(source)]);
      assert.deepEqual([got.video, got.audio], [want.video, want.audio]);
      assertStartsClean(await readFlvTags(file), "recording behind TLS", false);
      // nginx's stream log says which name the client asked for in its TLS hello.
      await waitFor(async () => /sni=localhost/.test(await readText(nginx.dir, "stream.log")), {
        what: "the SNI line in nginx's stream log",
      });
      const [bad] = untrusted;
      assert.equal(bad.stats().packetsSent, 0);
      assert.match(bad.stats().lastError ?? "", /certificate|TLS/i);
      assert.ok(
        log.some((l) => /un…ed: backing-off \(.*(certificate|TLS)/i.test(l)),
        log.join("\n"),
      );
      assert.ok(!log.some((l) => /un…ed: live/.test(l)), "never live without the CA");
    } finally {
      await server.close();
      await nginx.stop();
    }
  });

  it("a destination that refuses the key (on_publish 403) is reported refused, never live, and not hammered", async () => {
    const hook = await startHttpStatus(403);
    const nginx = await startNginx({
      rtmp: () => `application live { live on; on_publish ${hook.url}on_publish; }`,
    });
    const source = await makeTestFlv({ seconds: 4 });
    let events: Promise<DestinationEvent[]> = Promise.resolve([]);
    const dests: RestreamDestination[] = [];
    const { server, url } = await ingest({
      push: [nginx.url("live", "{name}")],
      // A quick backoff: were the refusal taken for a network failure, nginx would see ~20.
      restream: { refusedRetry: 60_000, backoff: { initial: 100, max: 200 } },
      onSession: (session) => {
        dests.push(...server.destinations(session.key));
        events = eventsOf(dests[0]);
      },
    });
    try {
      const published = await ffmpegPublish(source, url("cam"), { realtime: true });
      assert.equal(published.code, 0, published.stderr);
      const [dest] = dests;
      await dest.done;
      const all = await events;
      console.log(`restream: refused destination: ${hook.requests.length} on_publish call(s)`);
      assert.ok(hook.requests.length >= 1 && hook.requests.length <= 2, `${hook.requests.length}`);
      assert.ok(all.some((e) => e.state === "refused"), JSON.stringify(all));
      assert.ok(!all.some((e) => e.state === "live"), "never reported live");
      assert.ok(!all.some((e) => e.state === "backing-off"), "not retried as a network failure");
      const stats = dest.stats();
      assert.equal(stats.packetsSent, 0);
      assert.equal(stats.refusals, 1);
      assert.match(stats.lastError ?? "", /^refused/);
    } finally {
      await server.close();
      await nginx.stop();
      await hook.stop();
    }
  });
});

/** A file in an nginx's `logs` folder, or "" when it is not there yet. */
async function readText(dir: string, name: string): Promise<string> {
  try {
    return await readFile(join(dir, "logs", name), "utf8");
  } catch {
    return "";
  }
}

describe("restream: a destination that stops reading", { skip: noPeers }, () => {
  it("slows neither the ingest nor the other destination, and counts exactly what it did not record", async () => {
    // 6.6 Mbit/s for 10 s: far more than the socket buffers and the 512 KiB queue can hold
    // while nginx is stopped, so the stalled destination must drop.
    const source = await makeTestFlv({ seconds: 10, width: 1280, height: 720 });
    const want = await countPackets(source);
    const nginx = await startNginx({ rtmp: recordingApp("rec"), folders: ["rec"] });
    const nms = await startNodeMediaServer({ endPlayersOnUnpublish: true });
    const out = join(await tempDir("rtmp-restream-stall-"), "nms.flv");
    const dests: RestreamDestination[] = [];
    const { server, url, log } = await ingest({
      push: [nginx.url("live", "{name}"), nms.url("live", "{name}")],
      restream: { queueBytes: 512 << 10 },
      onSession: (session) => void dests.push(...server.destinations(session.key)),
    });
    let stopped = false;
    try {
      const player = ffmpegPull(nms.url("live", "cam"), out);
      await nms.waitForPlay("cam");
      const started = Date.now();
      // Without ffmpeg's closing AVC end-of-sequence message (no frame, ffprobe does not count
      // it), every message but onMetaData and the two sequence headers is a counted packet.
      const publish = ffmpegPublish(source, url("cam"), {
        realtime: true,
        extraArgs: ["-flvflags", "no_sequence_end"],
      });
      await waitFor(() => dests.length === 2 && dests.every((d) => d.state === "live"), {
        what: "both destinations live",
      });
      const [stalled, other] = dests;
      await waitFor(() => stalled.stats().packetsSent > 50, { what: "nginx receiving" });
      nginx.signal("SIGSTOP");
      stopped = true;
      const published = await publish;
      const took = Date.now() - started;
      assert.equal(published.code, 0, published.stderr);
      console.log(
        `restream: ${
          want.duration.toFixed(1)
        } s published in ${took} ms with one destination stopped`,
      );
      // A blocked ingest would not finish at all while nginx is stopped.
      assert.ok(took < want.duration * 1000 + 3000, `publishing took ${took} ms`);
      const played = await player.done;
      assert.equal(played.code, 0, played.stderr);
      const got = await countPackets(out);
      assert.deepEqual([got.video, got.audio], [want.video, want.audio], "nms leg complete");
      await other.done;
      assert.equal(other.stats().packetsDropped, 0);
      assert.equal(stalled.state, "live", "the stalled destination is still trying to deliver");

      nginx.signal("SIGCONT");
      stopped = false;
      await stalled.done;
      await nginx.waitForLog("deleteStream");
      const [file] = await recordings(join(nginx.dir, "rec"));
      const recorded = await avPackets(file);
      const stats = stalled.stats();
      console.log(
        `restream: stalled destination: ${want.video + want.audio} source packets, ` +
          `${recorded} recorded, ${stats.packetsDropped} counted as dropped`,
      );
      assert.ok(stats.packetsDropped > 0, "the stall made it drop");
      assert.equal(want.video + want.audio - recorded, stats.packetsDropped, log.join("\n"));
      assert.equal(stats.packetsSent, recorded + 3, "sent = recorded + onMetaData + 2 headers");
    } finally {
      if (stopped) nginx.signal("SIGCONT");
      await server.close();
      await nginx.stop();
      await nms.stop();
    }
  });
});

/** Applications `a` and `b`, each recording into its own folder. */
function twoApps({ dir }: { dir: string }): string {
  return ["a", "b"].map((app) =>
    `application ${app} { live on; record all; record_unique on; record_path ${join(dir, app)}; }`
  ).join("\n");
}

/** Names of the recordings in an app's folder, without nginx's unique suffix. */
async function recordedKeys(nginx: Nginx, app: string): Promise<string[]> {
  return (await recordings(join(nginx.dir, app))).map((f) =>
    f.slice(f.lastIndexOf("/") + 1).replace(/-\d+\.flv$/, "")
  );
}

describe("restream: destinations chosen per publish and at run time", { skip: noPeers }, () => {
  it("the onPublish decision names each stream's destinations", async () => {
    const source = await makeTestFlv({ seconds: 3 });
    const want = await countPackets(source);
    const nginx = await startNginx({ rtmp: twoApps, folders: ["a", "b"] });
    const { server, url, log } = await ingest({
      onPublish: ({ name }) => ({
        accept: true,
        push: [nginx.url(name === "one" ? "a" : "b", name)],
      }),
    });
    try {
      const results = await Promise.all(
        ["one", "two"].map((k) => ffmpegPublish(source, url(k), { realtime: true })),
      );
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      await waitFor(() => server.destinations().length === 0, { what: "destinations done" });
      await nginx.waitForLog("deleteStream", 2);
      assert.deepEqual(await recordedKeys(nginx, "a"), ["one"], log.join("\n"));
      assert.deepEqual(await recordedKeys(nginx, "b"), ["two"]);
      for (const app of ["a", "b"]) {
        const [file] = await recordings(join(nginx.dir, app));
        const got = await countPackets(file);
        assert.deepEqual([got.video, got.audio], [want.video, want.audio], app);
      }
    } finally {
      await server.close();
      await nginx.stop();
    }
  });

  it("serve --push-config re-reads the file on each publish", async () => {
    const source = await makeTestFlv({ seconds: 2 });
    const nginx = await startNginx({ rtmp: twoApps, folders: ["a", "b"] });
    const config = join(await tempDir("rtmp-push-config-"), "push.conf");
    const base = `rtmp://127.0.0.1:${nginx.port}`;
    await writeFile(config, `# per key\nlive/one ${base}/a/{name}\n`);
    const serve = startScript("cli.ts", [
      ...["serve", "--listen", "127.0.0.1:0", "--push-config", config],
    ]);
    try {
      const port = (await serve.waitFor(/listening on rtmp:\/\/127\.0\.0\.1:(\d+)/))[1];
      const publish = async (key: string, stops: number): Promise<void> => {
        const r = await ffmpegPublish(source, `rtmp://127.0.0.1:${port}/live/${key}`, {
          realtime: true,
        });
        assert.equal(r.code, 0, r.stderr);
        await waitFor(() => (serve.stderr().match(/: stopped/g) ?? []).length >= stops, {
          what: `${stops} destination(s) stopped`,
        });
      };
      await publish("one", 1);
      // Edited while the server runs: the next publish of the key goes where the file says now.
      await writeFile(config, `live/one ${base}/b/{name}\nlive/t* ${base}/a/{name}\n`);
      await publish("one", 2);
      await publish("two", 3);
      await publish("other", 3);
      await nginx.waitForLog("deleteStream", 3);
      assert.deepEqual(await recordedKeys(nginx, "a"), ["one", "two"], serve.stderr());
      assert.deepEqual(await recordedKeys(nginx, "b"), ["one"]);
      assert.doesNotMatch(serve.stderr(), /restream live\/other/);
    } finally {
      assert.equal(await stopScript(serve), 0, serve.stderr());
      await nginx.stop();
    }
  });

  it("server.restream(key, url) adds a destination to a live stream and stopRestream removes it, the stream untouched", async () => {
    const source = await makeTestFlv({ seconds: 8 });
    const nginx = await startNginx({ rtmp: twoApps, folders: ["a", "b"] });
    const sessions: PublishSession[] = [];
    const received: Promise<number>[] = [];
    const { server, url, log } = await ingest({
      sessionQueue: "eager",
      onSession: (session) => {
        sessions.push(session);
        received.push(collect(session).then((p) => p.length));
      },
    });
    try {
      const publish = ffmpegPublish(source, url("cam"), { realtime: true });
      const at = (ms: number): Promise<void> =>
        waitFor(() => sessions.length > 0 && sessions[0].stream.lastTimestamp >= ms, {
          what: `${ms} ms of media`,
        });
      const now = (): number => sessions[0].stream.lastTimestamp;
      await at(1500);
      const joinedA = now();
      const a = server.restream("live/cam", nginx.url("a", "cam"));
      await stateIs(a, "live");
      await at(3500);
      const joinedB = now();
      const b = server.restream("live/cam", nginx.url("b", "cam"));
      await stateIs(b, "live");
      assert.equal(server.destinations("live/cam").length, 2);
      await at(5000);
      const leftA = now();
      await server.stopRestream("live/cam", nginx.url("a", "cam"));
      assert.equal(a.state, "stopped");
      assert.deepEqual(server.destinations("live/cam"), [b]);
      const published = await publish;
      assert.equal(published.code, 0, published.stderr);
      const leftB = now();
      // A destination of a key follows the key: its publisher left, so it waits for the next.
      await stateIs(b, "waiting");
      await nginx.waitForLog("deleteStream", 2);
      await server.stopRestream("live/cam");
      assert.equal(b.state, "stopped");
      assert.equal(server.destinations().length, 0);

      // One publish from start to end, every packet delivered to the session.
      const tags = await readFlvTags(source);
      assert.equal(await received[0], tags.filter((t) => [8, 9, 18].includes(t.type)).length);
      assert.equal(log.filter((l) => /publish "live\/cam" accepted/.test(l)).length, 1);
      const keyframes = tags.filter((t) =>
        t.type === 9 && isKeyframePayload(t.data) && !isSequenceHeaderPayload("video", t.data)
      ).map((t) => t.timestamp);
      const spans = [
        [(await recordings(join(nginx.dir, "a")))[0], joinedA, leftA],
        [(await recordings(join(nginx.dir, "b")))[0], joinedB, leftB],
      ] as const;
      for (const [file, joined, left] of spans) {
        const recorded = await readFlvTags(file);
        assertStartsClean(recorded, file, false);
        const decoded = await decodeFirstFrame(file);
        assert.equal(decoded.stderr.trim(), "", file);
        // It joined at the cached GOP (a keyframe every 2 s) and left when removed.
        const video = recorded.filter((t) =>
          t.type === 9 && !isSequenceHeaderPayload("video", t.data)
        );
        const first = video[0].timestamp;
        const last = video[video.length - 1].timestamp;
        const gop = keyframes.filter((k) => k <= joined).pop();
        assert.equal(first, gop, `${file} starts at the keyframe of the GOP it joined in`);
        assert.ok(Math.abs(last - left) < 500, `${file}: last frame ${last}, removed at ${left}`);
      }
    } finally {
      await server.close();
      await nginx.stop();
    }
  });
});

/**
 * A bare RTMP server (the sans-IO ServerSession on node:net) that accepts one publisher and,
 * after `after` media messages, asks it to move with E-RTMP's
 * `NetConnection.Connect.ReconnectRequest` naming `tcUrl`.
 */
async function startMover(tcUrl: string, after: number): Promise<
  { port: number; media: () => number; lastTimestamp: () => number; stop(): Promise<void> }
> {
  let media = 0;
  let last = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const session = new ServerSession();
    socket.on("data", (data: Uint8Array) => {
      for (const e of session.receive(new Uint8Array(data))) {
        if (e.type === "connect-request" || e.type === "publish-request") session.accept(e.id);
        if (e.type !== "media") continue;
        last = Math.max(last, e.message.timestamp);
        if (++media === after) {
          session.sendStatus(0, {
            level: "status",
            code: "NetConnection.Connect.ReconnectRequest",
            description: "moving to another server",
            tcUrl,
          });
        }
      }
      for (const bytes of session.takeOutput()) socket.write(bytes);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    media: () => media,
    lastTimestamp: () => last,
    stop: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe("restream: E-RTMP ReconnectRequest", { skip: requirePeer("ffmpeg", "nginx-rtmp") }, () => {
  it("moves to the server the request names at once, resuming with headers and a keyframe", async () => {
    const source = await makeTestFlv({ seconds: 6 });
    const nginx = await startNginx({ rtmp: recordingApp("rec"), folders: ["rec"] });
    const mover = await startMover(`rtmp://127.0.0.1:${nginx.port}/live`, 100);
    let events: Promise<DestinationEvent[]> = Promise.resolve([]);
    const dests: RestreamDestination[] = [];
    const { server, url, log } = await ingest({
      push: [`rtmp://127.0.0.1:${mover.port}/live/{name}`],
      // A move is not a failure: were it taken for one, the 5 s backoff would show.
      restream: { backoff: { initial: 5000 } },
      onSession: (session) => {
        dests.push(...server.destinations(session.key));
        events = eventsOf(dests[0]);
      },
    });
    try {
      const published = await ffmpegPublish(source, url("cam"), { realtime: true });
      assert.equal(published.code, 0, published.stderr);
      const [dest] = dests;
      await dest.done;
      const states = (await events).map((e) => e.state);
      assert.deepEqual(
        states,
        ["connecting", "live", "connecting", "live", "stopped"],
        log.join("\n"),
      );
      assert.equal(dest.stats().reconnects, 1);
      assert.ok(mover.media() >= 100);
      await nginx.waitForLog("deleteStream");
      const [file] = await recordings(join(nginx.dir, "rec"));
      assert.ok(file, "nginx got the stream after the move");
      const tags = await readFlvTags(file);
      assertStartsClean(tags, "recording after the move", false);
      assert.equal((await decodeFirstFrame(file)).stderr.trim(), "");
      // It resumed at the first keyframe after the last message the old server got (the
      // source has one every 2 s), with nothing older in between.
      const keyframes = (await readFlvTags(source)).filter((t) =>
        t.type === 9 && isKeyframePayload(t.data)
      ).map((t) => t.timestamp);
      const first = tags.find((t) => t.type === 9 && !isSequenceHeaderPayload("video", t.data))!;
      assert.equal(first.timestamp, keyframes.find((k) => k > mover.lastTimestamp()));
      assert.ok(tags.every((t) => t.timestamp === 0 || t.timestamp > mover.lastTimestamp()));
    } finally {
      await server.close();
      await mover.stop();
      await nginx.stop();
    }
  });
});

describe("restream: the destination's queue", () => {
  const video = (ts: number, key: boolean): HubMessage =>
    new HubMessage(9, ts, Uint8Array.of(key ? 0x17 : 0x27, 1, 0, 0, 0, 0xaa));
  const audio = (ts: number): HubMessage => new HubMessage(8, ts, Uint8Array.of(0xaf, 1, 0x55));
  const header = new HubMessage(9, 0, Uint8Array.of(0x17, 0, 0, 0, 0, 1, 0x64));

  it("skipToKeyframe resumes at the newest queued keyframe, counting what it drops", () => {
    const sub = new Subscriber({ policy: "drop" });
    for (
      const m of [header, video(1000, true), audio(1010), video(1040, false), video(3000, true)]
    ) {
      sub.push(m);
    }
    sub.push(audio(3010));
    assert.equal(sub.oldestTimestamp(), 1000, "headers do not count as backlog");
    assert.equal(sub.skipToKeyframe(2000), 4);
    assert.deepEqual(sub.take(1 << 20).map((e) => (e as HubMessage).timestamp), [3000, 3010]);
    assert.equal(sub.stats().droppedMessages, 4);
  });

  it("skipToKeyframe drops everything and waits for the next keyframe when none is fresh", () => {
    const sub = new Subscriber({ policy: "drop" });
    for (const m of [video(0, true), audio(10), video(40, false), audio(2500)]) sub.push(m);
    // The newest keyframe is 2.5 s older than the newest message: too old to resume at.
    assert.equal(sub.skipToKeyframe(2000), 4);
    assert.equal(sub.take(1 << 20).length, 0);
    sub.push(video(2540, false));
    sub.push(audio(2550));
    sub.push(video(4000, true));
    assert.deepEqual(sub.take(1 << 20).map((e) => (e as HubMessage).timestamp), [2550, 4000]);
    assert.equal(sub.stats().droppedMessages, 5);
  });
});
