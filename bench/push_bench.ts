/**
 * Push throughput: the same FLV pushed as fast as possible to a real nginx-rtmp, once with
 * RtmpClient on this runtime and once with `ffmpeg -i FILE -c copy -f flv URL` (no `-re`), in
 * the same run. Reports MB/s for both and the ratio; the ffmpeg time includes its process start.
 *
 *   deno run -A bench/push_bench.ts | bun bench/push_bench.ts | node bench/push_bench.ts
 *
 * Options (env): PUSH_BENCH_SECONDS (media length, default 20), PUSH_BENCH_RUNS (default 3).
 */
import { stat } from "node:fs/promises";
import process from "node:process";
import { RtmpClient } from "../client.ts";
import { FlvFileReader } from "../flv/file.ts";
import type { FlvTag } from "../protocol/flv.ts";
import {
  ffmpegPublish,
  hasCommand,
  makeTestFlv,
  nginxRtmpModulePath,
  startNginxRtmp,
} from "../tests/support/peers.ts";

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
if (!hasCommand("ffmpeg") || !nginxRtmpModulePath()) {
  console.log("push_bench: needs ffmpeg and nginx with the rtmp module; skipped");
  process.exit(0);
}
const seconds = Number(process.env.PUSH_BENCH_SECONDS ?? 20);
const runs = Number(process.env.PUSH_BENCH_RUNS ?? 3);
const file = await makeTestFlv({ seconds, width: 1280, height: 720, fps: 30 });
const size = (await stat(file)).size;
const tags: FlvTag[] = [];
{
  await using reader = await FlvFileReader.open(file);
  for await (const tag of reader) tags.push(tag);
}

const nginx = await startNginxRtmp();
const results: { ours: number[]; ffmpeg: number[] } = { ours: [], ffmpeg: [] };
try {
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    const client = await RtmpClient.connect(nginx.url("live", `ours${i}`));
    for (const tag of tags) await client.sendFlvTag(tag);
    await client.close();
    results.ours.push(performance.now() - t);

    t = performance.now();
    const r = await ffmpegPublish(file, nginx.url("live", `ffmpeg${i}`), { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
    results.ffmpeg.push(performance.now() - t);
  }
} finally {
  await nginx.stop();
}

const best = (xs: number[]): number => Math.min(...xs);
const mbps = (ms: number): number => size / 1e6 / (ms / 1000);
const ours = mbps(best(results.ours));
const ffmpeg = mbps(best(results.ffmpeg));
console.log(
  `push to nginx-rtmp: ${(size / 1e6).toFixed(1)} MB FLV (${tags.length} tags), best of ${runs}`,
);
console.log(`  ${"pusher".padEnd(28)} ${"MB/s".padStart(8)}`);
console.log(`  ${`RtmpClient (${runtime})`.padEnd(28)} ${ours.toFixed(1).padStart(8)}`);
console.log(`  ${"ffmpeg -c copy -f flv".padEnd(28)} ${ffmpeg.toFixed(1).padStart(8)}`);
console.log(`  ratio RtmpClient / ffmpeg: ${(ours / ffmpeg).toFixed(2)}`);
