/**
 * Latency probes of the realtime figure, in a worker thread of the load generator: a few of
 * the players live here so that their arrival times are not delayed by the main thread reading
 * the hundreds of other players' sockets (which would put the load generator's own fan-out in
 * the figure). Send times and the measurement window come through a SharedArrayBuffer written
 * by the publisher in the main thread (see {@linkcode ProbeShared}).
 *
 * Messages: the worker posts `{ type: "ready" }` once it listens; on `{ type: "open", index }` it
 * opens probe `index` and posts `{ type: "opened", index }` once it plays (`NetStream.Play.Start`,
 * or the HTTP response); on `{ type: "finish" }` it posts
 * `{ type: "result", latencies, seqs, probes, got, worst, connected }` (per frame: latency,
 * sequence number and probe; per probe: frames, worst latency) and exits; `{ type: "error", message }` on failure.
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
  sab: SharedArrayBuffer;
  /** HTTP-FLV port: the probes are HTTP-FLV viewers of `/APP/NAME.flv` instead of RTMP players. */
  httpPort?: number;
}

function seqOf(payload: Uint8Array): number {
  return new DataView(payload.buffer, payload.byteOffset).getUint32(payload.length - 4);
}

/** One probe: whether it is still connected, and how to close it. */
interface Probe {
  connected(): boolean;
  destroy(): void;
}

function main(options: ProbeOptions): void {
  const shared = probeShared(options.sab);
  const latencies: number[] = [];
  const seqs: number[] = [];
  const who: number[] = [];
  const got: number[] = [];
  const worst: number[] = [];
  const probes: Probe[] = [];
  const arrived = (i: number, seq: number, at: number): void => {
    if (seq < Atomics.load(shared.window, 0) || seq >= Atomics.load(shared.window, 1)) return;
    const lat = at - shared.sendTimes[seq];
    latencies.push(lat);
    seqs.push(seq);
    who.push(i);
    got[i]++;
    if (lat > worst[i]) worst[i] = lat;
  };
  // Probe i joins when the main thread asks, between its own players: the probes then sit at
  // evenly spread places in the server's delivery order, whichever end it serves first.
  const open = async (i: number): Promise<void> => {
    got[i] = 0;
    worst[i] = 0;
    const localAddress = `127.0.1.${2 + i}`;
    if (options.httpPort !== undefined) {
      const v: HttpViewer = openHttpViewer({
        port: options.httpPort,
        path: `/${options.app}/${options.name}.flv`,
        localAddress,
      });
      v.onVideo = (seq, at) => arrived(i, seq, at);
      probes[i] = { connected: () => v.closedWith === null, destroy: () => v.destroy() };
      await v.started;
      return;
    }
    const o: OpenedPlayer = await openPlayer(
      { port: options.port, localAddress },
      options.app,
      options.name,
    );
    o.client.onMedia = (m, at) => {
      if (m.type !== 9 || m.payload.length < 9 || m.payload[1] !== 1) return;
      arrived(i, seqOf(m.payload), at);
    };
    probes[i] = {
      connected: () => o.client.closedWith === null,
      destroy: () => o.client.destroy(),
    };
    await o.started;
  };
  parentPort!.on("message", (m: { type: string; index?: number }) => {
    if (m.type === "open") {
      const i = m.index!;
      open(i).then(
        () => parentPort!.postMessage({ type: "opened", index: i }),
        (e) => parentPort!.postMessage({ type: "error", message: (e as Error).message }),
      );
    } else if (m.type === "finish") {
      const connected = probes.filter((p) => p.connected()).length;
      for (const p of probes) p.destroy();
      parentPort!.postMessage({
        type: "result",
        latencies,
        seqs,
        probes: who,
        got,
        worst,
        connected,
        at: now(),
      });
      parentPort!.close();
    }
  });
  parentPort!.postMessage({ type: "ready" });
}

if (parentPort) {
  try {
    main(workerData as ProbeOptions);
  } catch (e) {
    parentPort.postMessage({ type: "error", message: (e as Error).message });
  }
}
