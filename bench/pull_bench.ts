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
 * MB/s is payload bytes received over wall time (ours: from `play()` to the last packet, in
 * process; ffmpeg: from spawn to exit, so it includes its process start and stream probing).
 * CPU is the client's user + system time: `process.cpuUsage()` around the pull for ours; for
 * ffmpeg its whole process (getrusage of the child, through bash's `times`) minus the same for
 * pulling a one-second 160x120 file, so its start-up, connect and probing are not counted.
 *
 *   deno run -A bench/pull_bench.ts | bun bench/pull_bench.ts | node bench/pull_bench.ts
 *
 * One untimed pull first warms the JIT up (a pull client runs for hours; ffmpeg has no warm-up).
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
  type NginxRtmp,
  nginxRtmpModulePath,
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
const tiny = await makeTestFlv({ seconds: 1, width: 160, height: 120, fps: 30 });
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

/** Runs ffmpeg under bash, whose `times` then prints the child's CPU time on stderr. */
function ffmpeg(args: string[]): { done: Promise<{ code: number | null; stderr: string }> } {
  const script = 'ffmpeg "$@"; s=$?; times >&2; exit $s';
  const child = spawn("bash", ["-c", script, "bash", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
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
    ...["-hide_banner", "-nostdin", "-loglevel", "info"],
    ...(vod ? ["-rtmp_buffer", String(BUFFER_MS)] : []),
    ...["-i", url, "-c", "copy", "-f", "null", "-"],
  ]);
  const feeding = start?.();
  const { code, stderr } = await run.done;
  const wallMs = performance.now() - t0;
  await feeding;
  if (code !== 0) throw new Error(`ffmpeg pull failed (${code}):\n${stderr}`);
  // "video:18345KiB audio:160KiB …" (older: kB); `times`: shell, then children, user and sys.
  const kib = (kind: string): number =>
    Number(new RegExp(`${kind}:(\\d+)(?:KiB|kB)`).exec(stderr)?.[1] ?? NaN);
  const times = [...stderr.matchAll(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/g)].at(-1);
  if (!times) throw new Error(`no CPU times for ffmpeg:\n${stderr}`);
  const sec = (m: string, x: string): number => Number(m) * 60 + Number(x);
  return {
    bytes: (kib("video") + kib("audio")) * 1024,
    wallMs,
    cpuMs: (sec(times[1], times[2]) + sec(times[3], times[4])) * 1000,
  };
}

async function publish(nginx: NginxRtmp, key: string, waitForPlayer: boolean): Promise<void> {
  // Our player is attached once play() resolved (nginx joins it before Play.Start); ffmpeg's is
  // found in nginx's log, polled here while ffmpeg (another process) runs.
  if (waitForPlayer) await nginx.waitForPlay(key);
  const { code, stderr } = await ffmpeg([
    ...["-hide_banner", "-loglevel", "error", "-nostdin", "-i", file, "-c", "copy"],
    ...["-f", "flv", nginx.url("live", key)],
  ]).done;
  if (code !== 0) throw new Error(`ffmpeg publish failed (${code}):\n${stderr}`);
}

if (dirname(tiny) !== dirname(file)) throw new Error("pull_bench: expected one media folder");
const nginx = await startNginxRtmp({ vod: { app: "vod", dir: dirname(file) } });
let baseline = 0;
const results: Record<string, { ours: Run[]; ffmpeg: Run[] }> = {
  vod: { ours: [], ffmpeg: [] },
  live: { ours: [], ffmpeg: [] },
};
try {
  const vodUrl = `rtmp://127.0.0.1:${nginx.port}/vod/${basename(file)}`;
  await pullOurs(vodUrl, true);
  // ffmpeg's fixed cost (start-up, connect, probing), subtracted from its runs below.
  const tinyUrl = `rtmp://127.0.0.1:${nginx.port}/vod/${basename(tiny)}`;
  const fixed: number[] = [];
  for (let i = 0; i < 3; i++) fixed.push((await pullFfmpeg(tinyUrl, true)).cpuMs);
  baseline = Math.min(...fixed);
  for (let i = 0; i < runs; i++) {
    results.vod.ours.push(await pullOurs(vodUrl, true));
    results.vod.ffmpeg.push(await pullFfmpeg(vodUrl, true));
    results.live.ours.push(
      await pullOurs(nginx.url("live", `o${i}`), false, () => publish(nginx, `o${i}`, false)),
    );
    results.live.ffmpeg.push(
      await pullFfmpeg(nginx.url("live", `f${i}`), false, () => publish(nginx, `f${i}`, true)),
    );
  }
} finally {
  await nginx.stop();
}

const mbps = (r: Run): number => r.bytes / 1e6 / (r.wallMs / 1000);
const mbPerCpu = (r: Run): number => r.bytes / 1e6 / (r.cpuMs / 1000);
for (const setup of ["vod", "live"] as const) {
  for (const r of results[setup].ffmpeg) r.cpuMs = Math.max(r.cpuMs - baseline, 1);
}
const best = (list: Run[], f: (r: Run) => number): number => Math.max(...list.map(f));
const size = results.vod.ours[0].bytes / 1e6;
console.log(
  `pull from nginx-rtmp: ${width}x${height} ${seconds} s, ${size.toFixed(1)} MB of payload, ` +
    `best of ${runs} (${runtime}); ffmpeg's fixed ${baseline.toFixed(0)} ms CPU subtracted`,
);
console.log(
  `  ${"setup".padEnd(6)} ${"client".padEnd(36)} ${"MB/s".padStart(8)} ${"MB/CPU-s".padStart(9)}`,
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
