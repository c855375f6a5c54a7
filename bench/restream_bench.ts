/**
 * Restream CPU: one 720p30 publisher (ffmpeg -re) relayed to 1, 5 and 20 destinations on a sink
 * nginx-rtmp (one application per destination), once by `cli.ts serve --push …` on this runtime
 * and once by nginx-rtmp's own `push` directive, in the same run. The relay's CPU time is taken
 * over the publish, from ffmpeg's start until the sink has seen every destination disconnect,
 * in nanoseconds per thread (/proc/PID/task/TID/schedstat; nginx-rtmp is so cheap that the
 * 10 ms ticks of /proc/PID/stat barely see it). Each relay is a fresh process per run; a run
 * without destinations gives the ingest's own cost, so the cost per destination is
 * (CPU(N) − CPU(0)) / N.
 *
 *   deno run -A bench/restream_bench.ts | bun bench/restream_bench.ts | node bench/restream_bench.ts
 *
 * Options (env): RESTREAM_BENCH_SECONDS (media length, default 15), RESTREAM_BENCH_COUNTS
 * (default "1,5,20").
 */
import { stat } from "node:fs/promises";
import process from "node:process";
import { ffmpegPublish, hasCommand, makeTestFlv, waitFor } from "../tests/support/peers.ts";
import {
  cpuBetween,
  cpuSample,
  type Nginx,
  nginxAvailable,
  startNginx,
} from "../tests/support/nginx.ts";
import { currentRuntime, startScript, stopScript } from "../tests/support/runtime.ts";

if (!hasCommand("ffmpeg") || !nginxAvailable()) {
  console.log("restream_bench: needs ffmpeg and nginx with the rtmp module; skipped");
  process.exit(0);
}
const seconds = Number(process.env.RESTREAM_BENCH_SECONDS ?? 15);
const counts = (process.env.RESTREAM_BENCH_COUNTS ?? "1,5,20").split(",").map(Number);
const most = Math.max(...counts);
const file = await makeTestFlv({ seconds, width: 1280, height: 720, fps: 30 });
const mbit = (await stat(file)).size * 8 / 1e6 / seconds;

/** One application per destination on the sink. */
const sink = await startNginx({
  rtmp: () =>
    Array.from({ length: most }, (_, i) => `application dst${i + 1} { live on; }`).join("\n"),
});
const sinkUrl = (i: number): string => `rtmp://127.0.0.1:${sink.port}/dst${i + 1}`;

/** Occurrences of `needle` in the sink's log. */
async function sinkCount(needle: string): Promise<number> {
  return (await sink.logs()).split(needle).length - 1;
}

/** Publishes the clip through a relay and returns the relay's CPU seconds and the wall time. */
async function measure(
  pid: number,
  url: string,
  destinations: number,
): Promise<{ cpu: number; wall: number }> {
  const disconnects = await sinkCount(" disconnect");
  const before = await cpuSample(pid);
  const t = performance.now();
  const r = await ffmpegPublish(file, url, { realtime: true, timeoutMs: seconds * 1000 + 60_000 });
  if (r.code !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
  await waitFor(async () => (await sinkCount(" disconnect")) >= disconnects + destinations, {
    what: `${destinations} destination(s) done at the sink`,
    timeoutMs: 30_000,
  });
  const wall = (performance.now() - t) / 1000;
  return { cpu: cpuBetween(before, await cpuSample(pid)), wall };
}

async function ours(n: number): Promise<{ cpu: number; wall: number }> {
  const pushes = Array.from({ length: n }, (_, i) => ["--push", `${sinkUrl(i)}/{name}`]).flat();
  const serve = startScript("cli.ts", ["serve", "--listen", "127.0.0.1:0", ...pushes]);
  try {
    const port = (await serve.waitFor(/listening on rtmp:\/\/127\.0\.0\.1:(\d+)/))[1];
    const result = await measure(serve.child.pid!, `rtmp://127.0.0.1:${port}/live/cam`, n);
    // Each destination's last log line says what it sent and dropped: all of it, none.
    const done = /: stopped \(the source ended\): (\d+) packets sent, (\d+) dropped/g;
    await waitFor(() => [...serve.stderr().matchAll(done)].length === n, {
      what: `${n} destination(s) stopped`,
    });
    for (const [line, , dropped] of serve.stderr().matchAll(done)) {
      if (dropped !== "0") throw new Error(`a destination dropped packets: ${line}`);
    }
    return result;
  } finally {
    await stopScript(serve);
  }
}

async function nginxPush(n: number): Promise<{ cpu: number; wall: number }> {
  const pushes = Array.from({ length: n }, (_, i) => `push ${sinkUrl(i)};`).join(" ");
  const relay: Nginx = await startNginx({ rtmp: () => `application live { live on; ${pushes} }` });
  try {
    return await measure(relay.pid, relay.url("live", "cam"), n);
  } finally {
    await relay.stop();
  }
}

const rows: Array<{ n: number; ours: number; nginx: number }> = [];
try {
  for (const n of [0, ...counts]) {
    // CPU as a share of one core over the publish.
    const a = await ours(n);
    const b = await nginxPush(n);
    rows.push({ n, ours: a.cpu / a.wall * 100, nginx: b.cpu / b.wall * 100 });
  }
} finally {
  await sink.stop();
}

const runtime = currentRuntime();
const base = rows[0];
const cell = (v: number, w: number): string => v.toFixed(2).padStart(w);
console.log(
  `restream of one 720p30 stream (${mbit.toFixed(1)} Mbit/s, ${seconds} s, ffmpeg -re) to ` +
    `nginx-rtmp destinations; relay CPU in % of one core over the publish`,
);
console.log(
  `  ${"dest".padStart(4)} ${`serve (${runtime})`.padStart(14)} ${"nginx push".padStart(11)}` +
    ` ${"ours/dest".padStart(10)} ${"nginx/dest".padStart(11)} ${"ratio".padStart(6)}`,
);
for (const r of rows) {
  const perOurs = r.n === 0 ? NaN : (r.ours - base.ours) / r.n;
  const perNginx = r.n === 0 ? NaN : (r.nginx - base.nginx) / r.n;
  console.log(
    `  ${String(r.n).padStart(4)} ${cell(r.ours, 14)} ${cell(r.nginx, 11)} ` +
      `${r.n === 0 ? "-".padStart(10) : cell(perOurs, 10)} ` +
      `${r.n === 0 ? "-".padStart(11) : cell(perNginx, 11)} ` +
      // nginx's cost of a destination or two is within its own run-to-run noise.
      `${r.n === 0 || perNginx < 0.005 ? "-".padStart(6) : cell(perOurs / perNginx, 6)}`,
  );
}
