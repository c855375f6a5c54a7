// Small helpers shared by the unit tests: a seeded PRNG, byte builders and RtmpError assertions.
import assert from "node:assert/strict";
import process from "node:process";
import { RtmpError, type RtmpErrorCode } from "../../errors.ts";

/**
 * mulberry32: a small seeded PRNG returning floats in [0, 1). The same seed always gives the
 * same sequence, so a failing case is replayed from its printed seed.
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Seed of every fuzz and property suite when `RTMP_TEST_SEED` is not set ("RTMP" in ASCII);
 * `.ci/test` exports the same value, so local and CI runs test the same cases by default.
 */
export const DEFAULT_TEST_SEED = 0x52544d50;

const announced = new Set<string>();

/**
 * The run's seed for fuzz and property tests: env `RTMP_TEST_SEED` (decimal or `0x…`), else
 * {@linkcode DEFAULT_TEST_SEED}. Prints `<suite>: RTMP_TEST_SEED=<n>` once per suite, so a
 * failing run names the value that replays it.
 */
export function testSeed(suite: string): number {
  const text = process.env.RTMP_TEST_SEED?.trim();
  let seed = DEFAULT_TEST_SEED;
  if (text !== undefined && text !== "") {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new Error(`RTMP_TEST_SEED: expected a non-negative integer, got "${text}"`);
    }
    seed = n >>> 0;
  }
  if (!announced.has(suite)) {
    announced.add(suite);
    console.log(`${suite}: RTMP_TEST_SEED=${seed} (set it to replay these cases)`);
  }
  return seed;
}

/**
 * Derives the seed of one call site from the run's seed and a constant `salt` (murmur3's 32-bit
 * finalizer), so call sites never share a sequence and every one changes with `RTMP_TEST_SEED`.
 */
export function mixSeed(seed: number, salt: number): number {
  let h = (seed ^ Math.imul(salt >>> 0, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The bytes of `parts` joined into one new array. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** {@linkcode concat} of the arguments. */
export function cat(...parts: Uint8Array[]): Uint8Array {
  return concat(parts);
}

/** Hex text (whitespace allowed) → bytes. */
export function hex(s: string): Uint8Array {
  const c = s.replace(/\s+/g, "");
  const out = new Uint8Array(c.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(c.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Bytes → lower-case hex text. */
export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** ASCII (or Latin-1) text → one byte per character. */
export function asc(s: string): Uint8Array {
  return Uint8Array.from(s, (ch) => ch.charCodeAt(0));
}

// Hand-written wire layouts as number arrays, independent of the encoders under test.

const te = new TextEncoder();

/** UTF-8 bytes of `s`. */
export const utf8 = (s: string): number[] => [...te.encode(s)];
/** Big-endian UI16. */
export const u16 = (n: number): number[] => [(n >>> 8) & 0xff, n & 0xff];
/** Big-endian UI24. */
export const u24 = (n: number): number[] => [(n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
/** Big-endian UI32. */
export const u32 = (n: number): number[] => [
  n >>> 24,
  (n >>> 16) & 0xff,
  (n >>> 8) & 0xff,
  n & 0xff,
];
/** Big-endian IEEE 754 double. */
export const f64 = (n: number): number[] => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, n);
  return [...b];
};
/** Bytes and byte arrays flattened into one `Uint8Array`. */
export const bytes = (...parts: (number | number[])[]): Uint8Array => Uint8Array.from(parts.flat());

/**
 * Asserts `fn` throws an {@linkcode RtmpError} with `code` and, when given, a message matching
 * `pattern` (a RegExp, or text the message must contain).
 */
export function throwsCode(
  fn: () => unknown,
  code: RtmpErrorCode,
  pattern?: RegExp | string,
): void {
  assert.throws(fn, (e: unknown) => {
    checkRtmpError(e, code, pattern);
    return true;
  });
}

/** Like {@linkcode throwsCode}, for a promise that must reject. */
export function rejectsCode(
  promise: Promise<unknown>,
  code: RtmpErrorCode,
  pattern?: RegExp | string,
): Promise<void> {
  return assert.rejects(promise, (e: unknown) => {
    checkRtmpError(e, code, pattern);
    return true;
  });
}

function checkRtmpError(
  e: unknown,
  code: RtmpErrorCode,
  pattern: RegExp | string | undefined,
): void {
  assert.ok(e instanceof RtmpError, `expected RtmpError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  if (typeof pattern === "string") assert.ok(e.message.includes(pattern), e.message);
  else if (pattern) assert.match(e.message, pattern);
}

/** The RtmpError `promise` rejects with; fails if it resolves or rejects with anything else. */
export async function rejectionOf(promise: Promise<unknown>): Promise<RtmpError> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof RtmpError, `expected RtmpError, got ${e}`);
    return e;
  }
  assert.fail("expected a rejection");
}

/** The next item `source` yields (e.g. the next session of an `RtmpServer`); fails at its end. */
export async function nextSession<T>(source: AsyncIterable<T>): Promise<T> {
  const r = await source[Symbol.asyncIterator]().next();
  assert.equal(r.done, false, "server yielded no session");
  return r.value;
}
