// `serve --user / --users-file / --authmod / --url-secret` and `rtmp sign`, run as child
// processes on the runtime running the tests, with FFmpeg publishing to them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { appendFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseUsersFile, parseUserSpec, UserStore } from "../cli/users.ts";
import { parseExpires } from "../cli/sign.ts";
import { countPackets, ffmpegPublish, makeTestFlv, tempDir } from "./support/peers.ts";
import { requirePeer } from "./support/require_peer.ts";
import { type RunningScript, runScript, startScript, stopScript } from "./support/runtime.ts";

const noFfmpeg = requirePeer("ffmpeg");

const PASSWORD = "pa55w0rdXYZ";
const WRONG = "wr0ngPASS";
const SECRET = "url secret for tests, 32 bytes..";

async function startServe(args: string[]): Promise<{ serve: RunningScript; port: string }> {
  const serve = startScript("cli.ts", ["serve", "--listen", "127.0.0.1:0", ...args]);
  const m = await serve.waitFor(/listening on rtmp:\/\/127\.0\.0\.1:(\d+)/);
  return { serve, port: m[1] };
}

/** Waits for the recording of `app/key` to be finished; returns its path. */
async function recorded(serve: RunningScript, key: string): Promise<string> {
  const m = await serve.waitFor(new RegExp(`recorded (\\S+/live/${key}-\\S+\\.flv): \\d+ tags`));
  return m[1];
}

async function assertSameMedia(file: string, source: string): Promise<void> {
  const [got, want] = await Promise.all([countPackets(file), countPackets(source)]);
  assert.deepEqual([got.video, got.audio], [want.video, want.audio]);
}

async function sign(url: string, expires: string): Promise<string> {
  const r = await runScript("cli.ts", ["sign", "--secret", SECRET, "--expires", expires, url]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

describe("users file and --expires parsing", () => {
  it("parses NAME:PASSWORD lines, comments, and reports bad lines by number only", () => {
    const { users, bad } = parseUsersFile(
      "# studio encoders\n\nalice:s3:cr#et\n  bob:pw  \nno-colon-here\n:nopass\ncarol:\n",
    );
    assert.deepEqual([...users], [["alice", "s3:cr#et"], ["bob", "pw"]]);
    assert.deepEqual(bad, [5, 6, 7]);
    assert.deepEqual(parseUserSpec("a b:pw"), null, "no spaces in names");
    assert.deepEqual(parseUserSpec("a&b:pw"), null, "no query separators in names");
  });

  it("a malformed --user is a usage error that does not quote the password", () => {
    assert.throws(() => new UserStore(["studio-no-colon-topsecret"], null), (e: Error) => {
      assert.equal(e.name, "UsageError");
      assert.ok(!e.message.includes("topsecret"), e.message);
      return true;
    });
  });

  it("--expires takes durations and dates", () => {
    assert.equal(parseExpires("90s", 1000), 91_000);
    assert.equal(parseExpires("30m", 0), 1_800_000);
    assert.equal(parseExpires("7d", 0), 7 * 86_400_000);
    assert.equal(parseExpires("2030-01-01T00:00:00Z", 0), Date.UTC(2030, 0, 1));
    assert.throws(() => parseExpires("soon", 0), /--expires expects/);
  });
});

describe("cli serve with publisher logins and signed URLs", { skip: noFfmpeg }, () => {
  it("--user: FFmpeg logs in and is recorded; a wrong password fails with the server's message", async () => {
    const source = await makeTestFlv({ seconds: 2 });
    const rec = await tempDir("rtmp-cli-auth-");
    const { serve, port } = await startServe(["--user", `user:${PASSWORD}`, "--record", rec]);
    try {
      const ok = await ffmpegPublish(source, `rtmp://user:${PASSWORD}@127.0.0.1:${port}/live/key`);
      assert.equal(ok.code, 0, ok.stderr);
      const file = await recorded(serve, "key");
      await assertSameMedia(file, source);
      assert.match(serve.stderr(), /auth: user "user" logged in \(authmod=adobe\)/);

      const bad = await ffmpegPublish(source, `rtmp://user:${WRONG}@127.0.0.1:${port}/live/bad`);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /Incorrect username\/password/);
      assert.match(bad.stderr, /Server error: \[ AccessManager\.Reject \] : .*\?reason=authfailed/);
      await serve.waitFor(/login failed \(authfailed, authmod=adobe\) for user "user"/);

      // Without credentials FFmpeg is told to log in, and gives up as it has none.
      const anon = await ffmpegPublish(source, `rtmp://127.0.0.1:${port}/live/anon`);
      assert.notEqual(anon.code, 0);
      assert.match(anon.stderr, /code=403 need auth; authmod=adobe/);

      assert.deepEqual(await readdir(join(rec, "live")), [file.split("/").pop()]);
      assert.doesNotMatch(serve.stderr(), /publish "live\/(bad|anon)"/, "never got to publish");
    } finally {
      assert.equal(await stopScript(serve), 0, serve.stderr());
    }
    for (const secret of [PASSWORD, WRONG]) assert.ok(!serve.stderr().includes(secret));
  });

  it("--users-file with --authmod llnw: FFmpeg answers Limelight; users added later log in", async () => {
    const source = await makeTestFlv({ seconds: 1 });
    const rec = await tempDir("rtmp-cli-llnw-");
    const users = join(rec, "users.txt");
    await writeFile(users, `# encoders\nalice:${PASSWORD}\nnot a user line\n`);
    const { serve, port } = await startServe([
      ...["--users-file", users, "--authmod", "llnw", "--record", join(rec, "out")],
    ]);
    try {
      await serve.waitFor(/users\.txt:3 is not NAME:PASSWORD; ignored/);
      const ok = await ffmpegPublish(source, `rtmp://alice:${PASSWORD}@127.0.0.1:${port}/live/a`);
      assert.equal(ok.code, 0, ok.stderr);
      await assertSameMedia(await recorded(serve, "a"), source);
      assert.match(serve.stderr(), /asking for a user name \(authmod=llnw\)/);
      assert.match(serve.stderr(), /user "alice" logged in \(authmod=llnw\)/);

      const before = await ffmpegPublish(
        source,
        `rtmp://carol:${PASSWORD}@127.0.0.1:${port}/live/c`,
      );
      assert.notEqual(before.code, 0);
      assert.match(before.stderr, /authmod=llnw.*\?reason=authfailed/);
      await appendFile(users, `carol:${PASSWORD}\n`);
      const after = await ffmpegPublish(
        source,
        `rtmp://carol:${PASSWORD}@127.0.0.1:${port}/live/c`,
      );
      assert.equal(after.code, 0, after.stderr);
      await assertSameMedia(await recorded(serve, "c"), source);
    } finally {
      assert.equal(await stopScript(serve), 0, serve.stderr());
    }
    assert.ok(!serve.stderr().includes(PASSWORD));
  });

  it("--url-secret: a signed URL is recorded; expired and tampered ones fail with a reason", async () => {
    const source = await makeTestFlv({ seconds: 1 });
    const rec = await tempDir("rtmp-cli-signed-");
    const { serve, port } = await startServe(["--url-secret", SECRET, "--record", rec]);
    try {
      const base = `rtmp://127.0.0.1:${port}/live`;
      const good = await sign(`${base}/cam`, "10m");
      assert.match(good, /^rtmp:\/\/127\.0\.0\.1:\d+\/live\/cam\?expires=\d+&sig=[\w-]{43}$/);
      const ok = await ffmpegPublish(source, good);
      assert.equal(ok.code, 0, ok.stderr);
      await assertSameMedia(await recorded(serve, "cam"), source);

      const expired = await ffmpegPublish(
        source,
        await sign(`${base}/old`, "2020-01-01T00:00:00Z"),
      );
      assert.notEqual(expired.code, 0);
      assert.match(expired.stderr, /Server error: The signed URL has expired\./);

      const tampered = await ffmpegPublish(source, good.replace("/live/cam?", "/live/other?"));
      assert.notEqual(tampered.code, 0);
      assert.match(tampered.stderr, /Server error: The signed URL is not valid for this stream\./);

      const unsigned = await ffmpegPublish(source, `${base}/cam`);
      assert.notEqual(unsigned.code, 0);
      assert.match(unsigned.stderr, /Server error: This stream needs a signed URL/);

      assert.match(serve.stderr(), /publish "live\/old" rejected: signed URL expired/);
      assert.match(serve.stderr(), /publish "live\/other" rejected: signed URL bad signature/);
      const files = await readdir(join(rec, "live"));
      assert.equal(files.length, 1, files.join(", "));
      assert.ok(files[0].startsWith("cam-"));
      assert.ok(!existsSync(join(rec, "live", "old")));
    } finally {
      assert.equal(await stopScript(serve), 0, serve.stderr());
    }
  });

  it("rtmp sign keeps credentials out of the signature and refuses a short secret", async () => {
    const r = await runScript("cli.ts", [
      ...["sign", "--secret", SECRET, "--expires", "2030-01-01T00:00:00Z"],
      `rtmp://user:${PASSWORD}@h/live/k?x=1`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout.trim(),
      new RegExp(`^rtmp://user:${PASSWORD}@h/live/k\\?x=1&expires=1893456000&sig=`),
    );
    const unsigned = await runScript("cli.ts", [
      "sign",
      "--secret",
      SECRET,
      "--expires",
      "2030-01-01T00:00:00Z",
      "rtmp://h/live/k?x=1",
    ]);
    assert.equal(
      r.stdout.trim().replace(`user:${PASSWORD}@`, ""),
      unsigned.stdout.trim(),
      "the same signature with and without credentials",
    );
    const short = await runScript("cli.ts", ["sign", "--secret", "short", "rtmp://h/live/k"]);
    assert.equal(short.code, 2);
    assert.match(short.stderr, /--secret: secret must be at least 16 bytes/);
    const serve = await runScript("cli.ts", ["serve", "--url-secret", "short"]);
    assert.equal(serve.code, 2);
    assert.match(serve.stderr, /--url-secret: secret must be at least 16 bytes/);
  });
});
