/**
 * Pull throughput from a real nginx-rtmp: RtmpPlayer on this runtime side by side with
 * `ffmpeg -i rtmp://… -c copy -f null -` in the same run, in two setups:
 *
 * - vod: nginx-rtmp's play module serving an FLV file, with a Set Buffer Length of 2^31−1 ms
 *   so nginx sends as fast as the client reads (ffmpeg: `-rtmp_buffer 2147483647`). The client
 *   is the bottleneck: this is its throughput.
 * - live: nginx-rtmp relaying an ffmpeg publish of the same file, sent as fast as ffmpeg can
 *   (no `-re`). Throughput is bounded by the publisher; MB per client CPU-second still shows
 *   the cost per byte.
 *
 * MB/s is payload bytes over wall time (ours: from `play()` to the last packet, in process;
 * ffmpeg: from spawn to exit, so it includes its process start). CPU is the client's user +
 * system time: `process.cpuUsage()` for ours, `ffmpeg -benchmark` (utime + stime) for ffmpeg.
 *
 *   deno run -A bench/pull_bench.ts | bun bench/pull_bench.ts | node bench/pull_bench.ts
 *
 * Options (env): PULL_BENCH_SECONDS (media length, default 30), PULL_BENCH_RUNS (default 3),
 * PULL_BENCH_SIZE (WxH, default 1920x1080).
 */
import { spawn } from "node:child_process";
import { basename, dirname } from "node:path";
import process from "node:process";
import { RtmpClient } from "../client.ts";
import {
  hasCommand,
  makeTestFlv,
  nginxRtmpModulePath,
  type NginxRtmp,
  startNginxRtmp,
} from "../tests/support/peers.ts";

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
if (!hasCommand("ffmpeg") || !nginxRtmpModulePath()) {
  console.log("pull_bench: needs ffmpeg and nginx with the rtmp module; skipped");
  process.exit(0);
}
const seconds = Number(process.env.PULL_BENCH_SECONDS ?? 30);
const runs = Number(process.env.PULL_BENCH_RUNS ?? 3);
const [width, height] = (process.env.PULL_BENCH_SIZE ?? "1920x1080").split("x").map(Number);
const file = await makeTestFlv({ seconds, width, height, fps: 30 });
const BUFFER_MS = 0x7fffffff;

interface Run {
  bytes: number;
  wallMs: number;
  cpuMs: number;
}

async function pullOurs(url: string, vod: boolean, start?: () => Promise<unknown>): Promise<Run> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const player = await RtmpClient.play(url, vod ? { bufferLength: BUFFER_MS } : {});
  const feeding = start?.();
  let bytes = 0;
  for await (const packet of player) bytes += packet.payload.length;
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await feeding;
  return { bytes, wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function ffmpeg(args: string[]): { done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn("ffmpeg", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    stderr = (stderr + d).slice(-16_384);
  });
  return {
    done: new Promise((resolve) => child.once("close", (code) => resolve({ code, stderr }))),
  };
}

async function pullFfmpeg(url: string, vod: boolean, start?: () => Promise<unknown>): Promise<Run> {
  const t0 = performance.now();
  const run = ffmpeg([
    ...["-hide_banner", "-nostdin", "-benchmark", "-loglevel", "info"],
    ...(vod ? ["-rtmp_buffer", String(BUFFER_MS)] : []),
    ...["-i", url, "-c", "copy", "-f", "null", "-"],
  ]);
  const feeding = start?.();
  const { code, stderr } = await run.done;
  const wallMs = performance.now() - t0;
  await feeding;
  if (code !== 0) throw new Error(`ffmpeg pull failed (${code}):\n${stderr}`);
  // "video:18345KiB audio:160KiB …" (older: kB) and "bench: utime=0.420s stime=0.080s rtime=…".
  const kib = (kind: string): number =>
    Number(new RegExp(`${kind}:(\\d+)(?:KiB|kB)`).exec(stderr)?.[1] ?? NaN);
  const bench = /bench: utime=([\d.]+)s stime=([\d.]+)s/.exec(stderr);
  if (!bench) throw new Error(`no -benchmark line from ffmpeg:\n${stderr}`);
  return {
    bytes: (kib("video") + kib("audio")) * 1024,
    wallMs,
    cpuMs: (Number(bench[1]) + Number(bench[2])) * 1000,
  };
}

async function publish(nginx: NginxRtmp, key: string): Promise<void> {
  await nginx.waitForPlay(key);
  const { code, stderr } = await ffmpeg([
    ...["-hide_banner", "-loglevel", "error", "-nostdin", "-i", file, "-c", "copy"],
    ...["-f", "flv", nginx.url("live", key)],
  ]).done;
  if (code !== 0) throw new Error(`ffmpeg publish failed (${code}):\n${stderr}`);
}

const nginx = await startNginxRtmp({ vod: { app: "vod", dir: dirname(file) } });
const results: Record<string, { ours: Run[]; ffmpeg: Run[] }> = {
  vod: { ours: [], ffmpeg: [] },
  live: { ours: [], ffmpeg: [] },
};
try {
  const vodUrl = `rtmp://127.0.0.1:${nginx.port}/vod/${basename(file)}`;
  for (let i = 0; i < runs; i++) {
    results.vod.ours.push(await pullOurs(vodUrl, true));
    results.vod.ffmpeg.push(await pullFfmpeg(vodUrl, true));
    results.live.ours.push(
      await pullOurs(nginx.url("live", `o${i}`), false, () => publish(nginx, `o${i}`)),
    );
    results.live.ffmpeg.push(
      await pullFfmpeg(nginx.url("live", `f${i}`), false, () => publish(nginx, `f${i}`)),
    );
  }
} finally {
  await nginx.stop();
}

const mbps = (r: Run): number => r.bytes / 1e6 / (r.wallMs / 1000);
const mbPerCpu = (r: Run): number => r.bytes / 1e6 / (r.cpuMs / 1000);
const best = (list: Run[], f: (r: Run) => number): number => Math.max(...list.map(f));
const size = results.vod.ours[0].bytes / 1e6;
console.log(
  `pull from nginx-rtmp: ${width}x${height} ${seconds} s, ${size.toFixed(1)} MB of payload, ` +
    `best of ${runs} (${runtime})`,
);
console.log(
  `  ${"setup".padEnd(6)} ${"client".padEnd(36)} ${"MB/s".padStart(8)} ${
    "MB/CPU-s".padStart(9)
  }`,
);
for (const setup of ["vod", "live"] as const) {
  const r = results[setup];
  const rows: Array<[string, Run[]]> = [
    [`RtmpPlayer (${runtime})`, r.ours],
    ["ffmpeg -i rtmp://… -c copy -f null -", r.ffmpeg],
  ];
  for (const [name, list] of rows) {
    console.log(
      `  ${setup.padEnd(6)} ${name.padEnd(36)} ${best(list, mbps).toFixed(1).padStart(8)} ${
        best(list, mbPerCpu).toFixed(1).padStart(9)
      }`,
    );
  }
  console.log(
    `  ${setup.padEnd(6)} ratio RtmpPlayer / ffmpeg: ${
      (best(r.ours, mbps) / best(r.ffmpeg, mbps)).toFixed(2)
    }× MB/s, ${(best(r.ours, mbPerCpu) / best(r.ffmpeg, mbPerCpu)).toFixed(2)}× MB/CPU-s`,
  );
}
