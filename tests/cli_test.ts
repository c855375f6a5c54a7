// The command-line tool as a user meets it: run as a child process on the runtime running this
// file, against real ffmpeg publishers and ffprobe.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { countPackets, ffmpegPublish, makeTestFlv } from "./support/peers.ts";
import { requirePeer } from "./support/require_peer.ts";
import { fixturePath } from "./support/fixtures.ts";
import { readFlvTags } from "./support/media.ts";
import { type RunningScript, runScript, startScript, stopScript } from "./support/runtime.ts";

const noPeers = requirePeer("ffmpeg");

function noStackTrace(text: string): void {
  assert.doesNotMatch(text, /^\s+at .+:\d+:\d+/m, `stack trace in output:\n${text}`);
}

describe("cli: arguments and errors", () => {
  it("--help on the tool and on each command exits 0", async () => {
    for (const args of [["--help"], ["serve", "--help"], ["push", "--help"], ["help", "push"]]) {
      const r = await runScript("cli.ts", args);
      assert.equal(r.code, 0, args.join(" "));
      assert.match(r.stdout, /Usage:/);
    }
  });

  it("bad arguments exit 2 with one line and the usage, never a stack trace", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["serve", "--bogus"], /Unknown option '--bogus'/],
      [["serve", "--listen", "nonsense"], /--listen expects HOST:PORT/],
      [["serve", "--tls-cert", "x.pem"], /--tls-cert and --tls-key must be given together/],
      [["push", "only-one-arg"], /expected INPUT and URL/],
      [["push", "a.flv", "http://x/y/z"], /unsupported scheme/],
      [["push", "--type", "bogus", "a.flv", "rtmp://h/a/k"], /--type expects/],
      [["frobnicate"], /unknown command "frobnicate"/],
      [["serve", "--http-merge-ms", "50"], /need --http-listen/],
      [
        ["serve", "--http-listen", ":0", "--http-merge-ms", "soon"],
        /--http-merge-ms expects 0 to 1000/,
      ],
      [["serve", "--http-listen", ":0", "--http-merge-from", "0"], /--http-merge-from expects/],
    ];
    for (const [args, message] of cases) {
      const r = await runScript("cli.ts", args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /Usage:/);
      noStackTrace(r.stderr);
    }
  });

  it("failures exit 1 with one line: missing file, refused connection, port in use", async () => {
    const missing = await runScript("cli.ts", [
      "push",
      "/nonexistent/in.flv",
      "rtmp://127.0.0.1:1/live/k",
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such file/);
    noStackTrace(missing.stderr);

    const src = join(await mkdtemp(join(tmpdir(), "rtmp-cli-")), "tiny.flv");
    // A valid FLV with one audio tag: header, PreviousTagSize0, tag header, 2 data bytes, size.
    await writeFile(
      src,
      new Uint8Array([
        0x46,
        0x4c,
        0x56,
        1,
        5,
        0,
        0,
        0,
        9,
        0,
        0,
        0,
        0,
        8,
        0,
        0,
        2,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0xaf,
        1,
        0,
        0,
        0,
        13,
      ]),
    );
    const closedPort = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const refused = await runScript("cli.ts", [
      "push",
      "--fast",
      src,
      `rtmp://127.0.0.1:${closedPort}/live/k`,
    ]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refused/i);
    noStackTrace(refused.stderr);

    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const inUse = await runScript("cli.ts", ["serve", "--listen", `127.0.0.1:${port}`]);
      assert.equal(inUse.code, 1);
      assert.match(inUse.stderr, /in use/i);
      noStackTrace(inUse.stderr);
    } finally {
      blocker.close();
    }
  });
});

describe("cli serve and push with real peers", { skip: noPeers }, () => {
  let source = "";
  let dir = "";
  let serve: RunningScript;
  let base = "";

  before(async () => {
    source = await makeTestFlv({ seconds: 2 });
    dir = await mkdtemp(join(tmpdir(), "rtmp-rec-"));
    serve = startScript("cli.ts", [
      "serve",
      "--listen",
      "127.0.0.1:0",
      "--key",
      "good",
      "--key",
      "other",
      "--record",
      dir,
    ]);
    const m = await serve.waitFor(/listening on rtmp:\/\/127\.0\.0\.1:(\d+)/);
    base = `rtmp://127.0.0.1:${m[1]}`;
  });

  after(async () => {
    const code = await stopScript(serve);
    assert.equal(code, 0, serve.stderr());
    assert.match(serve.stderr(), /stopped/);
    await rm(dir, { recursive: true, force: true });
  });

  async function recordingFor(key: string, before: Set<string>): Promise<string> {
    for (let i = 0; i < 100; i++) {
      const files = (await readdir(join(dir, "live")).catch(() => [] as string[]))
        .filter((f) => f.startsWith(`${key}-`) && !before.has(f));
      if (files.length > 0 && serve.stderr().includes(`recorded ${join(dir, "live", files[0])}`)) {
        return join(dir, "live", files[0]);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`no finished recording for ${key}:\n${serve.stderr()}`);
  }

  async function existing(): Promise<Set<string>> {
    return new Set(await readdir(join(dir, "live")).catch(() => [] as string[]));
  }

  it("records a real ffmpeg -re publish with the source's frame counts", async () => {
    const seen = await existing();
    const r = await ffmpegPublish(source, `${base}/live/good`, { realtime: true });
    assert.equal(r.code, 0, r.stderr);
    const file = await recordingFor("good", seen);
    const [got, want] = await Promise.all([countPackets(file), countPackets(source)]);
    assert.equal(got.video, want.video);
    assert.equal(got.audio, want.audio);
    assert.match(serve.stderr(), /publish "live\/good" accepted/);
    assert.match(serve.stderr(), /unpublish "live\/good" \(publisher-closed\).*kbit\/s/);
  });

  it("refuses a wrong key and records nothing", async () => {
    const seen = await existing();
    const r = await ffmpegPublish(source, `${base}/live/wrong`);
    assert.notEqual(r.code, 0);
    assert.match(serve.stderr(), /publish "live\/wrong" rejected: unknown stream key/);
    const after = await existing();
    assert.deepEqual([...after].filter((f) => !seen.has(f)), []);
  });

  it("push --fast of an ffmpeg FLV arrives complete", async () => {
    const seen = await existing();
    const r = await runScript("cli.ts", ["push", "--fast", source, `${base}/live/good`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /pushed \d+ tags/);
    const file = await recordingFor("good", seen);
    const [got, want] = await Promise.all([countPackets(file), countPackets(source)]);
    assert.deepEqual([got.video, got.audio], [want.video, want.audio]);
  });

  it("push - reads an ffmpeg pipe", async () => {
    const seen = await existing();
    const pusher = startScript("cli.ts", ["push", "-", `${base}/live/other`], { stdin: "pipe" });
    const ffmpeg = spawn("ffmpeg", [
      "-hide_banner",
      "-loglevel",
      "error",
      "-i",
      source,
      "-c",
      "copy",
      "-f",
      "flv",
      "-",
    ], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    ffmpeg.stdout.pipe(pusher.child.stdin!);
    const code = await pusher.exit;
    assert.equal(code, 0, pusher.stderr());
    const file = await recordingFor("other", seen);
    const [got, want] = await Promise.all([countPackets(file), countPackets(source)]);
    assert.deepEqual([got.video, got.audio], [want.video, want.audio]);
  });

  it("an Enhanced RTMP fixture pushed to serve --record is recorded tag for tag, byte-identical", async () => {
    const seen = await existing();
    const fixture = fixturePath("ertmp-av1-opus-testsrc.flv");
    const r = await runScript("cli.ts", ["push", "--fast", fixture, `${base}/live/good`]);
    assert.equal(r.code, 0, r.stderr);
    const file = await recordingFor("good", seen);
    const [want, got] = await Promise.all([readFlvTags(fixture), readFlvTags(file)]);
    assert.equal(got.length, want.length);
    for (let i = 0; i < want.length; i++) {
      assert.equal(got[i].type, want[i].type, `tag ${i}`);
      assert.equal(got[i].timestamp, want[i].timestamp, `tag ${i}`);
      if (want[i].type === 18) continue; // onMetaData: duration/filesize are rewritten at close
      assert.deepEqual(got[i].data, want[i].data, `tag ${i}`);
    }
  });
});
