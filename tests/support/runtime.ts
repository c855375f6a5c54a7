// Runs a project script as a child process on the same runtime that runs the tests.
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** One of the three runtimes the project runs on. */
export type Runtime = "deno" | "bun" | "node";

/** Which runtime executes this test file. */
export function currentRuntime(): Runtime {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno) return "deno";
  if (g.Bun) return "bun";
  return "node";
}

/** Absolute path of a file in the repository. */
export function repoPath(relative: string): string {
  return fileURLToPath(new URL(`../../${relative}`, import.meta.url));
}

/**
 * Command and arguments that run `script` with `args` on `runtime` (default: the current one;
 * another one is taken from `node_modules/.bin`, as benches that compare runtimes need).
 */
export function scriptCommand(
  script: string,
  args: string[],
  runtime: Runtime = currentRuntime(),
): [string, string[]] {
  const path = repoPath(script);
  const exe = runtime === currentRuntime()
    ? process.execPath
    : repoPath(`node_modules/.bin/${runtime}`);
  return runtime === "deno" ? [exe, ["run", "-A", path, ...args]] : [exe, [path, ...args]];
}

/** A running script with its output collected. */
export interface RunningScript {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name). */
  exit: Promise<number | string>;
  /** Resolves once stderr or stdout matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

/** Options of {@linkcode startScript}. */
export interface StartScriptOptions {
  /** stdin of the child (default "ignore"). */
  stdin?: "pipe" | "ignore";
  /** Added to the inherited environment. */
  env?: Record<string, string>;
  /** Inherited variables to remove from the child's environment. */
  unsetEnv?: string[];
  /** Runtime of the child (default: the current one). */
  runtime?: Runtime;
}

/** Starts a script of the project on the current runtime (or `options.runtime`). */
export function startScript(
  script: string,
  args: string[],
  options: StartScriptOptions = {},
): RunningScript {
  const [cmd, argv] = scriptCommand(script, args, options.runtime);
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", ...options.env };
  for (const name of options.unsetEnv ?? []) delete env[name];
  const child = spawn(cmd, argv, { stdio: [options.stdin ?? "ignore", "pipe", "pipe"], env });
  let out = "";
  let err = "";
  const waiters: Array<() => void> = [];
  child.stdout!.on("data", (d) => {
    out += d;
    waiters.forEach((w) => w());
  });
  child.stderr!.on("data", (d) => {
    err += d;
    waiters.forEach((w) => w());
  });
  const exit = new Promise<number | string>((resolve) => {
    child.on("exit", (code, signal) => resolve(code ?? signal ?? -1));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit,
    waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const m = (err + out).match(pattern);
          if (m) {
            clearTimeout(timer);
            resolve(m);
            return true;
          }
          return false;
        };
        const timer = setTimeout(
          () => reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${out}\n${err}`)),
          timeoutMs,
        );
        if (!check()) waiters.push(check);
        exit.then(() =>
          setTimeout(
            () => check() || reject(new Error(`exited before ${pattern}:\n${out}\n${err}`)),
            50,
          )
        );
      });
    },
  };
}

/** Runs a script to completion. */
export async function runScript(
  script: string,
  args: string[],
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const s = startScript(script, args);
  const code = await s.exit;
  return { code, stdout: s.stdout(), stderr: s.stderr() };
}

/**
 * Sends SIGTERM to a running script (unless it already exited) and waits for its exit.
 * By pid, not `child.kill()`: Deno's node:child_process reports a child it signalled through
 * `kill()` as killed by that signal even when the child handled it and exited 0.
 */
export async function stopScript(script: RunningScript): Promise<number | string> {
  if (script.child.exitCode === null) process.kill(script.child.pid!, "SIGTERM");
  return await script.exit;
}
