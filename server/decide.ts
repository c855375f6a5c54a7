/**
 * Runs a decision hook (connect, publish, play) with a timeout and turns whatever it does into
 * a {@linkcode Decision}: an answer, a refusal, a throw, a timeout or a malformed answer. What
 * reaches the peer is only the hook's `description` or a fixed text; exception messages and
 * `reason` go to the log only (issue 13 §4).
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { HookDecision } from "./types.ts";

/**
 * The outcome of a hook: accepted, or refused with a log reason, a peer text and a code.
 *
 * @example
 * ```ts
 * import type { Decision } from "./decide.ts";
 * const d: Decision = { accept: false, reason: "db down", description: "try again", failed: true };
 * ```
 */
export type Decision =
  | { accept: true; push?: string[] }
  | {
    accept: false;
    /** For the log and events only. */
    reason: string;
    /** Sent to the peer. */
    description: string;
    /** Status code; the stage's default when absent. */
    code?: string;
    /** The hook failed or timed out (as opposed to answering no). */
    failed?: boolean;
    /** The hook timed out (`failed` is set too). */
    timedOut?: boolean;
  };

const PUBLIC_FAILURE: Record<string, string> = {
  connect: "The server could not check this connection; try again later.",
  publish: "The server could not check the stream key; try again later.",
  play: "The server could not check this request; try again later.",
};

/**
 * Status codes for a hook that failed or timed out, chosen so encoders treat them as "the
 * server has a problem" rather than "your key is wrong": librtmp (OBS, GStreamer rtmpsrc)
 * closes at once, as for a final error, on `NetStream.Publish.BadName`/`Denied`/`Rejected`
 * and `NetStream.Play.Failed`/`StreamNotFound`, but not on `NetStream.Publish.Failed`; FFmpeg
 * fails on any error level and prints the description ("try again later"). A wrong key keeps
 * `NetStream.Publish.BadName`, which every encoder reports as an invalid stream key.
 */
const FAILURE_CODE: Record<string, string> = {
  connect: "NetConnection.Connect.Failed",
  publish: "NetStream.Publish.Failed",
  play: "NetStream.Play.Failed",
};

const PUBLIC_REFUSAL: Record<string, string> = {
  connect: "Connection rejected.",
  publish: "Publish rejected: the stream key was not accepted.",
  play: "Play rejected.",
};

/**
 * Runs a hook.
 *
 * @example
 * ```ts
 * import { decide } from "./decide.ts";
 * const d = await decide("publish", () => false, 1000, new AbortController().signal);
 * console.log(d.accept); // false
 * ```
 *
 * @param stage Which request it decides.
 * @param run The hook, given a signal that aborts on timeout or when the connection goes away.
 * @param timeout Milliseconds before the request is refused.
 * @param connectionGone Aborts when the connection closes.
 * @returns The decision (never rejects).
 */
export async function decide(
  stage: "connect" | "publish" | "play",
  run: (signal: AbortSignal) => HookDecision | Promise<HookDecision>,
  timeout: number,
  connectionGone: AbortSignal,
): Promise<Decision> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hookAbort = new AbortController();
  const onGone = (): void => hookAbort.abort(connectionGone.reason);
  connectionGone.addEventListener("abort", onGone, { once: true });
  const failed = (reason: string, timedOut = false): Decision => ({
    accept: false,
    reason,
    description: PUBLIC_FAILURE[stage],
    code: FAILURE_CODE[stage],
    failed: true,
    ...(timedOut ? { timedOut } : {}),
  });
  try {
    const answer = await Promise.race([
      Promise.resolve(hookAbort.signal).then(run),
      new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => {
          hookAbort.abort(new RtmpError("TIMEOUT", `${stage} hook timed out after ${timeout} ms`));
          resolve("timeout");
        }, timeout);
      }),
    ]);
    if (answer === "timeout") return failed(`${stage} hook timed out after ${timeout} ms`, true);
    if (answer === true) return { accept: true };
    if (answer === false) {
      return { accept: false, reason: `${stage} hook refused`, description: PUBLIC_REFUSAL[stage] };
    }
    if (answer && typeof answer === "object" && answer.accept === true) {
      const push = Array.isArray(answer.push)
        ? answer.push.filter((u): u is string => typeof u === "string")
        : undefined;
      return push ? { accept: true, push } : { accept: true };
    }
    if (answer && typeof answer === "object" && answer.accept === false) {
      return {
        accept: false,
        reason: answer.reason ?? `${stage} hook refused`,
        description: typeof answer.description === "string"
          ? answer.description
          : PUBLIC_REFUSAL[stage],
        code: answer.code,
      };
    }
    return failed(`${stage} hook returned an invalid decision`);
  } catch (e) {
    return failed(`${stage} hook failed: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    clearTimeout(timer);
    connectionGone.removeEventListener("abort", onGone);
  }
}
