/**
 * Ingest throughput: the same FLV published as fast as possible to our RtmpServer on this
 * runtime and to node-media-server (Node 24), in the same run, by the same publisher in a child
 * process: `node cli.ts push --fast` (about 3× faster than ffmpeg, see push_bench, so the
 * server rather than the publisher is what limits). The publisher's wall time gives MB/s.
 *
 *   deno run -A bench/ingest_bench.ts | bun bench/ingest_bench.ts | node bench/ingest_bench.ts
 *
 * Options (env): INGEST_BENCH_SECONDS (default 60), INGEST_BENCH_RUNS (default 3).
 */
import { stat } from "node:fs/promises";
import process from "node:process";
import { RtmpServer } from "../server.ts";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  hasCommand,
  hasNodeMediaServer,
  makeTestFlv,
  startNodeMediaServer,
} from "../tests/support/peers.ts";

const NODE24 = fileURLToPath(new URL("../node_modules/.bin/node", import.meta.url));
const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));

function push(file: string, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = "";
    const child = spawn(NODE24, [CLI, "push", "--fast", "--quiet", file, url], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr.on("data", (d) => stderr += d);
    child.on(
      "exit",
      (code) => code === 0 ? resolve() : reject(new Error(`push to ${url} failed: ${stderr}`)),
    );
  });
}

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
if (!hasCommand("ffmpeg") || !hasNodeMediaServer()) {
  console.log("ingest_bench: needs ffmpeg and node-media-server; skipped");
  process.exit(0);
}
const seconds = Number(process.env.INGEST_BENCH_SECONDS ?? 60);
const runs = Number(process.env.INGEST_BENCH_RUNS ?? 3);
const file = await makeTestFlv({ seconds, width: 1280, height: 720, fps: 30 });
const size = (await stat(file)).size;

let received = 0;
const server = await RtmpServer.listen({
  hostname: "127.0.0.1",
  port: 0,
  log: null,
  onSession: async (session) => {
    for await (const p of session) received += p.payload.length;
  },
});
const nms = await startNodeMediaServer();
const times = { ours: [] as number[], nms: [] as number[] };
try {
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    await push(file, `rtmp://127.0.0.1:${server.addr.port}/live/b${i}`);
    times.ours.push(performance.now() - t);
    t = performance.now();
    await push(file, nms.url("live", `b${i}`));
    times.nms.push(performance.now() - t);
  }
} finally {
  await nms.stop();
  await server.close();
}
if (received === 0) throw new Error("RtmpServer received nothing");
const mbps = (ms: number[]): number => size / 1e6 / (Math.min(...ms) / 1000);
const ours = mbps(times.ours);
const theirs = mbps(times.nms);
console.log(
  `ingest of a ${
    (size / 1e6).toFixed(1)
  } MB FLV pushed by cli.ts push --fast (node 24), best of ${runs}`,
);
console.log(`  ${"server".padEnd(32)} ${"MB/s".padStart(8)}`);
console.log(`  ${`RtmpServer (${runtime})`.padEnd(32)} ${ours.toFixed(1).padStart(8)}`);
console.log(`  ${"node-media-server 4 (node 24)".padEnd(32)} ${theirs.toFixed(1).padStart(8)}`);
console.log(`  ratio RtmpServer / node-media-server: ${(ours / theirs).toFixed(2)}`);
