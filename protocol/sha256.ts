/**
 * Synchronous SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) in plain TypeScript.
 *
 * The RTMP "digest" handshake (FP9 layout) signs C1/S1/C2/S2 with HMAC-SHA256. WebCrypto only
 * offers an async digest, and the protocol core is sans-IO and synchronous, so the handshake uses
 * this implementation. It is only used for a handful of 1.5 KiB buffers per connection.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first
// 64 primes.
const K = new Uint32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);

// FIPS 180-4 §5.3.3: initial hash value.
const H0 = [
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
];

const BLOCK = 64;

/**
 * Incremental SHA-256. Feed data with {@linkcode Sha256.update} in any number of pieces, then
 * call {@linkcode Sha256.digest} once.
 *
 * @example
 * ```ts
 * import { Sha256 } from "./sha256.ts";
 * const h = new Sha256().update(new TextEncoder().encode("ab")).update(new Uint8Array([99]));
 * console.log(h.digest().length); // 32 (the digest of "abc")
 * ```
 */
export class Sha256 {
  #h = new Uint32Array(H0);
  #w = new Uint32Array(64);
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
    if (this.#done) {
      throw new RtmpError("INVALID_ARGUMENT", "sha256: update() after digest()");
    }
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
   * @returns The 32-byte digest.
   */
  digest(): Uint8Array {
    if (this.#done) {
      throw new RtmpError("INVALID_ARGUMENT", "sha256: digest() called twice");
    }
    this.#done = true;
    // FIPS 180-4 §5.1.1: append 0x80, pad with zeros to 56 mod 64, then the bit length (64-bit BE).
    const bitsHi = Math.floor(this.#total / 0x20000000);
    const bitsLo = (this.#total * 8) >>> 0;
    const b = this.#block;
    b[this.#blockLen++] = 0x80;
    if (this.#blockLen > 56) {
      b.fill(0, this.#blockLen);
      this.#compress(b, 0);
      this.#blockLen = 0;
    }
    b.fill(0, this.#blockLen, 56);
    b[56] = bitsHi >>> 24;
    b[57] = bitsHi >>> 16;
    b[58] = bitsHi >>> 8;
    b[59] = bitsHi;
    b[60] = bitsLo >>> 24;
    b[61] = bitsLo >>> 16;
    b[62] = bitsLo >>> 8;
    b[63] = bitsLo;
    this.#compress(b, 0);
    const out = new Uint8Array(32);
    const h = this.#h;
    for (let i = 0; i < 8; i++) {
      out[i * 4] = h[i] >>> 24;
      out[i * 4 + 1] = h[i] >>> 16;
      out[i * 4 + 2] = h[i] >>> 8;
      out[i * 4 + 3] = h[i];
    }
    return out;
  }

  // FIPS 180-4 §6.2.2: one 512-bit block.
  #compress(data: Uint8Array, off: number): void {
    const w = this.#w;
    for (let i = 0; i < 16; i++) {
      const o = off + i * 4;
      w[i] = (data[o] << 24) | (data[o + 1] << 16) | (data[o + 2] << 8) | data[o + 3];
    }
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15], y = w[i - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    const h = this.#h;
    let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[i] + w[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
  }
}

/**
 * SHA-256 of the concatenation of `parts` (no concatenation is performed).
 *
 * @example
 * ```ts
 * import { sha256 } from "./sha256.ts";
 * const d = sha256(new TextEncoder().encode("abc"));
 * console.log(d[0].toString(16)); // "ba"
 * ```
 *
 * @param parts Byte arrays hashed in order.
 * @returns The 32-byte digest.
 */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = new Sha256();
  for (const p of parts) h.update(p);
  return h.digest();
}

/**
 * HMAC-SHA256 (RFC 2104) of the concatenation of `parts` under `key`.
 *
 * @example
 * ```ts
 * import { hmacSha256 } from "./sha256.ts";
 * const te = new TextEncoder();
 * const mac = hmacSha256(te.encode("key"), te.encode("The quick brown fox "), te.encode("jumps"));
 * console.log(mac.length); // 32
 * ```
 *
 * @param key Any length; keys longer than the 64-byte block are hashed first (RFC 2104 §2).
 * @param parts Message bytes, hashed in order.
 * @returns The 32-byte MAC.
 */
export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const k = new Uint8Array(BLOCK);
  k.set(key.length > BLOCK ? sha256(key) : key);
  const pad = new Uint8Array(BLOCK);
  for (let i = 0; i < BLOCK; i++) pad[i] = k[i] ^ 0x36;
  const inner = new Sha256().update(pad);
  for (const p of parts) inner.update(p);
  const innerDigest = inner.digest();
  for (let i = 0; i < BLOCK; i++) pad[i] = k[i] ^ 0x5c;
  return new Sha256().update(pad).update(innerDigest).digest();
}
