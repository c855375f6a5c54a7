// The hostile-memory harness shared by tests/hostile_server_test.ts and
// bench/hostile_rss_bench.ts: our server in its own process (tests/support/hostile_server.ts)
// with its /proc memory and its own counters at hand, and the attack bytes of issue 13 §1.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { ChunkEncoder } from "../../protocol/chunk_encoder.ts";
import { setChunkSizeMessage } from "../../protocol/control.ts";
import { MessageType } from "../../protocol/message.ts";
import { type RunningScript, type Runtime, startScript, stopScript } from "./runtime.ts";
import { concat } from "./util.ts";

const MiB = 1 << 20;
/** The largest length a chunk header can announce (24 bits): "16 MiB". */
export const BIG = 0xffffff;

/** `n` bytes in MiB with one decimal, for logs. */
export const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;

/** The server in a child process. */
export interface ChildServer {
  script: RunningScript;
  port: number;
  url(key: string): string;
  memory(field: "VmRSS" | "VmHWM"): number;
  /** Resets VmHWM to the current VmRSS; false where the kernel does not allow it. */
  resetPeak(): boolean;
  /** Connections and partial bytes the server holds now; bytes its pools hold from the system. */
  stats(): Promise<{ connections: number; partialBytes: number; poolHeld: number }>;
  /** The child's own view of its memory (process.memoryUsage()), in MiB, for the log. */
  mem(): Promise<string>;
  /** Resolves with the path and tag count once the recording of `key` is complete. */
  recorded(key: string, timeoutMs?: number): Promise<{ path: string; tags: number }>;
  stop(): Promise<void>;
}

/** How to start {@linkcode startChild}. */
export interface ChildOptions {
  /** Added to the child's environment. */
  env?: Record<string, string>;
  /** Removed from the child's environment (e.g. an inherited `MALLOC_MMAP_THRESHOLD_`). */
  unsetEnv?: string[];
  /** The child's runtime (default: the current one). */
  runtime?: Runtime;
}

let statsId = 0;

/**
 * Starts tests/support/hostile_server.ts with `config` (see the top of that file: `limits`,
 * `record`, `recordKeys`, `duplicatePublish`) and waits until it listens.
 */
export async function startChild(
  config: Record<string, unknown>,
  options: ChildOptions = {},
): Promise<ChildServer> {
  const script = startScript("tests/support/hostile_server.ts", [JSON.stringify(config)], {
    stdin: "pipe",
    env: options.env,
    unsetEnv: options.unsetEnv,
    runtime: options.runtime,
  });
  const port = Number((await script.waitFor(/listening (\d+)/))[1]);
  const proc = `/proc/${script.child.pid}`;
  return {
    script,
    port,
    url: (key) => `rtmp://127.0.0.1:${port}/live/${key}`,
    memory(field) {
      const m = readFileSync(`${proc}/status`, "utf8").match(new RegExp(`${field}:\\s+(\\d+) kB`));
      assert.ok(m, `${field} in ${proc}/status`);
      return Number(m[1]) * 1024;
    },
    resetPeak() {
      try {
        writeFileSync(`${proc}/clear_refs`, "5");
        return true;
      } catch {
        return false;
      }
    },
    async stats() {
      const id = ++statsId;
      script.child.stdin!.write(`stats ${id}\n`);
      const m = await script.waitFor(new RegExp(`stats ${id} (\\d+) \\d+ (\\d+) (\\d+)`), 5000);
      return { connections: Number(m[1]), partialBytes: Number(m[2]), poolHeld: Number(m[3]) };
    },
    async mem() {
      const id = ++statsId;
      script.child.stdin!.write(`mem ${id}\n`);
      const m = await script.waitFor(new RegExp(`mem ${id} (.*)`), 5000);
      return m[1].replace(/=(\d+)/g, (_, n) => `=${mib(Number(n))}`);
    },
    async recorded(key, timeoutMs = 30_000) {
      const escaped = key.replaceAll("/", "\\/");
      const m = await script.waitFor(new RegExp(`recorded ${escaped} (\\S+) (\\d+)`), timeoutMs);
      return { path: m[1], tags: Number(m[2]) };
    },
    async stop() {
      assert.equal(await stopScript(script), 0, script.stderr().slice(-4000));
    },
  };
}

/** A fmt 0 chunk header announcing a message of `length` bytes on `csid` (2..63). */
export function announce(csid: number, length: number, type: number, streamId: number): Uint8Array {
  return Uint8Array.from([
    csid,
    0,
    0,
    0,
    (length >>> 16) & 0xff,
    (length >>> 8) & 0xff,
    length & 0xff,
    type,
    streamId & 0xff,
    (streamId >>> 8) & 0xff,
    (streamId >>> 16) & 0xff,
    streamId >>> 24,
  ]);
}

/**
 * Set Chunk Size 64 KiB, then the first half of a 16 MiB video message on stream 1 (chunk
 * stream 6): one buffer shared by every attacker (their chunk state is the same). The 16 MiB
 * header starts at byte 16 (after the 16-byte Set Chunk Size).
 */
export function halfOfBigMessage(): Uint8Array {
  const enc = new ChunkEncoder();
  const scs = enc.encode(2, setChunkSizeMessage(65536));
  enc.setChunkSize(65536);
  const whole = enc.encode(6, {
    type: MessageType.Video,
    streamId: 1,
    timestamp: 0,
    payload: new Uint8Array(BIG),
  });
  const half = 12 + 8 * MiB + 127; // fmt 0 header, 128 chunks of 64 KiB, 127 fmt 3 headers
  const out = new Uint8Array(scs.length + half);
  out.set(scs);
  out.set(whole.subarray(0, half), scs.length);
  return out;
}

/**
 * Headers only: 16 MiB messages announced on 60 chunk streams, not one payload byte. Note that
 * a chunk parser reads the bytes after the first header as that message's first chunk, so the
 * server sees one partial message whose "payload" is the other headers, then garbage (a protocol
 * error); {@linkcode headersWithFirstChunk} makes it hold 60 partial messages instead.
 */
export function headersOnly(): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let csid = 4; csid < 64; csid++) parts.push(announce(csid, BIG, 9, 1));
  const out = new Uint8Array(parts.length * 12);
  parts.forEach((p, i) => out.set(p, i * 12));
  return out;
}

/**
 * Headers with the least payload that keeps them headers: Set Chunk Size `chunkSize`, then on
 * chunk streams 4..63 a fmt 0 header announcing a 16 MiB video message on stream 1 followed by
 * its first chunk only (RTMP 1.0 §5.3.1: the next header may come only after a whole chunk).
 * With the default 46, that is the issue's ~3.5 KB (60 × (12 + 46) bytes) for 60 messages the
 * server holds begun, each in a pool block of its own.
 */
export function headersWithFirstChunk(chunkSize = 46): Uint8Array {
  const enc = new ChunkEncoder();
  const scs = enc.encode(2, setChunkSizeMessage(chunkSize));
  const parts: Uint8Array[] = [scs];
  for (let csid = 4; csid < 64; csid++) {
    parts.push(announce(csid, BIG, MessageType.Video, 1), new Uint8Array(chunkSize).fill(0x17));
  }
  return concat(parts);
}
