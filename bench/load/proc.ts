/**
 * Server CPU and memory from Linux `/proc`: CPU is utime + stime of the process and of its
 * children (exited ones through cutime + cstime, live ones walked through
 * `/proc/PID/task/TID/children`), RSS is `VmRSS` of `/proc/PID/status`.
 *
 * @module
 */

import { readFileSync } from "node:fs";

/** Clock ticks per second of `/proc/PID/stat` times (USER_HZ, 100 on every Linux build in use). */
const USER_HZ = 100;

function statFields(pid: number): string[] | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // Field 2 (comm) is in parentheses and may contain spaces: split after the last ')'.
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/);
  } catch {
    return out;
  }
  for (const t of tasks) if (t !== "") out.push(Number(t));
  return out;
}

/**
 * CPU seconds used so far by a process and its descendants.
 *
 * @param pid Process id.
 * @returns Seconds (10 ms resolution).
 */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  if (f === null) return NaN;
  // After the comm field: index 0 is field 3 (state), so utime (14) is index 11.
  let ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  for (const child of childrenOf(pid)) {
    const c = cpuSeconds(child);
    if (Number.isFinite(c)) ticks += c * USER_HZ;
  }
  return ticks / USER_HZ;
}

/**
 * Kernel share of the CPU a process (not its children) used so far: a diagnostic that tells
 * system-call cost (the same for every server reading the same bytes) from userland cost.
 *
 * @param pid Process id.
 * @returns `[user, system]` seconds.
 */
export function cpuSplit(pid: number): [number, number] {
  const f = statFields(pid);
  if (f === null) return [NaN, NaN];
  return [Number(f[11]) / USER_HZ, Number(f[12]) / USER_HZ];
}

/**
 * Resident memory of a process and its live descendants.
 *
 * @param pid Process id.
 * @returns Bytes (`VmRSS`).
 */
export function rssBytes(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return NaN;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  let bytes = m ? Number(m[1]) * 1024 : 0;
  for (const child of childrenOf(pid)) {
    const c = rssBytes(child);
    if (Number.isFinite(c)) bytes += c;
  }
  return bytes;
}

/** Samples RSS periodically and keeps the peak. */
export class RssSampler {
  readonly #pid: number;
  readonly #timer: ReturnType<typeof setInterval>;
  peak = 0;

  /**
   * @param pid Process to watch.
   * @param intervalMs Sampling period.
   */
  constructor(pid: number, intervalMs = 50) {
    this.#pid = pid;
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Takes one sample now. @returns The RSS. */
  sample(): number {
    const r = rssBytes(this.#pid);
    if (r > this.peak) this.peak = r;
    return r;
  }

  /** Stops sampling. @returns The peak. */
  stop(): number {
    clearInterval(this.#timer);
    this.sample();
    return this.peak;
  }
}
