/**
 * The frame-number barcode of the latency bench (bench/load/barcode.ts): the word's check, the
 * decoder against noisy and broken cells, and the real encoder: ffmpeg draws the barcode with
 * the bench's filter graph, libx264 encodes it at the bench's bitrate, ffmpeg decodes it, and
 * sampling the cells as the browser page does gives back every frame's number.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  BARCODE_LAYOUT,
  barcodeCellLumas,
  barcodeFilter,
  barcodeWord,
  cellSamples,
  decodeBarcode,
  wordFrame,
} from "../bench/load/barcode.ts";
import { requirePeer } from "./support/require_peer.ts";
import { prng, testSeed } from "./support/util.ts";

const SEED = testSeed("barcode_test");

const CELLS = BARCODE_LAYOUT.cols * BARCODE_LAYOUT.rows;

describe("frame-number barcode", () => {
  it("round-trips every frame number of a 4096-frame cycle, and wraps after it", () => {
    for (let n = 0; n < 4096; n++) {
      assert.equal(decodeBarcode(barcodeCellLumas(n)), n);
    }
    assert.equal(decodeBarcode(barcodeCellLumas(4096 + 17)), 17);
  });

  it("fails the check for every single wrong cell of every frame number", () => {
    for (let n = 0; n < 4096; n++) {
      const word = barcodeWord(n);
      for (let bit = 0; bit < CELLS; bit++) {
        assert.equal(wordFrame(word ^ (1 << bit)), null, `frame ${n}, cell ${bit} flipped`);
      }
    }
  });

  it("reads nothing from a blank or grey band", () => {
    assert.equal(decodeBarcode(new Array(CELLS).fill(0)), null);
    assert.equal(decodeBarcode(new Array(CELLS).fill(255)), null);
    const grey = barcodeCellLumas(300);
    grey[5] = 128;
    assert.equal(decodeBarcode(grey), null);
    assert.throws(() => decodeBarcode([0, 255]), RangeError);
  });

  it("reads frames through encoder-like noise (seeded)", () => {
    const random = prng(SEED);
    for (let k = 0; k < 2000; k++) {
      const n = Math.floor(random() * 4096);
      // Black cells read 0–50, white cells 205–255: what the decoded picture gives, and more.
      const noisy = barcodeCellLumas(n).map((y) => y === 0 ? random() * 50 : 255 - random() * 50);
      assert.equal(decodeBarcode(noisy), n, `frame ${n}: ${noisy.map(Math.round).join(",")}`);
    }
  });

  it("samples the middle of each cell, inside the band", () => {
    const samples = cellSamples();
    assert.equal(samples.length, CELLS);
    const w = BARCODE_LAYOUT.width / BARCODE_LAYOUT.cols;
    const h = BARCODE_LAYOUT.bandHeight / BARCODE_LAYOUT.rows;
    samples.forEach((s, i) => {
      const col = i % BARCODE_LAYOUT.cols;
      const row = Math.floor(i / BARCODE_LAYOUT.cols);
      assert.ok(s.x > col * w && s.x + s.size < (col + 1) * w, `cell ${i} x ${s.x}`);
      assert.ok(s.y > row * h && s.y + s.size < (row + 1) * h, `cell ${i} y ${s.y}`);
    });
  });

  it(
    "survives ffmpeg's rendering, a 536 kbit/s H.264 encode and decode",
    { skip: requirePeer("ffmpeg") },
    async () => {
      const fps = 25;
      const frames = 60;
      const { width, bandHeight } = BARCODE_LAYOUT;
      // Encode as the bench clip is encoded, then decode the band to grey pixels.
      const raw = await ffmpegPipe([
        ...["-hide_banner", "-loglevel", "error", "-nostdin"],
        ...["-filter_complex", barcodeFilter({ fps }), "-map", "[v]", "-frames:v", String(frames)],
        ...["-c:v", "libx264", "-preset", "veryfast", "-b:v", "536k", "-maxrate", "536k"],
        ...["-bufsize", "536k", "-g", "50", "-bf", "0", "-f", "h264", "pipe:1"],
      ], null);
      assert.ok(raw.length > 1000, `ffmpeg made an H.264 stream (${raw.length} bytes)`);
      const grey = await ffmpegPipe([
        ...["-hide_banner", "-loglevel", "error", "-nostdin", "-f", "h264", "-i", "pipe:0"],
        ...["-vf", `crop=${width}:${bandHeight}:0:0,format=gray`, "-f", "rawvideo", "pipe:1"],
      ], raw);
      const frameBytes = width * bandHeight;
      assert.equal(grey.length, frames * frameBytes, "every frame decoded");
      const samples = cellSamples();
      for (let k = 0; k < frames; k++) {
        const px = grey.subarray(k * frameBytes, (k + 1) * frameBytes);
        const lumas = samples.map((s) => {
          let sum = 0;
          for (let y = s.y; y < s.y + s.size; y++) {
            for (let x = s.x; x < s.x + s.size; x++) sum += px[y * width + x];
          }
          return sum / (s.size * s.size);
        });
        assert.equal(decodeBarcode(lumas), k, `frame ${k}: ${lumas.map(Math.round).join(",")}`);
      }
    },
  );
});

/** Runs ffmpeg with `input` on stdin (or none) and returns its stdout. */
function ffmpegPipe(args: string[], input: Uint8Array | null): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const child = spawn("ffmpeg", args, {
      stdio: [input === null ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out: Uint8Array[] = [];
    let err = "";
    child.stdout!.on("data", (d: Uint8Array) => out.push(d));
    child.stderr!.on("data", (d: Uint8Array) => err += new TextDecoder().decode(d));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) reject(new Error(`ffmpeg exited with ${code}: ${err}`));
      else {
        const total = out.reduce((n, c) => n + c.length, 0);
        const all = new Uint8Array(total);
        let at = 0;
        for (const c of out) {
          all.set(c, at);
          at += c.length;
        }
        resolve(all);
      }
    });
    if (input !== null) child.stdin!.end(input);
  });
}
