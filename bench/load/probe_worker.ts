/**
 * Latency probes of the realtime figure, in a worker thread of the load generator: a few of
 * the players live here so that their arrival times are not delayed by the main thread reading
 * the hundreds of other players' sockets (which would put the load generator's own fan-out in
 * the figure). Send times and the measurement window come through a SharedArrayBuffer written
 * by the publisher in the main thread (see {@linkcode ProbeShared}).
 *
 * Messages: the worker posts `{ type: "ready" }` once every probe has `NetStream.Play.Start`,
 * then on `{ type: "finish" }` posts `{ type: "result", latencies, seqs, got, worst, connected }`
 * (per frame: latency and sequence number; per probe: frames, worst latency) and exits;
 * `{ type: "error", message }` on failure.
 *
 * @module
 */

import { parentPort, workerData } from "node:worker_threads";
import { type HttpViewer, openHttpViewer } from "./http_viewer.ts";
import { now, type OpenedPlayer, openPlayer } from "./rtmp_conn.ts";

/** Views of the buffer shared with the publisher. */
export interface ProbeShared {
  /** `[seq0, seq1)`: the frames of the measurement window (seq1 = 2^31−1 while it runs). */
  window: Int32Array;
  /** Send time of each video frame, by sequence number (shared clock, ms). */
  sendTimes: Float64Array;
}

/** Frames the shared buffer has room for (43 min at 25 fps). */
export const PROBE_FRAMES = 1 << 16;

/**
 * Creates or wraps the shared buffer.
 *
 * @param sab An existing buffer (in the worker), or none to create one.
 * @returns The buffer and its views.
 */
export function probeShared(sab?: SharedArrayBuffer): ProbeShared & { sab: SharedArrayBuffer } {
  const buffer = sab ?? new SharedArrayBuffer(8 + 8 * PROBE_FRAMES);
  const window = new Int32Array(buffer, 0, 2);
  if (!sab) {
    window[0] = 0x7fffffff;
    window[1] = 0x7fffffff;
  }
  return { sab: buffer, window, sendTimes: new Float64Array(buffer, 8, PROBE_FRAMES) };
}

/** What the main thread passes as `workerData`. */
export interface ProbeOptions {
  port: number;
  app: string;
  name: string;
  probes: number;
  sab: SharedArrayBuffer;
  /** HTTP-FLV port: the probes are HTTP-FLV viewers of `/APP/NAME.flv` instead of RTMP players. */
  httpPort?: number;
}

function seqOf(payload: Uint8Array): number {
  return new DataView(payload.buffer, payload.byteOffset).getUint32(payload.length - 4);
}

async function main(options: ProbeOptions): Promise<void> {
  const shared = probeShared(options.sab);
  const latencies: number[] = [];
  const seqs: number[] = [];
  const got: number[] = [];
  const worst: number[] = [];
  if (options.httpPort !== undefined) return await http(options, shared);
  const players: OpenedPlayer[] = [];
  for (let i = 0; i < options.probes; i++) {
    const o = await openPlayer(
      { port: options.port, localAddress: `127.0.1.${2 + i}` },
      options.app,
      options.name,
    );
    got.push(0);
    worst.push(0);
    o.client.onMedia = (m, at) => {
      if (m.type !== 9 || m.payload.length < 9 || m.payload[1] !== 1) return;
      const seq = seqOf(m.payload);
      if (seq < Atomics.load(shared.window, 0) || seq >= Atomics.load(shared.window, 1)) return;
      const lat = at - shared.sendTimes[seq];
      latencies.push(lat);
      seqs.push(seq);
      got[i]++;
      if (lat > worst[i]) worst[i] = lat;
    };
    players.push(o);
    // Spread the probes over the join order of the other players.
    await new Promise((r) => setTimeout(r, 40));
  }
  await Promise.all(players.map((p) => p.started));
  parentPort!.postMessage({ type: "ready" });
  parentPort!.on("message", (m: { type: string }) => {
    if (m.type !== "finish") return;
    const connected = players.filter((p) => p.client.closedWith === null).length;
    for (const p of players) p.client.destroy();
    parentPort!.postMessage({ type: "result", latencies, seqs, got, worst, connected, at: now() });
    parentPort!.close();
  });
}

/** The same probes as HTTP-FLV viewers. */
async function http(options: ProbeOptions, shared: ProbeShared): Promise<void> {
  const latencies: number[] = [];
  const seqs: number[] = [];
  const got: number[] = [];
  const worst: number[] = [];
  const viewers: HttpViewer[] = [];
  for (let i = 0; i < options.probes; i++) {
    const v = openHttpViewer({
      port: options.httpPort!,
      path: `/${options.app}/${options.name}.flv`,
      localAddress: `127.0.1.${2 + i}`,
    });
    got.push(0);
    worst.push(0);
    v.onVideo = (seq, at) => {
      if (seq < Atomics.load(shared.window, 0) || seq >= Atomics.load(shared.window, 1)) return;
      const lat = at - shared.sendTimes[seq];
      latencies.push(lat);
      seqs.push(seq);
      got[i]++;
      if (lat > worst[i]) worst[i] = lat;
    };
    viewers.push(v);
    await new Promise((r) => setTimeout(r, 40));
  }
  await Promise.all(viewers.map((v) => v.started));
  parentPort!.postMessage({ type: "ready" });
  parentPort!.on("message", (m: { type: string }) => {
    if (m.type !== "finish") return;
    const connected = viewers.filter((v) => v.closedWith === null).length;
    for (const v of viewers) v.destroy();
    parentPort!.postMessage({ type: "result", latencies, seqs, got, worst, connected, at: now() });
    parentPort!.close();
  });
}

if (parentPort) {
  main(workerData as ProbeOptions).catch((e) =>
    parentPort!.postMessage({ type: "error", message: (e as Error).message })
  );
}
