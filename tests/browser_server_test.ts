/**
 * Browser playback through the real server: ffmpeg publishes a looping H.264/AAC stream in real
 * time over RTMP into an in-process RtmpServer; its `listenHttp` serves the built-in test page
 * (with mpegts.js from npm) and the stream; Debian's headless chromium (driven by playwright-core)
 * plays it over HTTP-FLV and over WebSocket-FLV. The test waits for decoded frames to increase
 * and `currentTime` to advance, and checks a screenshot is not blank.
 *
 * Debian's chromium decodes H.264 and AAC in MSE (checked with `MediaSource.isTypeSupported`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { RtmpServer } from "../server.ts";
import {
  type BrowserHandle,
  browserSkipReason,
  launchChromium,
  playbackState,
  pngStats,
} from "./support/browser.ts";
import { makeTestFlv, waitFor } from "./support/peers.ts";
import { requirePeer } from "./support/require_peer.ts";
import { repoPath } from "./support/runtime.ts";

const skip = browserSkipReason() || requirePeer("ffmpeg");

describe("browser playback of a real RTMP publish (chromium + mpegts.js)", { skip }, () => {
  let browser: BrowserHandle;
  let server: RtmpServer;
  let ffmpeg: ChildProcess | null = null;
  let ffmpegErr = "";
  let httpPort = 0;
  const log: string[] = [];

  before(async () => {
    server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: (line) => log.push(line),
    });
    httpPort = (await server.listenHttp({
      hostname: "127.0.0.1",
      port: 0,
      testPage: { playerFile: repoPath("node_modules/mpegts.js/dist/mpegts.js") },
    })).port;
    // 4 s of 320x240 testsrc2, 2 s GOP, looped forever and paced in real time by ffmpeg (-re),
    // like a live encoder; killed in after().
    const file = await makeTestFlv({ seconds: 4, width: 320, height: 240, fps: 25 });
    ffmpeg = spawn("ffmpeg", [
      ...["-hide_banner", "-loglevel", "error", "-nostdin"],
      ...["-re", "-stream_loop", "-1", "-i", file, "-c", "copy"],
      ...["-f", "flv", `rtmp://127.0.0.1:${server.addr.port}/live/cam`],
    ], { stdio: ["ignore", "ignore", "pipe"] });
    ffmpeg.stderr!.on("data", (d: Uint8Array) => ffmpegErr += new TextDecoder().decode(d));
    await waitFor(() => server.hub.get("live/cam")?.live === true, {
      timeoutMs: 15_000,
      what: `ffmpeg to publish live/cam (${ffmpegErr})`,
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (ffmpeg !== null && ffmpeg.exitCode === null) {
      const exited = new Promise((resolve) => ffmpeg!.once("exit", resolve));
      ffmpeg.kill("SIGKILL");
      await exited;
    }
    await server?.close();
  });

  for (const transport of ["http", "ws"] as const) {
    const name = transport === "http" ? "HTTP-FLV" : "WebSocket-FLV";
    it(`plays the publish over ${name}`, async () => {
      const page = await browser.newPage();
      const consoleLines: string[] = [];
      page.on("console", (m) => consoleLines.push(m.text()));
      page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
      try {
        const ws = transport === "ws" ? "&ws=1" : "";
        await page.goto(`http://127.0.0.1:${httpPort}/?app=live&stream=cam${ws}`);
        const codecs = await page.evaluate<boolean>(
          `MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"')`,
        );
        assert.equal(codecs, true, "this chromium cannot decode H.264/AAC in MSE");
        const streamUrl = await page.evaluate<string>("window.streamUrl");
        assert.match(
          streamUrl,
          transport === "ws" ? /^ws:\/\/.*\/live\/cam\.flv/ : /^http:\/\/.*\/live\/cam\.flv/,
        );
        const state = async (): Promise<string> =>
          JSON.stringify(await playbackState(page)) + "\nconsole:\n" + consoleLines.join("\n") +
          "\nserver:\n" + log.join("\n");
        let first = await playbackState(page);
        await waitFor(async () => {
          first = await playbackState(page);
          return first.frames > 0 && first.currentTime > 0;
        }, { timeoutMs: 30_000, intervalMs: 100, what: `first frames (${await state()})` });
        let now = first;
        await waitFor(async () => {
          now = await playbackState(page);
          return now.frames >= first.frames + 25 && now.currentTime >= first.currentTime + 1;
        }, { timeoutMs: 30_000, intervalMs: 100, what: "playback to advance" });
        assert.ok(now.frames > first.frames, `frames ${first.frames} → ${now.frames}`);
        assert.ok(now.currentTime > first.currentTime, `${first.currentTime} → ${now.currentTime}`);
        assert.equal(now.width, 320);
        assert.equal(now.height, 240);
        const shot = pngStats(await page.locator("#video").screenshot({ type: "png" }));
        assert.ok(
          shot.colors > 50 && shot.lumaStdDev > 10,
          `the screenshot is not blank: ${JSON.stringify(shot)}`,
        );
        const protocol = transport === "http" ? "http-flv" : "ws-flv";
        assert.ok(
          log.some((l) => l.startsWith(`${protocol} `) && /play "live\/cam" started/.test(l)),
          `the server logged the ${protocol} viewer:\n${log.join("\n")}`,
        );
      } finally {
        await page.close();
      }
      // The page went away: the server lets go of its viewer.
      const viewers = (): string[] =>
        (server.hub.get("live/cam")?.subscribers() ?? []).map((s) => s.label)
          .filter((l) => /^(http|ws)-flv /.test(l));
      await waitFor(() => viewers().length === 0, {
        timeoutMs: 10_000,
        what: `the viewer to leave the hub (${viewers().join(", ")})\n${log.join("\n")}`,
      });
    });
  }
});
