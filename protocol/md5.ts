/**
 * Synchronous MD5 (RFC 1321) in plain TypeScript.
 *
 * MD5 is broken as a collision-resistant hash; it is here only because the Adobe and Limelight
 * `authmod` challenge–response schemes that RTMP encoders speak (FFmpeg, OBS/librtmp, Wirecast)
 * are defined with it. WebCrypto has no MD5, `node:crypto` is not sans-IO, and the schemes hash a
 * few short strings per connection, so a small synchronous implementation is the simplest fit.
 * Do not use it for anything new.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";

// RFC 1321 §3.4: T[i] = floor(2^32 · |sin(i + 1)|). Written out rather than computed, so the
// table does not depend on each engine's Math.sin rounding.
const T = new Uint32Array([
  0xd76aa478,
  0xe8c7b756,
  0x242070db,
  0xc1bdceee,
  0xf57c0faf,
  0x4787c62a,
  0xa8304613,
  0xfd469501,
  0x698098d8,
  0x8b44f7af,
  0xffff5bb1,
  0x895cd7be,
  0x6b901122,
  0xfd987193,
  0xa679438e,
  0x49b40821,
  0xf61e2562,
  0xc040b340,
  0x265e5a51,
  0xe9b6c7aa,
  0xd62f105d,
  0x02441453,
  0xd8a1e681,
  0xe7d3fbc8,
  0x21e1cde6,
  0xc33707d6,
  0xf4d50d87,
  0x455a14ed,
  0xa9e3e905,
  0xfcefa3f8,
  0x676f02d9,
  0x8d2a4c8a,
  0xfffa3942,
  0x8771f681,
  0x6d9d6122,
  0xfde5380c,
  0xa4beea44,
  0x4bdecfa9,
  0xf6bb4b60,
  0xbebfbc70,
  0x289b7ec6,
  0xeaa127fa,
  0xd4ef3085,
  0x04881d05,
  0xd9d4d039,
  0xe6db99e5,
  0x1fa27cf8,
  0xc4ac5665,
  0xf4292244,
  0x432aff97,
  0xab9423a7,
  0xfc93a039,
  0x655b59c3,
  0x8f0ccc92,
  0xffeff47d,
  0x85845dd1,
  0x6fa87e4f,
  0xfe2ce6e0,
  0xa3014314,
  0x4e0811a1,
  0xf7537e82,
  0xbd3af235,
  0x2ad7d2bb,
  0xeb86d391,
]);

// RFC 1321 §3.4: the per-step left-rotation amounts, four per round.
const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

// RFC 1321 §3.3: the initial buffer A, B, C, D.
const H0 = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

const BLOCK = 64;

/**
 * Incremental MD5. Feed data with {@linkcode Md5.update} in any number of pieces, then call
 * {@linkcode Md5.digest} once.
 *
 * @example
 * ```ts
 * import { Md5 } from "./md5.ts";
 * const te = new TextEncoder();
 * const d = new Md5().update(te.encode("ab")).update(te.encode("c")).digest();
 * console.log(d.length, d[0].toString(16)); // 16 90 (the digest of "abc")
 * ```
 */
export class Md5 {
  #h = new Uint32Array(H0);
  #x = new Uint32Array(16);
  #block = new Uint8Array(BLOCK);
  #blockLen = 0;
  #total = 0;
  #done = false;

  /**
   * Adds bytes to the hash.
   *
   * @param data Bytes to hash; not retained.
   * @returns This hash, for chaining.
   */
  update(data: Uint8Array): this {
    if (this.#done) throw new RtmpError("INVALID_ARGUMENT", "md5: update() after digest()");
    this.#total += data.length;
    let off = 0;
    if (this.#blockLen > 0) {
      const take = Math.min(BLOCK - this.#blockLen, data.length);
      this.#block.set(data.subarray(0, take), this.#blockLen);
      this.#blockLen += take;
      off = take;
      if (this.#blockLen < BLOCK) return this;
      this.#compress(this.#block, 0);
      this.#blockLen = 0;
    }
    while (data.length - off >= BLOCK) {
      this.#compress(data, off);
      off += BLOCK;
    }
    if (off < data.length) {
      this.#block.set(data.subarray(off), 0);
      this.#blockLen = data.length - off;
    }
    return this;
  }

  /**
   * Finishes the hash. The object cannot be updated afterwards.
   *
   * @returns The 16-byte digest.
   */
  digest(): Uint8Array {
    if (this.#done) throw new RtmpError("INVALID_ARGUMENT", "md5: digest() called twice");
    this.#done = true;
    // RFC 1321 §3.1–3.2: append 0x80, zeros up to 56 mod 64, then the bit length as a 64-bit
    // little-endian number.
    const bitsLo = (this.#total * 8) >>> 0;
    const bitsHi = Math.floor(this.#total / 0x20000000) >>> 0;
    const b = this.#block;
    b[this.#blockLen++] = 0x80;
    if (this.#blockLen > 56) {
      b.fill(0, this.#blockLen);
      this.#compress(b, 0);
      this.#blockLen = 0;
    }
    b.fill(0, this.#blockLen, 56);
    for (let i = 0; i < 4; i++) {
      b[56 + i] = bitsLo >>> (8 * i);
      b[60 + i] = bitsHi >>> (8 * i);
    }
    this.#compress(b, 0);
    // RFC 1321 §3.5: the output is A, B, C, D, each low-order byte first.
    const out = new Uint8Array(16);
    for (let i = 0; i < 4; i++) {
      const v = this.#h[i];
      out[i * 4] = v;
      out[i * 4 + 1] = v >>> 8;
      out[i * 4 + 2] = v >>> 16;
      out[i * 4 + 3] = v >>> 24;
    }
    return out;
  }

  // RFC 1321 §3.4: one 512-bit block, as sixteen little-endian words, in four rounds of sixteen
  // steps. Round r uses F, G, H or I and picks message words in its own order.
  #compress(data: Uint8Array, off: number): void {
    const x = this.#x;
    for (let i = 0; i < 16; i++) {
      const o = off + i * 4;
      x[i] = data[o] | (data[o + 1] << 8) | (data[o + 2] << 16) | (data[o + 3] << 24);
    }
    const h = this.#h;
    let a = h[0], b = h[1], c = h[2], d = h[3];
    for (let i = 0; i < 64; i++) {
      const round = i >> 4;
      let f: number;
      let k: number;
      if (round === 0) {
        f = (b & c) | (~b & d); // F(X,Y,Z) = XY v not(X) Z
        k = i;
      } else if (round === 1) {
        f = (b & d) | (c & ~d); // G(X,Y,Z) = XZ v Y not(Z)
        k = (5 * i + 1) & 15;
      } else if (round === 2) {
        f = b ^ c ^ d; // H(X,Y,Z) = X xor Y xor Z
        k = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d); // I(X,Y,Z) = Y xor (X v not(Z))
        k = (7 * i) & 15;
      }
      const s = S[(round << 2) | (i & 3)];
      const sum = (a + f + T[i] + x[k]) | 0;
      const rotated = (sum << s) | (sum >>> (32 - s));
      a = d;
      d = c;
      c = b;
      b = (b + rotated) | 0;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
  }
}

/**
 * MD5 of the concatenation of `parts` (no concatenation is performed).
 *
 * @example
 * ```ts
 * import { md5 } from "./md5.ts";
 * const hex = Array.from(md5(new TextEncoder().encode("abc")), (b) => b.toString(16).padStart(2, "0"));
 * console.log(hex.join("")); // 900150983cd24fb0d6963f7d28e17f72
 * ```
 *
 * @param parts Byte arrays hashed in order.
 * @returns The 16-byte digest.
 */
export function md5(...parts: Uint8Array[]): Uint8Array {
  const h = new Md5();
  for (const p of parts) h.update(p);
  return h.digest();
}
