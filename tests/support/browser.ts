/**
 * A real browser for playback tests: Debian's `chromium` (apt), driven by `playwright-core`
 * (npm, no browser download), headless. playwright-core is loaded with `createRequire` from the
 * project's node_modules, which works the same on Node, Bun and Deno (whose `nodeModulesDir` is
 * `none` here, so a bare `import "playwright-core"` would not resolve), and runs in the test's
 * own process on each runtime.
 *
 * Also: a PNG decoder (node:zlib) to tell a screenshot with a picture from a blank one.
 *
 * @module
 */

import { existsSync } from "node:fs";
import process from "node:process";
import { createRequire } from "node:module";
import { inflateSync } from "node:zlib";
import { concat } from "./util.ts";

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

const require = createRequire(import.meta.url);
const PLAYWRIGHT: string = "playwright-core";

/** The part of playwright-core's `Page` the tests use. */
export interface BrowserPage {
  goto(url: string, options?: { waitUntil?: "load" | "domcontentloaded" }): Promise<unknown>;
  evaluate<T>(expression: string): Promise<T>;
  screenshot(options?: { type?: "png"; fullPage?: boolean }): Promise<Uint8Array>;
  locator(selector: string): { screenshot(options?: { type?: "png" }): Promise<Uint8Array> };
  on(event: "console", listener: (message: { text(): string }) => void): void;
  on(event: "pageerror", listener: (error: Error) => void): void;
  close(): Promise<void>;
}

/** The part of playwright-core's `Browser` the tests use. */
export interface BrowserHandle {
  newPage(): Promise<BrowserPage>;
  close(): Promise<void>;
  version(): string;
}

interface PlaywrightCore {
  chromium: {
    launch(options: {
      executablePath: string;
      args: string[];
      headless?: boolean;
      timeout?: number;
    }): Promise<BrowserHandle>;
  };
}

function loadPlaywright(): PlaywrightCore | null {
  try {
    // A variable, not a literal: Deno would otherwise resolve the literal as an npm import when
    // type-checking (and write a deno.lock), which the project does not use.
    return require(PLAYWRIGHT) as PlaywrightCore;
  } catch {
    return null;
  }
}

/**
 * Why the browser tests cannot run here, or `false` when they can. Under `CI=true` it is always
 * `false`: a missing browser must fail there, not skip.
 */
export function browserSkipReason(): string | false {
  if (process.env.CI === "true") return false;
  if (!existsSync(CHROMIUM_PATH)) {
    return `${CHROMIUM_PATH} not installed (apt-get install chromium)`;
  }
  if (loadPlaywright() === null) return "playwright-core not installed (npm install)";
  return false;
}

/**
 * Launches headless chromium with autoplay allowed (muted or not) and no sandbox (tests run as
 * root in CI, where chromium's sandbox cannot start).
 */
export async function launchChromium(): Promise<BrowserHandle> {
  const pw = loadPlaywright();
  if (pw === null) throw new Error("playwright-core is not installed in node_modules");
  return await pw.chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    timeout: 60_000,
    args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--mute-audio"],
  });
}

/** What the page's `<video>` reports. */
export interface PlaybackState {
  /** `getVideoPlaybackQuality().totalVideoFrames`. */
  frames: number;
  /** `currentTime` in seconds. */
  currentTime: number;
  /** `readyState` (4 = enough data). */
  readyState: number;
  /** `videoWidth` × `videoHeight` of the decoded picture. */
  width: number;
  height: number;
  /** The test page's status line (errors from mpegts.js land there). */
  status: string;
  /** Distinct colours and luminance spread of the current frame drawn to a canvas. */
  canvas: { colors: number; lumaStdDev: number };
}

/**
 * In-page code that reads the `<video>` state. A string, so the test files need no DOM types
 * (the project type-checks them without the DOM lib).
 */
const PLAYBACK_STATE_JS = `(() => {
  const video = document.getElementById("video");
  const q = video.getVideoPlaybackQuality();
  let colors = 0;
  let lumaStdDev = 0;
  if (video.videoWidth > 0) {
    const canvas = document.createElement("canvas");
    canvas.width = 64;
    canvas.height = 48;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(video, 0, 0, 64, 48);
    const px = ctx.getImageData(0, 0, 64, 48).data;
    const seen = new Set();
    let sum = 0;
    let sum2 = 0;
    for (let i = 0; i < px.length; i += 4) {
      seen.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
      const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
      sum += y;
      sum2 += y * y;
    }
    const n = px.length / 4;
    colors = seen.size;
    lumaStdDev = Math.sqrt(Math.max(0, sum2 / n - (sum / n) ** 2));
  }
  const status = document.getElementById("status");
  return {
    frames: q.totalVideoFrames,
    currentTime: video.currentTime,
    readyState: video.readyState,
    width: video.videoWidth,
    height: video.videoHeight,
    status: status ? status.textContent : "",
    canvas: { colors, lumaStdDev },
  };
})()`;

/** Reads the playback state of the test page's `<video id="video">`. */
export function playbackState(page: BrowserPage): Promise<PlaybackState> {
  return page.evaluate<PlaybackState>(PLAYBACK_STATE_JS);
}

/** Pixel statistics of a decoded image. */
export interface ImageStats {
  width: number;
  height: number;
  /** Distinct RGB colours (capped at 65536 counted). */
  colors: number;
  /** Standard deviation of the luminance (0 for a single-colour image). */
  lumaStdDev: number;
}

/**
 * Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what chromium's screenshots are) and returns
 * its size, colour count and luminance spread. PNG spec §11.2.2 (IHDR), §9 (filters).
 */
export function pngStats(png: Uint8Array): ImageStats {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (!sig.every((b, i) => png[i] === b)) throw new Error("pngStats: not a PNG signature");
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Uint8Array[] = [];
  for (let at = 8; at + 8 <= png.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      const depth = data[8];
      const colorType = data[9];
      const interlace = data[12];
      if (depth !== 8 || (colorType !== 2 && colorType !== 6) || interlace !== 0) {
        throw new Error(
          `pngStats: expected 8-bit RGB/RGBA non-interlaced, got depth ${depth} type ${colorType}` +
            ` interlace ${interlace}`,
        );
      }
      channels = colorType === 6 ? 4 : 3;
    } else if (type === "IDAT") {
      idat.push(data);
    } else if (type === "IEND") {
      break;
    }
    at += 12 + length;
  }
  const raw = new Uint8Array(inflateSync(concat(idat)));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new Error("pngStats: image data too short");
  const prev = new Uint8Array(stride);
  const line = new Uint8Array(stride);
  const seen = new Set<number>();
  let sum = 0;
  let sum2 = 0;
  for (let y = 0; y < height; y++) {
    const base = y * (stride + 1);
    const filter = raw[base];
    for (let x = 0; x < stride; x++) {
      const v = raw[base + 1 + x];
      const a = x >= channels ? line[x - channels] : 0;
      const b = prev[x];
      const c = x >= channels ? prev[x - channels] : 0;
      let out: number;
      switch (filter) {
        case 0:
          out = v;
          break;
        case 1:
          out = v + a;
          break;
        case 2:
          out = v + b;
          break;
        case 3:
          out = v + ((a + b) >> 1);
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          out = v + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default:
          throw new Error(`pngStats: bad filter type ${filter} on line ${y}`);
      }
      line[x] = out & 0xff;
    }
    for (let x = 0; x < stride; x += channels) {
      const r = line[x];
      const g = line[x + 1];
      const bl = line[x + 2];
      if (seen.size < 65536) seen.add((r << 16) | (g << 8) | bl);
      const luma = 0.299 * r + 0.587 * g + 0.114 * bl;
      sum += luma;
      sum2 += luma * luma;
    }
    prev.set(line);
  }
  const n = width * height;
  return {
    width,
    height,
    colors: seen.size,
    lumaStdDev: n === 0 ? 0 : Math.sqrt(Math.max(0, sum2 / n - (sum / n) ** 2)),
  };
}
