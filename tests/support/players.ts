// Real RTMP players as child processes (rtmpdump, GStreamer, ffprobe…) with a deadline, their
// output kept as a bounded tail, and a kill at test-process exit. Works on Deno, Bun and Node.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import process from "node:process";

/** How a player process ended. */
export interface PeerResult {
  /** Exit code, or `null` when it ended by a signal. */
  code: number | null;
  /** The signal that ended it, or `null`. */
  signal: string | null;
  /** Last 64 KiB of stdout + stderr. */
  output: string;
  /** Whether the deadline killed it. */
  timedOut: boolean;
}

/** A running player process. */
export interface PeerRun {
  /** Resolves when the process has exited; never rejects. */
  done: Promise<PeerResult>;
  /** Sends a signal (default SIGTERM) if it is still running. */
  kill(signal?: "SIGTERM" | "SIGINT" | "SIGKILL"): void;
  /** Whether it has exited. */
  exited(): boolean;
}

const running = new Set<ChildProcess>();
let hooked = false;

function killAll(): void {
  for (const c of running) {
    try {
      c.kill("SIGKILL");
    } catch {
      // Gone already.
    }
  }
  running.clear();
}

/**
 * Starts `cmd args` with stdin closed; SIGKILLed at `timeoutMs` or at test-process exit.
 * @param cmd Executable.
 * @param args Arguments.
 * @param timeoutMs Deadline (default 30 s).
 * @returns The running process.
 */
export function runPeer(cmd: string, args: string[], timeoutMs = 30_000): PeerRun {
  if (!hooked) {
    hooked = true;
    process.on("exit", killAll);
    const g = globalThis as { addEventListener?: (t: string, l: () => void) => void };
    g.addEventListener?.("unload", killAll);
  }
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  let output = "";
  const append = (d: unknown): void => {
    output += String(d);
    if (output.length > 128 << 10) output = output.slice(-(64 << 10));
  };
  child.stdout!.on("data", append);
  child.stderr!.on("data", append);
  let finished = false;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  const done = new Promise<PeerResult>((resolve) => {
    child.once("error", (e) => {
      append(`[players] cannot start ${cmd}: ${e.message}\n`);
    });
    child.once("close", (code, signal) => {
      finished = true;
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, output: output.slice(-(64 << 10)), timedOut });
    });
  });
  return {
    done,
    kill: (signal = "SIGTERM") => {
      // By pid: Deno's child.kill() reports the signal as the cause even when handled.
      if (!finished && child.pid !== undefined) {
        try {
          process.kill(child.pid, signal);
        } catch {
          // Gone already.
        }
      }
    },
    exited: () => finished,
  };
}

/**
 * Whether GStreamer has an element (`gst-inspect-1.0 --exists NAME`).
 * @param name Element name, e.g. `rtmp2src`.
 * @returns `true` when installed.
 */
export function hasGstElement(name: string): boolean {
  const r = spawnSync("gst-inspect-1.0", ["--exists", name], { stdio: "ignore" });
  return r.status === 0;
}
