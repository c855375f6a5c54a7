/**
 * Chunk codec throughput on the current runtime: video-sized messages (64–200 KiB) at chunk size
 * 4096, the shape of a real ingest.
 *
 *   deno run -A bench/chunk_bench.ts
 *   bun bench/chunk_bench.ts
 *   node bench/chunk_bench.ts
 *
 * @module
 */

import { ChunkEncoder } from "../protocol/chunk_encoder.ts";
import { ChunkDecoder } from "../protocol/chunk_decoder.ts";
import type { RtmpMessage } from "../protocol/message.ts";

const CHUNK_SIZE = 4096;
const MESSAGES = 64;
const MIN_SECONDS = 1.5;

/** Deterministic sizes and contents so runs are comparable. */
function workload(): RtmpMessage[] {
  let seed = 12345;
  const next = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
  const messages: RtmpMessage[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    const size = 64 * 1024 + (next() % (136 * 1024 + 1));
    const payload = new Uint8Array(size);
    for (let k = 0; k < size; k += 97) payload[k] = next() & 0xff;
    messages.push({ type: 9, streamId: 1, timestamp: i * 33, payload });
  }
  return messages;
}

function setChunkSize(encoder: ChunkEncoder): Uint8Array {
  const payload = new Uint8Array([0, 0, CHUNK_SIZE >> 8, CHUNK_SIZE & 0xff]);
  const bytes = encoder.encode(2, { type: 1, streamId: 0, timestamp: 0, payload });
  encoder.setChunkSize(CHUNK_SIZE);
  return bytes;
}

/** Runs `round` until MIN_SECONDS elapsed; returns MB/s for `bytesPerRound`. */
function measure(bytesPerRound: number, round: () => number): { mbps: number; check: number } {
  let check = round(); // warm-up
  let rounds = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < MIN_SECONDS * 1000) {
    check += round();
    rounds++;
    elapsed = performance.now() - start;
  }
  return { mbps: (bytesPerRound * rounds) / (elapsed / 1000) / 1e6, check };
}

const messages = workload();
const payloadBytes = messages.reduce((n, m) => n + m.payload.length, 0);

const encoded: Uint8Array[] = [];
{
  const encoder = new ChunkEncoder();
  encoded.push(setChunkSize(encoder));
  for (const m of messages) encoded.push(encoder.encode(6, m));
}
const wire = new Uint8Array(encoded.reduce((n, e) => n + e.length, 0));
{
  let o = 0;
  for (const e of encoded) {
    wire.set(e, o);
    o += e.length;
  }
}

const encode = measure(payloadBytes, () => {
  const encoder = new ChunkEncoder();
  let n = setChunkSize(encoder).length;
  for (const m of messages) n += encoder.encode(6, m).length;
  return n;
});

function decodeRound(readSize: number): () => number {
  // A socket layer hands over reads of at most `readSize` bytes from one reused buffer.
  const readBuffer = new Uint8Array(readSize);
  return () => {
    const decoder = new ChunkDecoder();
    let count = 0;
    for (let o = 0; o < wire.length; o += readSize) {
      const n = Math.min(readSize, wire.length - o);
      readBuffer.set(wire.subarray(o, o + n));
      count += decoder.push(readBuffer.subarray(0, n)).length;
    }
    if (count !== MESSAGES + 1) throw new Error(`decoded ${count} messages`);
    return count;
  };
}

const decode64 = measure(wire.length, decodeRound(64 * 1024));
const decode4 = measure(wire.length, decodeRound(4 * 1024));

const runtime = typeof navigator !== "undefined" ? navigator.userAgent : "unknown runtime";
console.log(
  `chunk codec on ${runtime}: ${MESSAGES} video messages, ` +
    `${(payloadBytes / MESSAGES / 1024).toFixed(0)} KiB average, chunk size ${CHUNK_SIZE}`,
);
console.log(`  encode                 ${encode.mbps.toFixed(0).padStart(7)} MB/s (payload)`);
console.log(`  decode, 64 KiB reads   ${decode64.mbps.toFixed(0).padStart(7)} MB/s (wire)`);
console.log(`  decode,  4 KiB reads   ${decode4.mbps.toFixed(0).padStart(7)} MB/s (wire)`);
