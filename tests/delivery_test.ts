/**
 * The delivery path shared by RTMP players and HTTP/WS viewers: the ready queue (one run per
 * wave, merged waves with a delay) and the HTTP-FLV batch pump (what it writes, how often, and
 * that it stops at backpressure and goes on after drain).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ReadyQueue } from "../util/ready_queue.ts";
import { pumpBatches, type ViewerSink } from "../http/viewer_pump.ts";
import type { PacketBatches } from "../http/types.ts";
import type { MediaPacket } from "../protocol/packet.ts";
import { FlvDemuxer } from "../protocol/flv.ts";
import { startHttpFlvServer } from "../http/server.ts";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function audio(ts: number): MediaPacket {
  return { type: "audio", timestamp: ts, payload: new Uint8Array([0xaf, 1, ts & 0xff]), tag: null };
}

/** A batch source fed by hand. */
class Feed implements PacketBatches {
  queue: MediaPacket[] = [];
  ended = false;
  #listener: (() => void) | null = null;
  push(p: MediaPacket): void {
    const wasEmpty = this.queue.length === 0;
    this.queue.push(p);
    if (wasEmpty) this.#listener?.();
  }
  end(): void {
    this.ended = true;
    this.#listener?.();
  }
  take(): MediaPacket[] {
    return this.queue.splice(0);
  }
  get done(): boolean {
    return this.ended && this.queue.length === 0;
  }
  onReady(listener: (() => void) | null): void {
    this.#listener = listener;
  }
}

/** A sink that records writes and can report a full buffer. */
class RecordingSink implements ViewerSink {
  writes: Uint8Array[] = [];
  full = false;
  readonly #ac = new AbortController();
  #drain: (() => void) | null = null;
  signal: AbortSignal = this.#ac.signal;
  write(bytes: Uint8Array): boolean {
    this.writes.push(bytes.slice());
    return !this.full;
  }
  drained(): Promise<void> {
    return new Promise((resolve) => (this.#drain = resolve));
  }
  drain(): void {
    this.full = false;
    const d = this.#drain;
    this.#drain = null;
    d?.();
  }
  abort(): void {
    this.#ac.abort();
  }
}

function tagsOf(writes: Uint8Array[]): number[] {
  const d = new FlvDemuxer();
  const out: number[] = [];
  for (const w of writes) for (const t of d.push(w)) out.push(t.timestamp);
  return out;
}

describe("ReadyQueue", () => {
  it("runs a task once per wave however often it was added, after the current work", async () => {
    const q = new ReadyQueue();
    let runs = 0;
    const task = { run: () => runs++, failed: () => {} };
    q.add(task);
    q.add(task);
    assert.equal(runs, 0);
    await Promise.resolve();
    assert.equal(runs, 1);
    q.add(task);
    await sleep(0);
    assert.equal(runs, 2);
  });

  it("a task made ready while a wave runs waits for the next; a throw stays with its task", async () => {
    const q = new ReadyQueue();
    const order: string[] = [];
    const failures: unknown[] = [];
    const b = { run: () => order.push("b"), failed: () => {} };
    const a = {
      run: () => {
        order.push("a");
        q.add(b);
        throw new Error("a broke");
      },
      failed: (e: unknown) => failures.push(e),
    };
    const c = { run: () => order.push("c"), failed: () => {} };
    q.add(a);
    q.add(c);
    await sleep(0);
    assert.deepEqual(order, ["a", "c", "b"]);
    assert.equal(failures.length, 1);
  });

  it("with delayMs, what is added within the window runs in one wave", async () => {
    const q = new ReadyQueue({ delayMs: 60 });
    let runs = 0;
    const task = { run: () => runs++, failed: () => {} };
    q.add(task);
    await sleep(10);
    q.add(task);
    assert.equal(runs, 0, "ran before its window");
    await sleep(120);
    assert.equal(runs, 1);
  });
});

describe("HTTP-FLV batch pump", () => {
  it("writes the header and every tag, gathered into one write per wave", async () => {
    const feed = new Feed();
    const sink = new RecordingSink();
    const merged = new ReadyQueue({ delayMs: 50 });
    const done = pumpBatches(feed, sink, new WeakMap(), () => merged);
    await sleep(0);
    assert.equal(sink.writes.length, 0, "nothing queued, nothing written");
    for (let i = 0; i < 5; i++) {
      feed.push(audio(i * 20));
      await sleep(5);
    }
    assert.equal(sink.writes.length, 0, "wrote inside the merge window");
    await sleep(100);
    assert.equal(sink.writes.length, 1, "one write for the whole window");
    assert.deepEqual(Array.from(sink.writes[0].subarray(0, 3)), [0x46, 0x4c, 0x56]); // "FLV"
    feed.push(audio(100));
    feed.end();
    const sent = await done;
    assert.deepEqual(tagsOf(sink.writes), [0, 20, 40, 60, 80, 100]);
    assert.equal(sent, sink.writes.reduce((n, w) => n + w.length, 0));
  });

  it("stops at a full socket and goes on after drain, losing nothing", async () => {
    const feed = new Feed();
    const sink = new RecordingSink();
    const done = pumpBatches(feed, sink, new WeakMap());
    sink.full = true;
    feed.push(audio(0));
    await sleep(0);
    assert.equal(sink.writes.length, 1);
    feed.push(audio(20));
    feed.push(audio(40));
    await sleep(10);
    assert.equal(sink.writes.length, 1, "wrote although the socket was full");
    sink.drain();
    await sleep(10);
    assert.equal(sink.writes.length, 2);
    sink.abort();
    assert.equal(await done, sink.writes.reduce((n, w) => n + w.length, 0));
    assert.deepEqual(tagsOf(sink.writes), [0, 20, 40]);
  });

  it("ends when the viewer leaves, and stops listening to the source", async () => {
    const feed = new Feed();
    const sink = new RecordingSink();
    const done = pumpBatches(feed, sink, new WeakMap());
    feed.push(audio(0));
    await sleep(0);
    sink.abort();
    await done;
    const before = sink.writes.length;
    feed.push(audio(20));
    await sleep(10);
    assert.equal(sink.writes.length, before);
  });
});

describe("HTTP-FLV merged writes", () => {
  it("write at once below mergeFromViewers, merge from it on", { timeout: 20_000 }, async () => {
    const MERGE = 1000;
    const feeds: Feed[] = [];
    const server = await startHttpFlvServer({
      hostname: "127.0.0.1",
      port: 0,
      mergeWriteMs: MERGE,
      mergeFromViewers: 2,
      open: () => {
        const feed = new Feed();
        feeds.push(feed);
        return Promise.resolve({
          packets: (async function* () {})(),
          batches: feed,
          close: () => feed.end(),
        });
      },
    });
    const readers: Array<ReadableStreamDefaultReader<Uint8Array>> = [];
    const aborts: AbortController[] = [];
    /** Opens a viewer; resolves with a function that waits for its next bytes (ms taken). */
    async function view(): Promise<() => Promise<number>> {
      const ac = new AbortController();
      aborts.push(ac);
      const res = await fetch(`http://127.0.0.1:${server.addr.port}/live/k.flv`, {
        signal: ac.signal,
      });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      readers.push(reader);
      return async () => {
        const t0 = performance.now();
        const r = await reader.read();
        assert.equal(r.done, false);
        return performance.now() - t0;
      };
    }
    try {
      const first = await view();
      feeds[0].push(audio(0));
      // One viewer: at once (far less than the merge window, even on a loaded machine).
      assert.ok(await first() < MERGE / 2, "one viewer waited for the merge window");
      const second = await view();
      const t0 = performance.now();
      for (const f of feeds) f.push(audio(20));
      await Promise.all([first(), second()]);
      // Two viewers: merged, so not before most of the window has passed.
      assert.ok(performance.now() - t0 >= MERGE * 0.8, "two viewers were written at once");
    } finally {
      for (const ac of aborts) ac.abort();
      await server.close();
    }
  });
});
