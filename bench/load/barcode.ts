/**
 * A frame-number barcode burnt into the picture, so a browser can tell which frame it shows
 * (the latency bench, `bench/browser_latency_bench.ts`).
 *
 * The top band of the picture is a grid of {@linkcode BARCODE_LAYOUT}`.cols` ×
 * `.rows` cells, row-major; cell `i` is white when bit `i` of the frame's 16-bit word is set,
 * black otherwise. The word is the frame number modulo 4096 (12 bits) with a 4-bit check above
 * it: `(sum of the three nibbles + 5) mod 16`. One wrong cell always fails the check (a flipped
 * data bit moves its nibble by 1, 2, 4 or 8, which the sum mod 16 sees), and neither an
 * all-black nor an all-white band (a blank or missing picture) decodes to a frame.
 *
 * The cells are big (80 × 64 px at 640 × 360), aligned to the 16 × 16 macroblocks of
 * H.264, so a 600 kbit/s encode keeps them flat; a reader samples the middle of each cell.
 *
 * One source of truth: the ffmpeg filter ({@linkcode barcodeFilter}) and the decoder
 * ({@linkcode decodeBarcode}) both use {@linkcode barcodeWord}'s layout of bits.
 *
 * @example
 * ```ts
 * import { barcodeCellLumas, decodeBarcode } from "./barcode.ts";
 * console.log(decodeBarcode(barcodeCellLumas(1234))); // 1234
 * ```
 *
 * @module
 */

/** Where the barcode sits in the picture. */
export interface BarcodeLayout {
  /** Picture width in pixels. */
  width: number;
  /** Picture height in pixels. */
  height: number;
  /** Cells per row. */
  cols: number;
  /** Rows of cells. */
  rows: number;
  /** Height of the band (at the top) that holds the cells; the rest is a test picture. */
  bandHeight: number;
}

/**
 * The layout the bench clip uses: 640 × 360, an 8 × 2 grid of 80 × 64 px cells.
 *
 * @example
 * ```ts
 * import { BARCODE_LAYOUT } from "./barcode.ts";
 * console.log(BARCODE_LAYOUT.cols * BARCODE_LAYOUT.rows); // 16
 * ```
 */
export const BARCODE_LAYOUT: BarcodeLayout = {
  width: 640,
  height: 360,
  cols: 8,
  rows: 2,
  bandHeight: 128,
};

/**
 * Bits of the frame number in a word; frame numbers repeat every 2^12 = 4096 frames.
 *
 * @example
 * ```ts
 * import { FRAME_BITS } from "./barcode.ts";
 * console.log(2 ** FRAME_BITS); // 4096
 * ```
 */
export const FRAME_BITS = 12;

/**
 * Bits of the check above the frame number.
 *
 * @example
 * ```ts
 * import { CHECK_BITS, FRAME_BITS } from "./barcode.ts";
 * console.log(FRAME_BITS + CHECK_BITS); // 16 cells
 * ```
 */
export const CHECK_BITS = 4;

const FRAME_MOD = 1 << FRAME_BITS;
const CHECK_MOD = 1 << CHECK_BITS;
/** Added to the check so that frame 0 is not an all-black band. */
const CHECK_BIAS = 5;
/** A cell reads as black below this luma (0–255) and as white above {@linkcode WHITE_MIN}. */
const BLACK_MAX = 64;
const WHITE_MIN = 192;

function check(n: number): number {
  return ((n & 15) + ((n >> 4) & 15) + ((n >> 8) & 15) + CHECK_BIAS) % CHECK_MOD;
}

/**
 * The 16-bit word drawn for a frame: bits 0–11 the frame number modulo 4096, bits 12–15 the
 * check.
 *
 * @example
 * ```ts
 * import { barcodeWord } from "./barcode.ts";
 * console.log(barcodeWord(0).toString(2)); // "101000000000000" (only the check: 5)
 * ```
 *
 * @param frame Frame number (a non-negative integer).
 * @returns The word.
 */
export function barcodeWord(frame: number): number {
  if (!Number.isInteger(frame) || frame < 0) {
    throw new RangeError(`barcodeWord: expected a non-negative integer frame, got ${frame}`);
  }
  const n = frame % FRAME_MOD;
  return n | (check(n) << FRAME_BITS);
}

/**
 * The frame number a word carries, or `null` when its check fails.
 *
 * @example
 * ```ts
 * import { barcodeWord, wordFrame } from "./barcode.ts";
 * console.log(wordFrame(barcodeWord(77))); // 77
 * console.log(wordFrame(barcodeWord(77) ^ 1)); // null
 * ```
 *
 * @param word A 16-bit word.
 * @returns The frame number modulo 4096, or `null`.
 */
export function wordFrame(word: number): number | null {
  const n = word & (FRAME_MOD - 1);
  return (word >> FRAME_BITS) === check(n) ? n : null;
}

/**
 * Ideal luma (0 or 255) of each cell for a frame, in cell order: what a perfect picture shows.
 *
 * @example
 * ```ts
 * import { barcodeCellLumas } from "./barcode.ts";
 * console.log(barcodeCellLumas(1).slice(0, 2)); // [255, 0]
 * ```
 *
 * @param frame Frame number.
 * @param layout Grid (default {@linkcode BARCODE_LAYOUT}).
 * @returns One luma per cell.
 */
export function barcodeCellLumas(frame: number, layout: BarcodeLayout = BARCODE_LAYOUT): number[] {
  const word = barcodeWord(frame);
  return Array.from({ length: layout.cols * layout.rows }, (_, i) => (word >> i) & 1 ? 255 : 0);
}

/**
 * Reads a frame number from the measured luma (0–255) of each cell, in cell order. `null`
 * when a cell is neither clearly black (< 64) nor clearly white (> 192), or the check fails.
 *
 * @example
 * ```ts
 * import { decodeBarcode } from "./barcode.ts";
 * console.log(decodeBarcode(new Array(16).fill(0))); // null (a black picture)
 * ```
 *
 * @param lumas Luma per cell; exactly `cols × rows` values.
 * @param layout Grid (default {@linkcode BARCODE_LAYOUT}).
 * @returns The frame number modulo 4096, or `null`.
 */
export function decodeBarcode(
  lumas: ArrayLike<number>,
  layout: BarcodeLayout = BARCODE_LAYOUT,
): number | null {
  const cells = layout.cols * layout.rows;
  if (lumas.length !== cells) {
    throw new RangeError(`decodeBarcode: expected ${cells} cell lumas, got ${lumas.length}`);
  }
  let word = 0;
  for (let i = 0; i < cells; i++) {
    const y = lumas[i];
    if (y > WHITE_MIN) word |= 1 << i;
    else if (!(y < BLACK_MAX)) return null;
  }
  return wordFrame(word);
}

/** A square of pixels to average, in picture coordinates. */
export interface CellSample {
  /** Left edge. */
  x: number;
  /** Top edge. */
  y: number;
  /** Side in pixels. */
  size: number;
}

/**
 * Where to sample each cell: a square in its middle, half the cell's smaller side, away from
 * the edges that the encoder blurs.
 *
 * @example
 * ```ts
 * import { cellSamples } from "./barcode.ts";
 * console.log(cellSamples()[0]); // { x: 24, y: 16, size: 32 }
 * ```
 *
 * @param layout Grid (default {@linkcode BARCODE_LAYOUT}).
 * @returns One square per cell, in cell order.
 */
export function cellSamples(layout: BarcodeLayout = BARCODE_LAYOUT): CellSample[] {
  const w = layout.width / layout.cols;
  const h = layout.bandHeight / layout.rows;
  const size = Math.floor(Math.min(w, h) / 2);
  const out: CellSample[] = [];
  for (let r = 0; r < layout.rows; r++) {
    for (let c = 0; c < layout.cols; c++) {
      out.push({
        x: Math.round(c * w + (w - size) / 2),
        y: Math.round(r * h + (h - size) / 2),
        size,
      });
    }
  }
  return out;
}

/**
 * The ffmpeg `geq` luma expression of the barcode for a picture of `cols × rows` pixels, one
 * pixel per cell (pixel (X, Y) is cell `X + cols·Y`); the filter graph scales it up with
 * nearest-neighbour. `N` is geq's frame number (from 0).
 *
 * @example
 * ```ts
 * import { barcodeGeqLuma } from "./barcode.ts";
 * console.log(barcodeGeqLuma().startsWith("255*mod(floor(")); // true
 * ```
 *
 * @param layout Grid (default {@linkcode BARCODE_LAYOUT}).
 * @returns The expression (it contains commas: quote it inside a filter graph).
 */
export function barcodeGeqLuma(layout: BarcodeLayout = BARCODE_LAYOUT): string {
  const n = `mod(N,${FRAME_MOD})`;
  // The check of barcodeWord(), in geq's arithmetic.
  const chk =
    `mod(mod(${n},16)+mod(floor(${n}/16),16)+mod(floor(${n}/256),16)+${CHECK_BIAS},${CHECK_MOD})`;
  const word = `(${n}+${FRAME_MOD}*${chk})`;
  return `255*mod(floor(${word}/pow(2,X+${layout.cols}*Y)),2)`;
}

/**
 * An ffmpeg `-filter_complex` graph with one output pad `[v]`: the barcode band on top of
 * `testsrc2` (a moving test picture, so the encoder has realistic work), yuv420p.
 *
 * @example
 * ```ts
 * import { barcodeFilter } from "./barcode.ts";
 * console.log(barcodeFilter({ fps: 25 }).endsWith("[v]")); // true
 * ```
 *
 * @param options `fps`: frame rate; `layout`: grid (default {@linkcode BARCODE_LAYOUT}).
 * @returns The graph.
 */
export function barcodeFilter(options: { fps: number; layout?: BarcodeLayout }): string {
  const l = options.layout ?? BARCODE_LAYOUT;
  const rest = l.height - l.bandHeight;
  return [
    `color=c=black:s=${l.cols}x${l.rows}:r=${options.fps},format=gray,` +
    `geq=lum='${barcodeGeqLuma(l)}',` +
    `scale=${l.width}:${l.bandHeight}:flags=neighbor,format=yuv420p[bar]`,
    `testsrc2=s=${l.width}x${rest}:r=${options.fps},format=yuv420p[pic]`,
    `[bar][pic]vstack=inputs=2,format=yuv420p[v]`,
  ].join(";");
}
