import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ChunkEncoder } from "../protocol/chunk_encoder.ts";
import { ChunkDecoder } from "../protocol/chunk_decoder.ts";
import { RtmpError } from "../errors.ts";
import type { RtmpMessage } from "../protocol/message.ts";
import { concat, prng, testSeed } from "./support/util.ts";

// The run's seed (env RTMP_TEST_SEED, printed; fixed by default). A failure names it and the
// case seed; RTMP_TEST_SEED=<n> replays the run. CI may pass a fresh one to widen coverage.
const BASE_SEED = testSeed("chunk_property_test");

class Rand {
  next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  u32(): number {
    return Math.floor(this.next() * 0x100000000);
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }
}

/** Runs `fn` with a derived seed and names the seed if it fails. */
function withSeed(label: string, seed: number, fn: (r: Rand) => void): void {
  try {
    fn(new Rand(seed));
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(
      `${label} failed with RTMP_TEST_SEED=${BASE_SEED} (case seed ${seed}): ${message}`,
      { cause: e },
    );
  }
}

/** Random split sizes: all 1-byte, small, or large pieces. */
function split(r: Rand, bytes: Uint8Array): Uint8Array[] {
  const mode = bytes.length <= 4000 ? r.int(0, 2) : r.int(1, 2);
  const max = mode === 0 ? 1 : mode === 1 ? 40 : 6000;
  const out: Uint8Array[] = [];
  for (let o = 0; o < bytes.length;) {
    const n = Math.min(bytes.length - o, r.int(1, max));
    out.push(bytes.subarray(o, o + n));
    o += n;
  }
  return out;
}

function randomCsid(r: Rand): number {
  switch (r.int(0, 3)) {
    case 0:
      return r.int(2, 63);
    case 1:
      return r.int(64, 319);
    case 2:
      return r.int(320, 65599);
    default:
      return r.pick([2, 3, 63, 64, 319, 320, 65599]);
  }
}

interface CsidState {
  timestamp: number;
  delta: number;
  type: number;
  length: number;
  streamId: number;
}

/** Generates one random message sequence and encodes it, applying chunk size changes. */
function generate(r: Rand): { messages: RtmpMessage[]; encoded: Uint8Array[] } {
  const encoder = new ChunkEncoder();
  const csids = Array.from({ length: r.int(1, 5) }, () => randomCsid(r));
  const streamIds = [0, 1, r.u32(), r.int(2, 10)];
  const state = new Map<number, CsidState>();
  const messages: RtmpMessage[] = [];
  const encoded: Uint8Array[] = [];
  const count = r.int(1, 30);
  for (let i = 0; i < count; i++) {
    const csid = r.pick(csids);
    const prev = state.get(csid);
    const small = encoder.chunkSize < 16;
    let type: number;
    let length: number;
    if (prev && r.chance(0.6)) {
      type = prev.type;
      length = prev.length;
    } else {
      type = r.int(1, 22);
      length = r.pick([0, r.int(1, 20), r.int(100, 300), r.int(1, small ? 400 : 5000)]);
    }
    let payload: Uint8Array;
    let newChunkSize = 0;
    if (type === 1) {
      // Set Chunk Size must carry a valid size: both sides switch right after it.
      newChunkSize = r.pick([1, r.int(2, 200), 128, 4096, 65536, 0x7fffffff]);
      payload = new Uint8Array([
        newChunkSize >>> 24,
        (newChunkSize >>> 16) & 0xff,
        (newChunkSize >>> 8) & 0xff,
        newChunkSize & 0xff,
      ]);
    } else if (type === 2) {
      // Abort names a chunk stream; none has a partial message between whole messages.
      payload = r.bytes(4);
    } else {
      if (small && length > 400) length = r.int(0, 400);
      payload = r.bytes(length);
    }
    const streamId = prev && r.chance(0.85) ? prev.streamId : r.pick(streamIds);
    let timestamp: number;
    const last = prev?.timestamp ?? 0;
    switch (r.int(0, 9)) {
      case 0:
      case 1:
        timestamp = last + (prev?.delta ?? 0);
        break;
      case 2:
        timestamp = last;
        break;
      case 3:
      case 4:
        timestamp = last + r.int(0, 100);
        break;
      case 5:
        timestamp = last + r.int(0xfffff0, 0x2000000);
        break;
      case 6:
        timestamp = last - r.int(1, 1000);
        break;
      case 7:
        timestamp = r.u32();
        break;
      case 8:
        timestamp = 0xffffffff - r.int(0, 300);
        break;
      default:
        timestamp = r.int(0xfffff0, 0x1000010);
    }
    timestamp = ((timestamp % 0x100000000) + 0x100000000) % 0x100000000;
    const message: RtmpMessage = { type, streamId, timestamp, payload };
    if (r.chance(0.03)) encoder.reset(r.chance(0.5) ? csid : undefined);
    encoded.push(encoder.encode(csid, message));
    if (newChunkSize) encoder.setChunkSize(newChunkSize);
    messages.push(message);
    state.set(csid, {
      timestamp,
      delta: (timestamp - last + 0x100000000) % 0x100000000,
      type,
      length: payload.length,
      streamId,
    });
  }
  return { messages, encoded };
}

// ---------------------------------------------------------------------------------------------
// An interleaving chunk writer written from RTMP 1.0 §5.3–5.4, independent of ChunkEncoder
// (which always writes a message's chunks back to back). It keeps several messages of different
// chunk streams open at once and writes their chunks in random order, sends Abort (type 2) for
// an open message, and Set Chunk Size (type 1) while other messages are half sent. It records
// what a correct reader must return: every message whose last chunk was written, in that order,
// and nothing of an aborted one.

/** Chunk stream that carries the writer's protocol control messages (RTMP 1.0 §5.4). */
const CONTROL_CSID = 2;

/** Header state a writer shares with the reader per chunk stream (RTMP 1.0 §5.3.1.2). */
interface SharedHeader {
  timestamp: number;
  /** What a fmt 3 header starting a new message adds (after fmt 0: its timestamp, §5.3.1.2.4). */
  delta: number;
  length: number;
  type: number;
  streamId: number;
  /** The last fmt 0/1/2 header carried an Extended Timestamp (§5.3.1.3). */
  extended: boolean;
}

interface OpenMessage {
  csid: number;
  message: RtmpMessage;
  sent: number;
  /** The Extended Timestamp to repeat on every continuation chunk, or -1. */
  ext: number;
}

/** Coverage counters: the test fails unless every interesting case actually happened. */
interface Coverage {
  fmt: number[];
  extended: number;
  /** Chunks written for one chunk stream while another had a message half sent. */
  interleavedChunks: number;
  /** Aborts that dropped a message of which at least one chunk had been sent. */
  effectiveAborts: number;
  /** Chunk size changes that took effect while another message was half sent. */
  sizeChangesMidMessage: number;
  /** Runs ending with messages still half sent (the reader must hold exactly their bytes). */
  leftOpen: number;
}

class InterleavingWriter {
  chunkSize = 128;
  readonly out: number[] = [];
  /** Messages a correct reader returns, in the order their last chunk went out. */
  readonly completed: RtmpMessage[] = [];
  readonly open = new Map<number, OpenMessage>();
  #headers = new Map<number, SharedHeader>();
  #r: Rand;
  #cov: Coverage;

  constructor(r: Rand, cov: Coverage) {
    this.#r = r;
    this.#cov = cov;
  }

  #basicHeader(fmt: number, csid: number): void {
    // §5.3.1.1: ids 2..63 in one byte, 64..319 in two, 64..65599 in three.
    if (csid <= 63) this.out.push((fmt << 6) | csid);
    else if (csid <= 319) this.out.push(fmt << 6, csid - 64);
    else this.out.push((fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >>> 8);
  }

  #u24(n: number): void {
    this.out.push((n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  }

  #u32be(n: number): void {
    this.out.push(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  }

  /** Starts `message` on `csid` (which has no open message) and writes its first chunk. */
  start(csid: number, message: RtmpMessage): void {
    const r = this.#r;
    const prev = this.#headers.get(csid);
    const delta = prev ? (message.timestamp - prev.timestamp) >>> 0 : 0;
    const fmts = [0];
    if (prev && prev.streamId === message.streamId) {
      fmts.push(1);
      if (prev.length === message.payload.length && prev.type === message.type) {
        fmts.push(2);
        if (delta === prev.delta) fmts.push(3, 3);
      }
    }
    const fmt = r.pick(fmts);
    this.#cov.fmt[fmt]++;
    this.#basicHeader(fmt, csid);
    let ext = -1;
    let next: SharedHeader;
    if (fmt === 3) {
      // §5.3.1.2.4: everything repeats, the timestamp advances by the previous delta; an
      // Extended Timestamp still follows when the last fmt 0/1/2 header had one (§5.3.1.3).
      next = { ...prev!, timestamp: (prev!.timestamp + delta) >>> 0 };
      if (prev!.extended) ext = delta;
    } else {
      const field = fmt === 0 ? message.timestamp : delta;
      const extended = field >= 0xffffff;
      this.#u24(extended ? 0xffffff : field);
      if (fmt <= 1) {
        this.#u24(message.payload.length);
        this.out.push(message.type);
      }
      if (fmt === 0) {
        const id = message.streamId;
        // §5.3.1.2.1: the message stream id is little-endian.
        this.out.push(id & 0xff, (id >>> 8) & 0xff, (id >>> 16) & 0xff, id >>> 24);
      }
      if (extended) {
        ext = field;
        this.#cov.extended++;
      }
      next = {
        timestamp: message.timestamp,
        delta: field,
        length: message.payload.length,
        type: message.type,
        streamId: message.streamId,
        extended,
      };
    }
    if (ext >= 0) this.#u32be(ext);
    this.#headers.set(csid, next);
    const open: OpenMessage = { csid, message, sent: 0, ext };
    this.open.set(csid, open);
    this.#data(open);
  }

  /** Writes the next (continuation) chunk of the open message on `csid`. */
  continue(csid: number): void {
    const open = this.open.get(csid)!;
    this.#basicHeader(3, csid);
    // §5.3.1.3: the Extended Timestamp is repeated on continuation chunks.
    if (open.ext >= 0) this.#u32be(open.ext);
    this.#data(open);
  }

  #data(open: OpenMessage): void {
    if ([...this.open.keys()].some((id) => id !== open.csid)) this.#cov.interleavedChunks++;
    const payload = open.message.payload;
    const n = Math.min(this.chunkSize, payload.length - open.sent);
    for (let i = 0; i < n; i++) this.out.push(payload[open.sent + i]);
    open.sent += n;
    if (open.sent < payload.length) return;
    this.open.delete(open.csid);
    this.completed.push(open.message);
    const m = open.message;
    if (m.type === 1) {
      // §5.4.1: the new size applies to every chunk after this message, on every chunk stream.
      if (this.open.size > 0) this.#cov.sizeChangesMidMessage++;
      this.chunkSize = ((m.payload[0] << 24) | (m.payload[1] << 16) | (m.payload[2] << 8) |
        m.payload[3]) >>> 0;
    } else if (m.type === 2) {
      // §5.4.2: the reader discards the partial message of the named chunk stream. Its header
      // state is not specified after that, so the writer restarts that stream with fmt 0.
      const target = ((m.payload[0] << 24) | (m.payload[1] << 16) | (m.payload[2] << 8) |
        m.payload[3]) >>> 0;
      const victim = this.open.get(target);
      if (victim !== undefined) {
        this.open.delete(target);
        this.#headers.delete(target);
        if (victim.sent > 0) this.#cov.effectiveAborts++;
      }
    }
  }

  /** The header state of `csid` as both sides know it; none before its first fmt 0 header. */
  header(csid: number): Readonly<SharedHeader> | undefined {
    return this.#headers.get(csid);
  }

  /** Bytes a reader holds for the messages still open. */
  /** Bytes of the open messages that were written so far. */
  openBytes(): number {
    let n = 0;
    for (const o of this.open.values()) n += o.sent;
    return n;
  }
}

function control(type: 1 | 2, value: number, timestamp: number): RtmpMessage {
  return {
    type,
    streamId: 0,
    timestamp,
    payload: new Uint8Array([
      value >>> 24,
      (value >>> 16) & 0xff,
      (value >>> 8) & 0xff,
      value & 0xff,
    ]),
  };
}

/** A random interleaved session: several chunk streams, Aborts, Set Chunk Size. */
function generateInterleaved(r: Rand, cov: Coverage): InterleavingWriter {
  const w = new InterleavingWriter(r, cov);
  const csids: number[] = [];
  while (csids.length < r.int(2, 6)) {
    const id = randomCsid(r);
    if (id !== CONTROL_CSID && !csids.includes(id)) csids.push(id);
  }
  const streamIds = [0, 1, r.int(2, 10), r.u32()];
  const total = r.int(2, 40);
  let started = 0;
  // Some runs stop with messages half sent: the reader must then hold exactly their bytes.
  const stopWithOpen = r.chance(0.2);
  for (let step = 0; step < 100_000; step++) {
    const free = csids.filter((id) => !w.open.has(id));
    const openIds = [...w.open.keys()];
    const canStart = started < total && free.length > 0;
    if (!canStart && openIds.length === 0) break;
    if (!canStart && stopWithOpen && r.chance(0.05)) break;
    const roll = r.next();
    if (!w.open.has(CONTROL_CSID) && roll < 0.06) {
      const timestamp = r.int(0, 100_000);
      const dataOpen = openIds.filter((id) => id !== CONTROL_CSID);
      if (roll < 0.03 && dataOpen.length > 0) {
        // Abort an open message (mostly) or a chunk stream with nothing open (a no-op).
        const target = r.chance(0.85) ? r.pick(dataOpen) : r.pick(csids);
        w.start(CONTROL_CSID, control(2, target, timestamp));
      } else {
        const size = r.pick([1, r.int(2, 16), r.int(17, 300), 128, 4096, 65536, 0x7fffffff]);
        w.start(CONTROL_CSID, control(1, size, timestamp));
      }
      started++;
      continue;
    }
    if (canStart && (openIds.length === 0 || r.chance(0.35))) {
      const csid = r.pick(free);
      const prev = w.header(csid);
      // Repeat the previous header now and then, so fmt 1/2/3 get their turn.
      const same = prev !== undefined && r.chance(0.6);
      const type = same ? prev.type : r.int(3, 255);
      const small = w.chunkSize < 16;
      const length = same
        ? prev.length
        : r.pick([0, r.int(1, 20), r.int(100, 400), r.int(1, small ? 600 : 5000)]);
      const streamId = prev !== undefined && (same || r.chance(0.8))
        ? prev.streamId
        : r.pick(streamIds);
      const base = prev?.timestamp ?? 0;
      let timestamp: number;
      switch (r.int(0, 7)) {
        case 0:
        case 1:
          timestamp = base + (prev?.delta ?? 0);
          break;
        case 2:
          timestamp = base;
          break;
        case 3:
          timestamp = base + r.int(0, 100);
          break;
        case 4:
          timestamp = base + r.int(0xfffff0, 0x2000000);
          break;
        case 5:
          timestamp = 0xffffffff - r.int(0, 300);
          break;
        case 6:
          timestamp = r.int(0xfffff0, 0x1000010);
          break;
        default:
          timestamp = r.u32();
      }
      const message: RtmpMessage = {
        type,
        streamId,
        timestamp: timestamp >>> 0,
        payload: r.bytes(length),
      };
      w.start(csid, message);
      started++;
      continue;
    }
    if (openIds.length > 0) w.continue(r.pick(openIds));
  }
  if (w.open.size > 0) cov.leftOpen++;
  return w;
}

function checkShape(m: RtmpMessage): void {
  assert.ok(m.payload instanceof Uint8Array);
  assert.ok(Number.isInteger(m.type) && m.type >= 0 && m.type <= 255);
  assert.ok(Number.isInteger(m.timestamp) && m.timestamp >= 0 && m.timestamp <= 0xffffffff);
  assert.ok(Number.isInteger(m.streamId) && m.streamId >= 0 && m.streamId <= 0xffffffff);
}

describe("chunk codec properties", () => {
  it("random message sequences survive encode → random splits → decode", () => {
    for (let i = 0; i < 3000; i++) {
      withSeed("round trip", (BASE_SEED + i * 0x9e3779b1) >>> 0, (r) => {
        const { messages, encoded } = generate(r);
        const decoder = new ChunkDecoder();
        const stream = concat(encoded);
        const decoded: RtmpMessage[] = [];
        for (const piece of split(r, stream)) decoded.push(...decoder.push(piece));
        assert.equal(decoded.length, messages.length, "message count");
        for (let k = 0; k < messages.length; k++) {
          const a = decoded[k], e = messages[k];
          assert.deepEqual(
            [a.type, a.streamId, a.timestamp, a.payload.length],
            [e.type, e.streamId, e.timestamp, e.payload.length],
            `message ${k}`,
          );
          assert.deepEqual(a.payload, e.payload, `payload of message ${k}`);
        }
        assert.equal(decoder.bytesReceived, stream.length);
        assert.equal(decoder.bufferedBytes, 0);
      });
    }
  });

  it("interleaved chunk streams, Aborts and chunk size changes decode to the completed messages", () => {
    const cov: Coverage = {
      fmt: [0, 0, 0, 0],
      extended: 0,
      interleavedChunks: 0,
      effectiveAborts: 0,
      sizeChangesMidMessage: 0,
      leftOpen: 0,
    };
    for (let i = 0; i < 2000; i++) {
      withSeed("interleaved", (BASE_SEED + i * 0x632be5ab) >>> 0, (r) => {
        const w = generateInterleaved(r, cov);
        const stream = new Uint8Array(w.out);
        const decoder = new ChunkDecoder();
        const decoded: RtmpMessage[] = [];
        for (const piece of split(r, stream)) decoded.push(...decoder.push(piece));
        assert.equal(decoded.length, w.completed.length, "message count");
        for (let k = 0; k < decoded.length; k++) {
          const a = decoded[k], e = w.completed[k];
          assert.deepEqual(
            [a.type, a.streamId, a.timestamp, a.payload.length],
            [e.type, e.streamId, e.timestamp, e.payload.length],
            `message ${k}`,
          );
          assert.deepEqual(a.payload, e.payload, `payload of message ${k}`);
        }
        assert.equal(decoder.chunkSize, w.chunkSize, "chunk size after the run");
        assert.equal(decoder.bytesReceived, stream.length);
        // Aborted messages are released; the ones still open hold memory for what arrived of
        // them (their buffers grow by doubling), never for the length they announce.
        const arrived = w.openBytes();
        assert.ok(decoder.bufferedBytes >= arrived, "every arrived byte is held");
        assert.ok(
          decoder.bufferedBytes <= 2 * arrived + w.open.size * 4096,
          `bytes held for open messages: ${decoder.bufferedBytes} for ${arrived} arrived`,
        );
      });
    }
    // Each case this test exists for must actually have happened, or it proves little.
    assert.ok(cov.fmt.every((n) => n > 100), `header formats used: ${cov.fmt}`);
    assert.ok(cov.extended > 100, `extended timestamps: ${cov.extended}`);
    assert.ok(cov.interleavedChunks > 10_000, `interleaved chunks: ${cov.interleavedChunks}`);
    assert.ok(cov.effectiveAborts > 100, `aborts of half-sent messages: ${cov.effectiveAborts}`);
    assert.ok(
      cov.sizeChangesMidMessage > 100,
      `chunk size changes with a message half sent: ${cov.sizeChangesMidMessage}`,
    );
    assert.ok(cov.leftOpen > 50, `runs ending with open messages: ${cov.leftOpen}`);
  });

  it("random bytes only ever yield messages or throw RtmpError", () => {
    const limits = { maxMessageSize: 1 << 16, maxChunkStreams: 8, maxBufferedBytes: 1 << 18 };
    for (let i = 0; i < 2000; i++) {
      withSeed("random bytes", (BASE_SEED ^ (i * 0x85ebca6b)) >>> 0, (r) => {
        const bytes = r.bytes(r.int(0, 3000));
        // Start with a plausible fmt 0 header half the time so parsing gets further.
        if (bytes.length > 0 && r.chance(0.5)) bytes[0] &= 0x3f;
        const decoder = new ChunkDecoder(limits);
        try {
          for (const piece of split(r, bytes)) decoder.push(piece).forEach(checkShape);
        } catch (e) {
          assert.ok(e instanceof RtmpError, `non-RtmpError escaped: ${e}`);
        }
      });
    }
  });

  it("mutated valid streams only ever yield messages or throw RtmpError", () => {
    const mutationCoverage: Coverage = {
      fmt: [0, 0, 0, 0],
      extended: 0,
      interleavedChunks: 0,
      effectiveAborts: 0,
      sizeChangesMidMessage: 0,
      leftOpen: 0,
    };
    const limits = { maxMessageSize: 1 << 16, maxChunkStreams: 8, maxBufferedBytes: 1 << 18 };
    let threw = 0;
    for (let i = 0; i < 2000; i++) {
      withSeed("mutation", (BASE_SEED + i * 0x27d4eb2f) >>> 0, (r) => {
        const bytes = r.chance(0.5)
          ? Array.from(concat(generate(r).encoded))
          : generateInterleaved(r, mutationCoverage).out;
        const edits = r.int(1, 8);
        for (let k = 0; k < edits && bytes.length > 0; k++) {
          const at = r.int(0, bytes.length - 1);
          switch (r.int(0, 4)) {
            case 0:
              bytes[at] ^= 1 << r.int(0, 7);
              break;
            case 1:
              bytes[at] = r.int(0, 255);
              break;
            case 2:
              bytes.splice(at, r.int(1, 20));
              break;
            case 3:
              bytes.splice(at, 0, ...r.bytes(r.int(1, 20)));
              break;
            default:
              bytes.length = at;
          }
        }
        const decoder = new ChunkDecoder(limits);
        try {
          for (const piece of split(r, new Uint8Array(bytes))) {
            decoder.push(piece).forEach(checkShape);
          }
        } catch (e) {
          assert.ok(e instanceof RtmpError, `non-RtmpError escaped: ${e}`);
          threw++;
        }
      });
    }
    // The mutations must actually reach the error paths, or this test proves little.
    assert.ok(threw > 0, "no mutated stream was rejected");
  });
});
