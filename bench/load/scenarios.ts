/**
 * The figures of the server bench, each run against one freshly started server by the same
 * load generator (this process). Every figure returns named numbers; the caller keeps the
 * medians over runs.
 *
 * @module
 */

import type { FlvTag } from "../../protocol/flv.ts";
import { type Clip, isVideoKeyframe } from "./media.ts";
import process from "node:process";
import { Worker } from "node:worker_threads";
import { openHttpViewer } from "./http_viewer.ts";
import { cpuSeconds, cpuSplit, rssBytes, RssSampler } from "./proc.ts";
import { PROBE_FRAMES, type ProbeShared, probeShared } from "./probe_worker.ts";
import { BenchClient, BenchPublisher, now, type OpenedPlayer, openPlayer } from "./rtmp_conn.ts";
import type { RunningServer } from "./targets.ts";

/** Latency probes of the realtime figure (players in a worker thread). */
const PROBES = 25;

/** What the probe worker reports. */
interface ProbeResult {
  latencies: number[];
  seqs: number[];
  /** The probe of each latency. */
  probes: number[];
  connected: number;
  got: number[];
  worst: number[];
}

/** Named results of one run of one figure on one server. */
export type Figures = Record<string, number>;

const MB = 1e6;
const MIB = 1 << 20;

/** Sleeps. @param ms Milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Source address for connection `i`: spread over 127.0.0.2–127.0.0.201. */
const source = (i: number): string => `127.0.0.${2 + (i % 200)}`;

/**
 * Reads the server's CPU once it has stopped rising (two equal readings 100 ms apart, at most
 * 3 s): what it still does for the load just sent is counted.
 */
async function settledCpu(pid: number): Promise<number> {
  let last = cpuSeconds(pid);
  for (let i = 0; i < 30; i++) {
    await sleep(100);
    const c = cpuSeconds(pid);
    if (c === last) return c;
    last = c;
  }
  return last;
}

/**
 * Debug view (env RTMP_BENCH_DEBUG): the server's user and system CPU since `split0`, which
 * tells the system calls' share (much the same for every server moving the same bytes).
 */
function debugSplit(label: string, pid: number, split0: [number, number]): void {
  if (!process.env.RTMP_BENCH_DEBUG) return;
  const [user, sys] = cpuSplit(pid);
  const f = (s: number): string => s.toFixed(2);
  console.error(`  ${label}: user ${f(user - split0[0])} s, system ${f(sys - split0[1])} s`);
}

/** Runs `fn(i)` for i < n with at most `limit` in flight; stops at the first failure. */
async function pool<T>(n: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

/**
 * Publishes the clip's headers then its media looped, as fast as the socket takes it, until
 * `bytes` have been written.
 *
 * @returns Payload bytes of the media sent.
 */
async function publishFast(pub: BenchPublisher, clip: Clip, bytes: number): Promise<number> {
  for (const h of clip.headers) pub.queue(h.type, h.timestamp, h.data);
  let offset = 0;
  let payload = 0;
  while (pub.bytesOut < bytes) {
    for (const tag of clip.media) {
      pub.queue(tag.type, tag.timestamp + offset, tag.data);
      payload += tag.data.length;
      if (pub.pending >= 256 << 10) {
        if (pub.closedWith) throw new Error(`publisher: ${pub.closedWith}`);
        if (!pub.flush()) await pub.drain();
        if (pub.bytesOut >= bytes) break;
      }
    }
    offset += clip.durationMs;
  }
  pub.flush();
  return payload;
}

/** Opens a player of `name` from source address number `i`. */
function player(server: RunningServer, name: string, i: number): Promise<OpenedPlayer> {
  return openPlayer({ port: server.port, localAddress: source(i) }, server.app, name);
}

// ---------------------------------------------------------------------------------------------

/**
 * Figure 1: one fast publisher of the 720p clip looped to `bytes`: MB ingested per server
 * CPU-second. With `chunkSize` 128 (FFmpeg's, fixed) the figures are named `ingest128…`.
 */
export async function ingest(
  server: RunningServer,
  clip: Clip,
  bytes: number,
  chunkSize = 4096,
): Promise<Figures> {
  const name = chunkSize === 4096 ? "ingest" : `ingest${chunkSize}`;
  const pub = await BenchPublisher.open({ port: server.port }, server.app, name, chunkSize);
  const cpu0 = cpuSeconds(server.pid);
  const split0 = cpuSplit(server.pid);
  const t0 = now();
  await publishFast(pub, clip, bytes);
  await withTimeout(pub.finish(), 120_000, "ingest: server closing the publisher");
  const wall = (now() - t0) / 1000;
  const cpu = await settledCpu(server.pid) - cpu0;
  debugSplit(name, server.pid, split0);
  return {
    [`${name}MB`]: pub.bytesOut / MB,
    [`${name}Cpu`]: cpu,
    [`${name}MBperCpu`]: pub.bytesOut / MB / cpu,
    [`${name}MBps`]: pub.bytesOut / MB / wall,
  };
}

/**
 * Figures 2 and 3: idle connections after handshake + connect + createStream. The first
 * `counts[0]` give the accept cost (server CPU per 1,000) and the first RSS per connection;
 * each further count adds connections and gives RSS per connection at that count.
 */
export async function idle(server: RunningServer, counts: number[]): Promise<Figures> {
  const out: Figures = {};
  const clients: BenchClient[] = [];
  let rssFirst = 0;
  await sleep(500);
  const rss0 = Math.min(rssBytes(server.pid), (await sleep(200), rssBytes(server.pid)));
  out.startRssMB = rss0 / MB;
  try {
    for (const [k, count] of counts.entries()) {
      const cpu0 = cpuSeconds(server.pid);
      const split0 = cpuSplit(server.pid);
      const start = clients.length;
      const made = await pool(count - start, 64, async (j) => {
        const c = await withTimeout(
          BenchClient.open({ port: server.port, localAddress: source(start + j) }),
          30_000,
          "idle: handshake",
        );
        clients.push(c);
        await withTimeout(c.connectAndCreate(server.app), 30_000, "idle: connect/createStream");
        return c;
      });
      const cpu = await settledCpu(server.pid) - cpu0;
      debugSplit(`accept @${count}`, server.pid, split0);
      if (k === 0) out[`acceptCpuPer1000`] = cpu * 1000 / made.length;
      else out[`acceptCpuPer1000@${count}`] = cpu * 1000 / made.length;
      // Let the runtimes settle (lazy frees, GC after the burst) before reading RSS.
      await sleep(1500);
      const rss = rssBytes(server.pid);
      const open = clients.filter((c) => c.closedWith === null).length;
      out[`idleKBperConn@${count}`] = (rss - rss0) / 1024 / count;
      out[`idleOpen@${count}`] = open;
      // What each connection past the first count adds: the one-time growth of the first burst
      // (heap, JIT code) left out.
      if (k > 0) out[`idleKBmarginal@${count}`] = (rss - rssFirst) / 1024 / (count - counts[0]);
      else rssFirst = rss;
    }
  } finally {
    for (const c of clients) c.destroy();
  }
  return out;
}

/**
 * Figure 4: one publisher → `players` players reading as fast as they can; the publisher sends
 * the 720p clip looped to `bytes` as fast as the server takes it: MB delivered per server
 * CPU-second, and the share of what was published that each player got.
 */
export async function relay(
  server: RunningServer,
  clip: Clip,
  players: number,
  bytes: number,
): Promise<Figures> {
  const opened = await pool(players, 50, (i) => player(server, "relay", i));
  const clients = opened.map((o) => o.client);
  try {
    const pub = await BenchPublisher.open({ port: server.port }, server.app, "relay");
    await withTimeout(Promise.all(opened.map((o) => o.started)), 30_000, "relay: Play.Start");
    const base = clients.reduce((n, c) => n + c.mediaBytes, 0);
    const cpu0 = cpuSeconds(server.pid);
    const split0 = cpuSplit(server.pid);
    const t0 = now();
    const published = await publishFast(pub, clip, bytes);
    await withTimeout(pub.finish(), 120_000, "relay: server closing the publisher");
    // Players still drain what the server queued: wait until nothing more arrives.
    let total = -1;
    for (let quiet = 0; quiet < 5;) {
      await sleep(100);
      const t = clients.reduce((n, c) => n + c.mediaBytes, 0);
      quiet = t === total ? quiet + 1 : 0;
      total = t;
    }
    const wall = (now() - t0) / 1000 - 0.5;
    const cpu = await settledCpu(server.pid) - cpu0;
    debugSplit("relay", server.pid, split0);
    const delivered = total - base;
    return {
      relayDeliveredMB: delivered / MB,
      relayCpu: cpu,
      relayMBperCpu: delivered / MB / cpu,
      relayShare: delivered / (published * players),
      relayMBps: delivered / MB / wall,
      relayPlayersLeft: clients.filter((c) => c.closedWith === null).length,
    };
  } finally {
    for (const c of clients) c.destroy();
  }
}

/** A publisher pacing a clip in real time, video frames stamped with a sequence number. */
class PacedPublisher {
  readonly #pub: BenchPublisher;
  readonly #clip: Clip;
  /** Send times, shared with the probe worker. */
  readonly shared: ProbeShared & { sab: SharedArrayBuffer } = probeShared();
  nextSeq = 0;
  #stopped = false;
  readonly done: Promise<void>;

  constructor(pub: BenchPublisher, clip: Clip) {
    this.#pub = pub;
    this.#clip = clip;
    this.done = this.#run();
    this.done.catch(() => {});
  }

  async #run(): Promise<void> {
    const pub = this.#pub;
    for (const h of this.#clip.headers) pub.queue(h.type, h.timestamp, h.data);
    pub.flush();
    const start = now();
    let offset = 0;
    while (!this.#stopped) {
      for (const tag of this.#clip.media) {
        if (this.#stopped) break;
        const due = start + offset + tag.timestamp;
        const wait = due - now();
        if (wait > 0.5) await sleep(wait);
        if (pub.closedWith) throw new Error(`paced publisher: ${pub.closedWith}`);
        pub.send(tag.type, tag.timestamp + offset, this.#stamp(tag));
      }
      offset += this.#clip.durationMs;
    }
  }

  /** Video frames carry their sequence number in their last 4 bytes. */
  #stamp(tag: FlvTag): Uint8Array {
    if (tag.type !== 9) return tag.data;
    const data = tag.data.slice();
    const seq = this.nextSeq++ % PROBE_FRAMES;
    new DataView(data.buffer, data.byteOffset).setUint32(data.length - 4, seq);
    this.shared.sendTimes[seq] = now();
    return data;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.done.catch(() => {});
    this.#pub.destroy();
  }
}

/**
 * One player's tally of the measurement window: adds it to `kept` and returns what to call with
 * each video frame's sequence number and arrival time.
 */
function windowCounter(
  shared: ProbeShared,
  kept: Array<{ got: number; worst: number }>,
): (seq: number, at: number) => void {
  const me = { got: 0, worst: 0 };
  kept.push(me);
  return (seq, at) => {
    if (seq < shared.window[0] || seq >= shared.window[1]) return;
    const lat = at - shared.sendTimes[seq];
    me.got++;
    if (lat > me.worst) me.worst = lat;
  };
}

/** Debug view: each probe's median latency, in join order (env RTMP_BENCH_DEBUG). */
function latencyByProbe(r: ProbeResult): void {
  const by: number[][] = [];
  r.latencies.forEach((lat, i) => (by[r.probes[i]] ??= []).push(lat));
  const medians = by.map((l) => percentile(Float64Array.from(l).sort(), 0.5).toFixed(2));
  console.error(`  probe p50 in join order (ms): ${medians.join(" ")}`);
}

/** Debug view: latency percentiles per second of the window (env RTMP_BENCH_DEBUG). */
function latencyBySecond(r: ProbeResult, seq0: number, clip: Clip): void {
  const fps = clip.media.filter((t) => t.type === 9).length / (clip.durationMs / 1000);
  const buckets = new Map<number, number[]>();
  r.latencies.forEach((lat, i) => {
    const s = Math.floor((r.seqs[i] - seq0) / fps);
    if (!buckets.has(s)) buckets.set(s, []);
    buckets.get(s)!.push(lat);
  });
  for (const [s, lats] of [...buckets].sort((a, b) => a[0] - b[0])) {
    const sorted = Float64Array.from(lats).sort();
    console.error(
      `  second ${s}: p50 ${percentile(sorted, 0.5).toFixed(2)} p99 ${
        percentile(sorted, 0.99).toFixed(1)
      } max ${sorted[sorted.length - 1].toFixed(1)} ms`,
    );
  }
}

function seqOf(payload: Uint8Array): number {
  return new DataView(payload.buffer, payload.byteOffset).getUint32(payload.length - 4);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2
    ? s[s.length >> 1]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Figures 5 and 6 on one server: a publisher of the 600 kbit/s clip paced in real time; first
 * `joiners` late joiners (staggered so they land at different points of the GOP) measure
 * player setup (TCP connect → `NetStream.Play.Start`) and `play` → first keyframe; then
 * `players` players join and, once all play, a `seconds` window measures server CPU %, peak RSS,
 * the share of players that got every frame sent in the window within 1 s, and delivery latency
 * (arrival − send of each video frame) p50/p99.
 */
export async function realtime(
  server: RunningServer,
  clip: Clip,
  joiners: number,
  players: number,
  seconds: number,
): Promise<Figures> {
  const pub = await BenchPublisher.open({ port: server.port }, server.app, "rt");
  const paced = new PacedPublisher(pub, clip);
  const clients: BenchClient[] = [];
  try {
    // Two seconds of media first, so a GOP cache (if any) holds a whole GOP.
    await sleep(2200);
    const setup: number[] = [];
    const toKey: number[] = [];
    let firstVideoNotKey = 0;
    await Promise.all(Array.from({ length: joiners }, async (_, i) => {
      await sleep(i * 211);
      let firstVideo = true;
      let resolveKey!: (t: number) => void;
      const key = new Promise<number>((r) => resolveKey = r);
      const o = await player(server, "rt", 1000 + i);
      o.client.onMedia = (m, at) => {
        if (m.type !== 9 || (m.payload[1] === 0 && (m.payload[0] & 0x0f) === 7)) return;
        if (firstVideo && !isVideoKeyframe(m.payload)) firstVideoNotKey++;
        firstVideo = false;
        if (isVideoKeyframe(m.payload)) resolveKey(at);
      };
      try {
        const started = await withTimeout(o.started, 10_000, "late joiner: Play.Start");
        const keyAt = await withTimeout(key, 10_000, "late joiner: keyframe");
        setup.push(started - o.tcp);
        toKey.push(keyAt - o.playSent);
      } finally {
        o.client.destroy();
      }
    }));

    // The realtime players: a few latency probes in a worker thread, the rest here.
    const probes = Math.min(PROBES, players);
    const { worker, next } = probeWorker({
      port: server.port,
      app: server.app,
      name: "rt",
      sab: paced.shared.sab,
    });
    const window = paced.shared.window;
    const kept: Array<{ got: number; worst: number }> = [];
    try {
      await withTimeout(next("ready"), 30_000, "realtime: probe worker");
      await joinWithProbes(players, probes, worker, next, async (i) => {
        const o = await player(server, "rt", i);
        const arrived = windowCounter(paced.shared, kept);
        o.client.onMedia = (m, at) => {
          if (m.type !== 9 || m.payload.length < 9 || m.payload[1] !== 1) return;
          arrived(seqOf(m.payload), at);
        };
        clients.push(o.client);
        await withTimeout(o.started, 30_000, "realtime: Play.Start");
      });
      await sleep(1000); // GOP bursts of the joins drain
      const sampler = new RssSampler(server.pid, 100);
      const cpu0 = cpuSeconds(server.pid);
      const split0 = cpuSplit(server.pid);
      const t0 = now();
      const seq0 = paced.nextSeq;
      Atomics.store(window, 1, 0x7fffffff);
      Atomics.store(window, 0, seq0);
      await sleep(seconds * 1000);
      const cpu = cpuSeconds(server.pid) - cpu0;
      debugSplit("realtime", server.pid, split0);
      const wall = (now() - t0) / 1000;
      const rss = sampler.stop();
      const seq1 = paced.nextSeq;
      Atomics.store(window, 1, seq1);
      await sleep(700); // frames of the window still in flight
      const result = next("result");
      worker.postMessage({ type: "finish" });
      const probed = await withTimeout(result, 10_000, "realtime: probe results");
      const frames = seq1 - seq0;
      const all = [
        ...kept,
        ...probed.got.map((got, i) => ({ got, worst: probed.worst[i] })),
      ];
      const keptUp = all.filter((k) => k.got === frames && k.worst < 1000).length;
      const sorted = Float64Array.from(probed.latencies).sort();
      if (process.env.RTMP_BENCH_DEBUG) {
        latencyBySecond(probed, seq0, clip);
        latencyByProbe(probed);
      }
      return {
        joinSetupMs: median(setup),
        joinToKeyframeMs: median(toKey),
        joinFirstVideoNotKey: firstVideoNotKey,
        rtCpuPct: cpu / wall * 100,
        rtRssMB: rss / MB,
        rtKeptUpShare: keptUp / players,
        rtP50Ms: percentile(sorted, 0.5),
        rtP99Ms: percentile(sorted, 0.99),
        rtPlayersLeft: clients.filter((c) => c.closedWith === null).length + probed.connected,
      };
    } finally {
      await worker.terminate();
    }
  } finally {
    for (const c of clients) c.destroy();
    await paced.stop();
  }
}

/** Starts the probe worker and returns a waiter for its messages. */
function probeWorker(
  data: Record<string, unknown>,
): { worker: Worker; next: (type: string) => Promise<ProbeResult> } {
  const worker = new Worker(new URL("./probe_worker.ts", import.meta.url), { workerData: data });
  const next = (type: string): Promise<ProbeResult> =>
    new Promise((resolve, reject) => {
      const done = (): void => {
        worker.off("message", on);
        worker.off("error", failed);
      };
      const failed = (e: Error): void => {
        done();
        reject(e);
      };
      const on = (m: ProbeResult & { type: string; message?: string }): void => {
        if (m.type === "error") failed(new Error(`probe worker: ${m.message}`));
        else if (m.type === type) {
          done();
          resolve(m);
        }
      };
      worker.on("message", on);
      worker.on("error", failed);
    });
  return { worker, next };
}

/**
 * Opens `count` players: `count − probes` here with `openMain(i)` (50 at a time, each resolving
 * once it plays) and the probe worker's `probes` between them, probe k after
 * (k + ½)·(count − probes)/probes of ours. Servers serve their players in join order (ours,
 * node-media-server) or newest first (nginx-rtmp prepends to its list); probes that all joined
 * last would measure the last or the first of every wave, not the median player.
 */
async function joinWithProbes(
  count: number,
  probes: number,
  worker: Worker,
  next: (type: string) => Promise<ProbeResult>,
  openMain: (i: number) => Promise<void>,
): Promise<void> {
  const mains = count - probes;
  let done = 0;
  const upTo = async (end: number): Promise<void> => {
    const base = done;
    await pool(end - base, 50, (j) => openMain(base + j));
    done = end;
  };
  for (let k = 0; k < probes; k++) {
    await upTo(Math.floor((k + 0.5) * mains / probes));
    const opened = next("opened");
    worker.postMessage({ type: "open", index: k });
    await withTimeout(opened, 30_000, `probe ${k}: play`);
  }
  await upTo(mains);
}

/**
 * HTTP-FLV figure: the realtime figure's paced publisher of the 600 kbit/s clip (over RTMP)
 * and `viewers` HTTP-FLV viewers of `/live/hf.flv` (`node:http` GETs; a few latency probes in
 * the probe worker); once all have their response, a `seconds` window measures server CPU %,
 * peak RSS, the share of viewers that got every frame sent in the window within 1 s, and
 * delivery latency (arrival − send of each video frame) p50/p99.
 */
export async function httpflv(
  server: RunningServer,
  clip: Clip,
  viewers: number,
  seconds: number,
): Promise<Figures> {
  const httpPort = server.httpPort;
  if (httpPort === undefined) throw new Error("httpflv: the server serves no HTTP-FLV");
  const pub = await BenchPublisher.open({ port: server.port }, server.app, "hf");
  const paced = new PacedPublisher(pub, clip);
  const opened: ReturnType<typeof openHttpViewer>[] = [];
  try {
    await sleep(2200);
    const probes = Math.min(PROBES, viewers);
    const { worker, next } = probeWorker({
      port: server.port,
      httpPort,
      app: server.app,
      name: "hf",
      sab: paced.shared.sab,
    });
    const window = paced.shared.window;
    const kept: Array<{ got: number; worst: number }> = [];
    try {
      await withTimeout(next("ready"), 30_000, "httpflv: probe worker");
      await joinWithProbes(viewers, probes, worker, next, async (i) => {
        const v = openHttpViewer({
          port: httpPort,
          path: `/${server.app}/hf.flv`,
          localAddress: source(i),
        });
        opened.push(v);
        v.onVideo = windowCounter(paced.shared, kept);
        await withTimeout(v.started, 30_000, "httpflv: response");
      });
      await sleep(1000); // GOP bursts of the joins drain
      const sampler = new RssSampler(server.pid, 100);
      const cpu0 = cpuSeconds(server.pid);
      const split0 = cpuSplit(server.pid);
      const t0 = now();
      const seq0 = paced.nextSeq;
      Atomics.store(window, 1, 0x7fffffff);
      Atomics.store(window, 0, seq0);
      await sleep(seconds * 1000);
      const cpu = cpuSeconds(server.pid) - cpu0;
      debugSplit("httpflv", server.pid, split0);
      const wall = (now() - t0) / 1000;
      const rss = sampler.stop();
      const seq1 = paced.nextSeq;
      Atomics.store(window, 1, seq1);
      await sleep(700); // frames of the window still in flight
      const result = next("result");
      worker.postMessage({ type: "finish" });
      const probed = await withTimeout(result, 10_000, "httpflv: probe results");
      const frames = seq1 - seq0;
      const all = [...kept, ...probed.got.map((got, i) => ({ got, worst: probed.worst[i] }))];
      const keptUp = all.filter((k) => k.got === frames && k.worst < 1000).length;
      const sorted = Float64Array.from(probed.latencies).sort();
      if (process.env.RTMP_BENCH_DEBUG) latencyByProbe(probed);
      return {
        hfCpuPct: cpu / wall * 100,
        hfRssMB: rss / MB,
        hfKeptUpShare: keptUp / viewers,
        hfP50Ms: percentile(sorted, 0.5),
        hfP99Ms: percentile(sorted, 0.99),
        hfViewersLeft: opened.filter((v) => v.closedWith === null).length + probed.connected,
      };
    } finally {
      await worker.terminate();
    }
  } finally {
    for (const v of opened) v.destroy();
    await paced.stop();
  }
}

/**
 * Figure 7: one fast publisher (720p clip looped to `bytes`) and one player that stops reading
 * right after `play`: the server's peak RSS, and how far above its idle RSS it went.
 */
export async function stalled(server: RunningServer, clip: Clip, bytes: number): Promise<Figures> {
  await sleep(300);
  const rss0 = rssBytes(server.pid);
  const o = await player(server, "stall", 0);
  o.client.stall();
  await sleep(100);
  const sampler = new RssSampler(server.pid, 50);
  try {
    const pub = await BenchPublisher.open({ port: server.port }, server.app, "stall");
    const t0 = now();
    await publishFast(pub, clip, bytes);
    await withTimeout(pub.finish(), 120_000, "stalled: server closing the publisher");
    const wall = (now() - t0) / 1000;
    await sleep(300);
    const peak = sampler.stop();
    // A paused socket does not notice that the server closed it: read again and see whether
    // the connection ends once the bytes buffered in the kernel are drained.
    o.client.socket.resume();
    const dropped = await Promise.race([o.client.closed.then(() => 1), sleep(1500).then(() => 0)]);
    return {
      stallPeakRssMB: peak / MB,
      stallGrowthMiB: (peak - rss0) / MIB,
      stallPublisherMBps: pub.bytesOut / MB / wall,
      stallPlayerDropped: dropped,
    };
  } finally {
    sampler.stop();
    o.client.destroy();
  }
}

/**
 * Control for figure 7: the same fast publish with no player at all, so the RSS growth that
 * ingest alone causes (garbage not yet collected) can be told from what the stalled player adds.
 */
export async function ingestOnlyRss(
  server: RunningServer,
  clip: Clip,
  bytes: number,
): Promise<Figures> {
  await sleep(400);
  const rss0 = rssBytes(server.pid);
  const sampler = new RssSampler(server.pid, 50);
  try {
    const pub = await BenchPublisher.open({ port: server.port }, server.app, "stall");
    await publishFast(pub, clip, bytes);
    await withTimeout(pub.finish(), 120_000, "ingest-only: server closing the publisher");
    await sleep(300);
    return { noPlayerGrowthMiB: (sampler.stop() - rss0) / MIB };
  } finally {
    sampler.stop();
  }
}
