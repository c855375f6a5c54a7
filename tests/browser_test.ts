/**
 * Browser playback in a real Chromium (Debian's `chromium`, headless, driven by playwright-core):
 * the server's test page plays a looping live H.264/AAC stream with mpegts.js from npm, over
 * HTTP-FLV and over WebSocket-FLV. The test waits for decoded frames to increase and
 * `currentTime` to advance, then takes a screenshot and checks it shows a picture.
 *
 * Debian's chromium decodes H.264 and AAC in MSE (checked here with `MediaSource.isTypeSupported`,
 * so a build without them fails with that message rather than with a stall).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { type HttpFlvServer, startHttpFlvServer } from "../http/server.ts";
import {
  type BrowserHandle,
  type BrowserPage,
  browserSkipReason,
  launchChromium,
  playbackState,
  pngStats,
} from "./support/browser.ts";
import { FakeLive, packetsOfFlv } from "./support/live_source.ts";
import { hasCommand, makeTestFlv, tempDir, waitFor } from "./support/peers.ts";
import { repoPath } from "./support/runtime.ts";

const skip = browserSkipReason() ||
  (process.env.CI === "true" || hasCommand("ffmpeg") ? false : "ffmpeg not installed");

describe("browser playback (chromium + mpegts.js)", { skip }, () => {
  let browser: BrowserHandle;
  let server: HttpFlvServer;
  let live: FakeLive;
  let dir = "";
  const serverLog: string[] = [];

  before(async () => {
    // 320x240 testsrc2 at 25 fps, 2 s GOP, looped with increasing timestamps and paced in real
    // time like a publisher.
    const file = await makeTestFlv({ seconds: 4, width: 320, height: 240, fps: 25 });
    live = new FakeLive(await packetsOfFlv(file), { loop: true, realtime: true });
    server = await startHttpFlvServer({
      hostname: "127.0.0.1",
      port: 0,
      open: (req) => Promise.resolve(req.name === "loop" ? live.subscribe() : null),
      testPage: { playerFile: repoPath("node_modules/mpegts.js/dist/mpegts.js") },
      log: (line) => serverLog.push(line),
    });
    browser = await launchChromium();
    // RTMP_TEST_SCREENSHOTS=DIR keeps the screenshots for a person to look at.
    dir = process.env.RTMP_TEST_SCREENSHOTS ?? await tempDir("browser-test-");
    console.log(`browser_test: chromium ${browser.version()}`);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  for (const transport of ["http", "ws"] as const) {
    it(`plays the live stream over ${transport === "http" ? "HTTP-FLV" : "WebSocket-FLV"}`, async () => {
      const page: BrowserPage = await browser.newPage();
      const consoleLines: string[] = [];
      page.on("console", (m) => consoleLines.push(m.text()));
      page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
      const subsBefore = live.subscriptions.length;
      try {
        const ws = transport === "ws" ? "&ws=1" : "";
        await page.goto(`http://127.0.0.1:${server.addr.port}/?stream=loop${ws}`);
        const codecs = await page.evaluate<boolean>(
          `MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"')`,
        );
        assert.equal(codecs, true, "this chromium cannot decode H.264/AAC in MSE");
        const streamUrl = await page.evaluate<string>("window.streamUrl");
        assert.match(streamUrl, transport === "ws" ? /^ws:\/\// : /^http:\/\//);
        const describe = async (): Promise<string> =>
          JSON.stringify(await playbackState(page)) + "\nconsole:\n" + consoleLines.join("\n") +
          "\nserver:\n" + serverLog.join("\n");
        let first = await playbackState(page);
        await waitFor(async () => {
          first = await playbackState(page);
          return first.frames > 0 && first.currentTime > 0;
        }, { timeoutMs: 30_000, intervalMs: 100, what: `first frames (${await describe()})` });
        let now = first;
        await waitFor(async () => {
          now = await playbackState(page);
          return now.frames >= first.frames + 25 && now.currentTime >= first.currentTime + 1;
        }, { timeoutMs: 30_000, intervalMs: 100, what: "playback to advance" });
        assert.ok(now.frames > first.frames, `frames ${first.frames} → ${now.frames}`);
        assert.ok(
          now.currentTime > first.currentTime,
          `time ${first.currentTime} → ${now.currentTime}`,
        );
        assert.equal(now.width, 320);
        assert.equal(now.height, 240);
        assert.ok(
          now.canvas.colors > 50 && now.canvas.lumaStdDev > 10,
          `the decoded frame has a picture: ${JSON.stringify(now.canvas)}`,
        );
        const png = await page.locator("#video").screenshot({ type: "png" });
        await writeFile(join(dir, `playback-${transport}.png`), png);
        const shot = pngStats(png);
        assert.ok(
          shot.width > 100 && shot.height > 50,
          `screenshot size ${shot.width}x${shot.height}`,
        );
        assert.ok(
          shot.colors > 50 && shot.lumaStdDev > 10,
          `the screenshot is not blank: ${JSON.stringify(shot)}`,
        );
        assert.equal(live.subscriptions.length, subsBefore + 1, "one subscription per page");
      } finally {
        await page.close();
      }
      // The viewer left with the page: its subscription is released.
      await waitFor(() => live.subscriptions.slice(subsBefore).every((s) => s.closes === 1), {
        what: "the page's subscription to close",
      });
    });
  }
});
