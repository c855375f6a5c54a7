/**
 * Server bench: our RtmpServer on Deno, Bun and Node 24 against node-media-server 4.4.3 and
 * nginx-rtmp (one process) in the same run, driven by the same load generator (this process,
 * Node 24, raw RTMP connections built from the library's sans-IO pieces; see bench/load/).
 * Prints one table of medians over the runs, the ratios to both peers, and the targets of
 * issues 10 and 14.
 *
 * ```sh
 * bash bench/run.sh server                      # or: npm run bench:server
 * node_modules/.bin/node bench/server_bench.ts [--runs 3] [--only ingest,ingest128,idle,relay,realtime,stalled,stalled-control,httpflv]
 *     [--targets deno,bun,node,nms,nginx] [--json results.json]
 * ```
 *
 * Each figure of each run starts a fresh server process; runs rotate the order of the servers.
 * Server CPU is utime + stime (process and children) from `/proc/PID/stat`, RSS is `VmRSS`.
 * Sizes (env): `RTMP_BENCH_INGEST_MB` (default 1500), `RTMP_BENCH_INGEST128_MB` (300, the ingest
 * in FFmpeg's 128-byte chunks), `RTMP_BENCH_RELAY_MB` (35, the 720p clip
 * 1.5 times, to each of 100 players), `RTMP_BENCH_STALL_MB` (230), `RTMP_BENCH_IDLE` (`1000,10000`),
 * `RTMP_BENCH_RT_SECONDS` (20), `RTMP_BENCH_RT_PLAYERS` (500), `RTMP_BENCH_HF_SECONDS` (15),
 * `RTMP_BENCH_HF_VIEWERS` (500; HTTP-FLV viewers, not run on nginx-rtmp, which has none). The media is generated once
 * with ffmpeg into a cache folder (see bench/load/media.ts). Diagnostics (env):
 * `RTMP_BENCH_DEBUG=1` prints the realtime latency per second and each latency probe's median in
 * join order (which shows the order a server serves its players in) and each figure's server CPU
 * split into user and system time, `RTMP_BENCH_ADAPTER=node`
 * runs our server on the `node:net` adapter, `RTMP_BENCH_SERVER_FLAGS` adds runtime flags to our
 * server (e.g. `--cpu-prof` on Node). `--help` prints the flags.
 *
 * @module
 */

import { writeFile } from "node:fs/promises";
import process from "node:process";
import { benchArgs, positiveFlag } from "./load/args.ts";
import { CLIP_600K, CLIP_720P, loadClip } from "./load/media.ts";
import {
  type Figures,
  httpflv,
  idle,
  ingest,
  ingestOnlyRss,
  realtime,
  relay,
  stalled,
} from "./load/scenarios.ts";
import { type RunningServer, type Target, TARGETS } from "./load/targets.ts";

const opts = benchArgs(
  {
    options: {
      runs: { type: "string", default: "3" },
      only: { type: "string" },
      targets: { type: "string" },
      json: { type: "string" },
    },
  },
  `usage: node_modules/.bin/node bench/server_bench.ts [--runs N] [--only FIGURES] [--targets SERVERS]
       [--json FILE]
  --runs N          runs of every figure; the table shows medians (default 3)
  --only FIGURES    ingest,ingest128,idle,relay,realtime,stalled,stalled-control,httpflv (default all)
  --targets SERVERS deno,bun,node,nms,nginx (default all)
  --json FILE       also write every run's figures to FILE`,
);

function envNumber(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!(n > 0)) throw new Error(`${name}: expected a positive number, got ${v}`);
  return n;
}

const RUNS = positiveFlag("runs", opts.runs, { integer: true });
const INGEST_BYTES = envNumber("RTMP_BENCH_INGEST_MB", 1500) * 1e6;
const INGEST128_BYTES = envNumber("RTMP_BENCH_INGEST128_MB", 300) * 1e6;
const RELAY_BYTES = envNumber("RTMP_BENCH_RELAY_MB", 35) * 1e6;
const STALL_BYTES = envNumber("RTMP_BENCH_STALL_MB", 230) * 1e6;
const RT_SECONDS = envNumber("RTMP_BENCH_RT_SECONDS", 20);
const RT_PLAYERS = envNumber("RTMP_BENCH_RT_PLAYERS", 500);
const HF_SECONDS = envNumber("RTMP_BENCH_HF_SECONDS", 15);
const HF_VIEWERS = envNumber("RTMP_BENCH_HF_VIEWERS", 500);
const RELAY_PLAYERS = 100;
const JOINERS = 10;
const IDLE_COUNTS = (process.env.RTMP_BENCH_IDLE ?? "1000,10000").split(",").map(Number);

const SHORT: Record<string, string> = {
  "ours deno": "deno",
  "ours bun": "bun",
  "ours node": "node",
  "node-media-server": "nms",
  "nginx-rtmp": "nginx",
};

const clip720 = await loadClip(CLIP_720P);
const clip600 = await loadClip(CLIP_600K);

interface Group {
  name: string;
  run(server: RunningServer): Promise<Figures>;
  /** Needs HTTP-FLV: started with `{ http: true }`; targets without it are left out. */
  http?: boolean;
}

const GROUPS: Group[] = [
  { name: "ingest", run: (s) => ingest(s, clip720, INGEST_BYTES) },
  // FFmpeg publishes in 128-byte chunks and has no option to change it (rtmpproto.c).
  { name: "ingest128", run: (s) => ingest(s, clip720, INGEST128_BYTES, 128) },
  { name: "idle", run: (s) => idle(s, IDLE_COUNTS) },
  { name: "relay", run: (s) => relay(s, clip720, RELAY_PLAYERS, RELAY_BYTES) },
  { name: "realtime", run: (s) => realtime(s, clip600, JOINERS, RT_PLAYERS, RT_SECONDS) },
  { name: "stalled", run: (s) => stalled(s, clip720, STALL_BYTES) },
  { name: "stalled-control", run: (s) => ingestOnlyRss(s, clip720, STALL_BYTES) },
  { name: "httpflv", run: (s) => httpflv(s, clip600, HF_VIEWERS, HF_SECONDS), http: true },
];

const only = opts.only?.split(",");
const wanted = opts.targets?.split(",");
for (
  const [flag, given, known] of [
    ["only", only, GROUPS.map((g) => g.name)],
    ["targets", wanted, Object.values(SHORT)],
  ] as const
) {
  const unknown = given?.filter((name) => !(known as readonly string[]).includes(name)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(`--${flag}: unknown ${unknown.join(", ")} (known: ${known.join(",")})\n`);
    process.exit(2);
  }
}
const groups = GROUPS.filter((g) => !only || only.includes(g.name));
const targets: Target[] = TARGETS.filter((t) =>
  t.available() && (!wanted || wanted.includes(SHORT[t.label]))
);
for (const t of TARGETS) if (!t.available()) console.error(`skipped (not installed): ${t.label}`);

/** metric → target label → values over runs. */
const results = new Map<string, Map<string, number[]>>();
const errors: string[] = [];
const started = performance.now();

function record(label: string, figures: Figures): void {
  for (const [k, v] of Object.entries(figures)) {
    if (!results.has(k)) results.set(k, new Map());
    const row = results.get(k)!;
    if (!row.has(label)) row.set(label, []);
    row.get(label)!.push(v);
  }
}

function brief(f: Figures): string {
  return Object.entries(f).map(([k, v]) => `${k}=${fmt(v)}`).join(" ");
}

console.error(
  `server bench: ${RUNS} runs of [${groups.map((g) => g.name).join(", ")}] on ` +
    `[${targets.map((t) => t.label).join(", ")}]; 720p clip ${
      (clip720.fileBytes / 1e6).toFixed(1)
    } MB, ` +
    `600k clip ${(clip600.fileBytes / 1e6).toFixed(1)} MB`,
);
for (let run = 0; run < RUNS; run++) {
  for (const group of groups) {
    for (let k = 0; k < targets.length; k++) {
      const target = targets[(k + run) % targets.length];
      // nginx-rtmp has no HTTP-FLV.
      if (group.http && target.label === "nginx-rtmp") continue;
      const t0 = performance.now();
      let server: RunningServer | null = null;
      try {
        server = await target.start({ http: group.http });
        const figures = await group.run(server);
        if (!server.alive()) throw new Error(`server exited:\n${server.stderr()}`);
        record(target.label, figures);
        console.error(
          `[run ${run + 1}/${RUNS} ${group.name} ${target.label} ${
            ((performance.now() - t0) / 1000).toFixed(1)
          } s] ${brief(figures)}`,
        );
      } catch (e) {
        const msg = `run ${run + 1} ${group.name} ${target.label}: ${(e as Error).message}`;
        errors.push(msg);
        console.error(`[error] ${msg}`);
      } finally {
        await server?.stop();
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function median(values: number[] | undefined): number {
  if (!values || values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

const med = (metric: string, label: string): number => median(results.get(metric)?.get(label));

interface Row {
  title: string;
  metric: string;
  /** `up`: higher is better; `down`: lower is better; `info`: context only. */
  better: "up" | "down" | "info";
  scale?: number;
}

const idleRows: Row[] = IDLE_COUNTS.flatMap((n, i) => [
  {
    title: `idle: KB RSS per connection (${n.toLocaleString("en-US")})`,
    metric: `idleKBperConn@${n}`,
    better: "down" as const,
  },
  ...(i === 0 ? [] : [{
    title: `idle: KB RSS per connection from ${IDLE_COUNTS[0].toLocaleString("en-US")} to ${
      n.toLocaleString("en-US")
    } (each one more)`,
    metric: `idleKBmarginal@${n}`,
    better: "down" as const,
  }, {
    title: `idle: connections still open (${n.toLocaleString("en-US")})`,
    metric: `idleOpen@${n}`,
    better: "info" as const,
  }]),
]);
const ALL_ROWS: Row[] = [
  { title: "ingest: MB per server CPU-s", metric: "ingestMBperCpu", better: "up" },
  { title: "ingest: MB/s (wall)", metric: "ingestMBps", better: "info" },
  {
    title: "ingest, 128-byte chunks (FFmpeg's): MB per server CPU-s",
    metric: "ingest128MBperCpu",
    better: "up",
  },
  { title: "ingest, 128-byte chunks: MB/s (wall)", metric: "ingest128MBps", better: "info" },
  { title: "server RSS at start, no connection (MB)", metric: "startRssMB", better: "info" },
  ...idleRows,
  { title: "accept: CPU s per 1,000 connections", metric: "acceptCpuPer1000", better: "down" },
  ...IDLE_COUNTS.slice(1).map((n) => ({
    title: `accept: CPU s per 1,000 (while opening ${n.toLocaleString("en-US")})`,
    metric: `acceptCpuPer1000@${n}`,
    better: "down" as const,
  })),
  {
    title: `relay 1→${RELAY_PLAYERS}: MB delivered per CPU-s`,
    metric: "relayMBperCpu",
    better: "up",
  },
  {
    title: "relay: share of published bytes delivered (%)",
    metric: "relayShare",
    better: "info",
    scale: 100,
  },
  {
    title: `relay: players still connected (of ${RELAY_PLAYERS})`,
    metric: "relayPlayersLeft",
    better: "info",
  },
  { title: `realtime ${RT_PLAYERS}: server CPU %`, metric: "rtCpuPct", better: "down" },
  { title: `realtime ${RT_PLAYERS}: peak RSS MB`, metric: "rtRssMB", better: "down" },
  {
    title: `realtime ${RT_PLAYERS}: players that kept up (%)`,
    metric: "rtKeptUpShare",
    better: "up",
    scale: 100,
  },
  { title: `realtime ${RT_PLAYERS}: latency p50 ms`, metric: "rtP50Ms", better: "down" },
  { title: `realtime ${RT_PLAYERS}: latency p99 ms`, metric: "rtP99Ms", better: "down" },
  {
    title: `realtime ${RT_PLAYERS}: players still connected`,
    metric: "rtPlayersLeft",
    better: "info",
  },
  { title: `HTTP-FLV ${HF_VIEWERS}: server CPU %`, metric: "hfCpuPct", better: "down" },
  { title: `HTTP-FLV ${HF_VIEWERS}: peak RSS MB`, metric: "hfRssMB", better: "down" },
  {
    title: `HTTP-FLV ${HF_VIEWERS}: viewers that kept up (%)`,
    metric: "hfKeptUpShare",
    better: "up",
    scale: 100,
  },
  { title: `HTTP-FLV ${HF_VIEWERS}: latency p50 ms`, metric: "hfP50Ms", better: "down" },
  { title: `HTTP-FLV ${HF_VIEWERS}: latency p99 ms`, metric: "hfP99Ms", better: "down" },
  {
    title: `HTTP-FLV ${HF_VIEWERS}: viewers still connected`,
    metric: "hfViewersLeft",
    better: "info",
  },
  { title: "late joiner: play → first keyframe ms", metric: "joinToKeyframeMs", better: "down" },
  { title: "player setup: TCP connect → Play.Start ms", metric: "joinSetupMs", better: "down" },
  {
    title: `late joiners whose first video frame was not a keyframe (of ${JOINERS})`,
    metric: "joinFirstVideoNotKey",
    better: "info",
  },
  { title: "stalled player: server peak RSS MB", metric: "stallPeakRssMB", better: "down" },
  { title: "stalled player: RSS growth MiB", metric: "stallGrowthMiB", better: "down" },
  { title: "same publish, no player: RSS growth MiB", metric: "noPlayerGrowthMiB", better: "info" },
  { title: "stalled player: publisher MB/s", metric: "stallPublisherMBps", better: "info" },
  {
    title: "stalled player: disconnected by server (runs)",
    metric: "stallPlayerDropped",
    better: "info",
  },
];
const ROWS = ALL_ROWS.filter((r) => results.has(r.metric));

const labels = targets.map((t) => t.label);
const ours = labels.filter((l) => l.startsWith("ours"));
const peers = labels.filter((l) => !l.startsWith("ours"));

function cell(row: Row, label: string): string {
  const values = results.get(row.metric)?.get(label);
  // nginx-rtmp has no HTTP-FLV: the httpflv figure is not run on it.
  if (row.metric.startsWith("hf") && label === "nginx-rtmp") return "n/a";
  if (!values || values.length === 0) return "err";
  const v = median(values) * (row.scale ?? 1);
  if (row.metric === "stallPlayerDropped") {
    return `${values.filter((x) => x > 0).length}/${values.length}`;
  }
  return values.length < RUNS ? `${fmt(v)} (${values.length} runs)` : fmt(v);
}

const lines: string[] = [];
const ratioHeads = peers.flatMap((p) => ours.map((o) => `${SHORT[o]}/${SHORT[p]}`));
lines.push(`| figure (median of ${RUNS}) | ${[...labels, ...ratioHeads].join(" | ")} |`);
lines.push(`|---|${[...labels, ...ratioHeads].map(() => "---:").join("|")}|`);
for (const row of ROWS) {
  const ratios = peers.flatMap((p) =>
    ours.map((o) => {
      if (row.better === "info") return "";
      const r = med(row.metric, o) / med(row.metric, p);
      return Number.isFinite(r) ? `${r.toFixed(2)}×` : "–";
    })
  );
  const arrow = row.better === "up" ? " ↑" : row.better === "down" ? " ↓" : "";
  const cells = [...labels.map((l) => cell(row, l)), ...ratios];
  lines.push(`| ${row.title}${arrow} | ${cells.join(" | ")} |`);
}

// Targets of issues 10 and 14, per runtime.
const NMS = "node-media-server";
const NGINX = "nginx-rtmp";
const HARD_QUEUE_MIB = 24;
interface Goal {
  text: string;
  /** The figure it needs (the goal is left out when that figure was not run). */
  metric: string;
  check(label: string): boolean;
}
const goals: Goal[] = [
  {
    text: "ingest ≥ 1.3× nginx-rtmp (MB per CPU-s), 4 KiB chunks (OBS)",
    metric: "ingestMBperCpu",
    check: (l) => med("ingestMBperCpu", l) / med("ingestMBperCpu", NGINX) >= 1.3,
  },
  {
    text: "ingest ≥ 1.3× nginx-rtmp (MB per CPU-s), 128-byte chunks (FFmpeg)",
    metric: "ingest128MBperCpu",
    check: (l) => med("ingest128MBperCpu", l) / med("ingest128MBperCpu", NGINX) >= 1.3,
  },
  ...IDLE_COUNTS.map((n) => ({
    text: `idle ≤ 8 KB RSS per connection (${n})`,
    metric: `idleKBperConn@${n}`,
    check: (l: string) => med(`idleKBperConn@${n}`, l) <= 8,
  })),
  {
    text: "accept ≤ 1.5× nginx-rtmp CPU",
    metric: "acceptCpuPer1000",
    check: (l) => med("acceptCpuPer1000", l) / med("acceptCpuPer1000", NGINX) <= 1.5,
  },
  {
    text: "relay ≥ 2× node-media-server (MB per CPU-s)",
    metric: "relayMBperCpu",
    check: (l) => med("relayMBperCpu", l) / med("relayMBperCpu", NMS) >= 2,
  },
  { text: "realtime CPU ≤ 15 %", metric: "rtCpuPct", check: (l) => med("rtCpuPct", l) <= 15 },
  { text: "realtime RSS ≤ 60 MB", metric: "rtRssMB", check: (l) => med("rtRssMB", l) <= 60 },
  { text: "realtime p50 ≤ 2 ms", metric: "rtP50Ms", check: (l) => med("rtP50Ms", l) <= 2 },
  {
    text: "realtime: every player keeps up",
    metric: "rtKeptUpShare",
    check: (l) => results.get("rtKeptUpShare")?.get(l)?.every((v) => v === 1) ?? false,
  },
  {
    text: "HTTP-FLV CPU ≤ 0.5× node-media-server's (issue 16)",
    metric: "hfCpuPct",
    check: (l) => med("hfCpuPct", l) / med("hfCpuPct", NMS) <= 0.5,
  },
  {
    text: "late joiner: play → keyframe ≤ 10 ms",
    metric: "joinToKeyframeMs",
    check: (l) => med("joinToKeyframeMs", l) <= 10,
  },
  { text: "player setup ≤ 5 ms", metric: "joinSetupMs", check: (l) => med("joinSetupMs", l) <= 5 },
  {
    text:
      `stalled player adds ≤ ${HARD_QUEUE_MIB} MiB RSS (its hard queue bound) over the same publish without a player`,
    metric: "stallGrowthMiB",
    check: (l) => med("stallGrowthMiB", l) - med("noPlayerGrowthMiB", l) <= HARD_QUEUE_MIB,
  },
];

lines.push("");
lines.push(`| target (issues 10, 14) | ${ours.join(" | ")} |`);
lines.push(`|---|${ours.map(() => ":---:").join("|")}|`);
for (const g of goals) {
  if (!results.has(g.metric)) continue;
  const cells = ours.map((l) => g.check(l) ? "met" : "**not met**");
  lines.push(`| ${g.text} | ${cells.join(" | ")} |`);
}

console.log("");
console.log(
  `Server bench, ${RUNS} runs, ${((performance.now() - started) / 60000).toFixed(1)} min; ` +
    `ingest ${(INGEST_BYTES / 1e6).toFixed(0)} MB per run (${
      (INGEST128_BYTES / 1e6).toFixed(0)
    } MB in 128-byte chunks), relay ${(RELAY_BYTES / 1e6).toFixed(0)} MB ` +
    `to each of ${RELAY_PLAYERS} players, realtime ${RT_PLAYERS} players for ${RT_SECONDS} s, ` +
    `${JOINERS} late joiners, stalled ${(STALL_BYTES / 1e6).toFixed(0)} MB, ` +
    `HTTP-FLV ${HF_VIEWERS} viewers for ${HF_SECONDS} s. ` +
    `Ratios are ours/peer (↑ higher is better, ↓ lower is better).`,
);
console.log(lines.join("\n"));
if (errors.length > 0) {
  console.log("\nErrors:");
  for (const e of errors) console.log(`- ${e}`);
}
if (opts.json) {
  const out: Record<string, Record<string, number[]>> = {};
  for (const [k, row] of results) out[k] = Object.fromEntries(row);
  await writeFile(opts.json, JSON.stringify({ runs: RUNS, results: out, errors }, null, 2));
}
process.exit(errors.length > 0 ? 1 : 0);
