/**
 * HTTP-FLV and WebSocket-FLV viewers as hub subscribers: the same `onPlay` hook as RTMP
 * players (with the protocol named), the same limits, the same wait-for-publisher policy and
 * the same bounded drop-policy queue, so a slow browser never grows server memory past its
 * bound and never slows the publisher.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { MediaPacket } from "../protocol/packet.ts";
import type { LiveRequest, LiveSource } from "../http/types.ts";
import type { Subscriber } from "../hub/subscriber.ts";
import type { ServerContext } from "./connection.ts";
import { decide } from "./decide.ts";
import type { RefusalCause } from "./events.ts";
import type { PlayInfo } from "./types.ts";

/**
 * Opens a viewer: decides, waits for the publisher when needed, subscribes.
 *
 * @example
 * ```ts ignore
 * import { openHttpViewer } from "./http_viewers.ts";
 * const source = await openHttpViewer(ctx, { app: "live", name: "k", query, protocol: "http-flv", remoteAddr }, signal);
 * ```
 *
 * @param ctx The server's context.
 * @param req What the viewer asked for.
 * @param signal Aborts when the viewer goes away.
 * @returns The source, or `null` when the stream is not live.
 * @throws {RtmpError} `REJECTED` when the hook or a limit refuses (the handler answers 403).
 */
export async function openHttpViewer(
  ctx: ServerContext,
  req: LiveRequest,
  signal: AbortSignal,
): Promise<LiveSource | null> {
  const key = `${req.app}/${req.name}`;
  const who = `${req.protocol} ${req.remoteAddr.hostname}:${req.remoteAddr.port}`;
  const base = { connectionId: null, key, remoteAddr: req.remoteAddr, protocol: req.protocol };
  const refused = (cause: RefusalCause, reason: string): void =>
    ctx.emit({ ...base, type: "play-refused", time: Date.now(), cause, reason });
  if (!ctx.playback) {
    refused("playback-disabled", "playback is disabled");
    throw new RtmpError("REJECTED", "playback is disabled");
  }
  if (ctx.onPlay) {
    const hook = ctx.onPlay;
    const info: PlayInfo = {
      app: req.app,
      name: req.name,
      streamName: req.name,
      query: req.query,
      tcUrl: "",
      protocol: req.protocol,
      connect: null,
      request: null,
      remoteAddr: req.remoteAddr,
      tls: false,
      user: null,
    };
    const decision = await decide("play", (s) => hook(info, s), ctx.limits.hookTimeout, signal);
    if (!decision.accept) {
      ctx.log(`${who}: play "${key}" refused: ${decision.reason}`);
      const cause = decision.failed ? decision.timedOut ? "hook-timeout" : "hook-failure" : "hook";
      if (decision.failed) {
        ctx.emit({
          type: cause === "hook-timeout" ? "hook-timeout" : "hook-failure",
          time: Date.now(),
          stage: "play",
          connectionId: null,
          remoteAddr: req.remoteAddr,
          reason: decision.reason,
        });
      }
      refused(cause, decision.reason);
      throw new RtmpError("REJECTED", decision.description);
    }
  }
  const stream = ctx.hub.open(key);
  ctx.ensureRelay(key);
  const full = ctx.admitPlayer(req.remoteAddr.hostname, stream);
  if (full) {
    stream.dropIfIdle();
    ctx.log(`${who}: play "${key}" refused: ${full}`);
    refused(ctx.stopping() ? "shutting-down" : "limit", full);
    throw new RtmpError("REJECTED", "Too many viewers, try again later.");
  }
  let left = false;
  const leave = (): void => {
    if (left) return;
    left = true;
    ctx.playerLeft(req.remoteAddr.hostname, key);
  };
  // Set once playing; a viewer that never started has no `stop` event.
  let startedAt = 0;
  const stop = (reason: string): void => {
    if (startedAt === 0) return;
    const duration = Date.now() - startedAt;
    startedAt = 0;
    ctx.emit({ ...base, type: "stop", time: Date.now(), reason, duration, stats: sub.stats() });
  };
  const sub: Subscriber = stream.subscribe({
    policy: "drop",
    maxBytes: ctx.limits.playerQueueBytes,
    hardMaxBytes: ctx.limits.playerQueueHardBytes,
    endOnUnpublish: true,
    label: who,
  }, (reason) => {
    ctx.log(`${who}: viewer of "${key}" disconnected: ${reason}`);
    stop(reason);
    leave();
  });
  if (!stream.live) {
    const live = await waitLive(sub, ctx.limits.playWaitTimeout, signal);
    if (!live || !stream.live) {
      sub.close("not live");
      leave();
      if (!signal.aborted) refused("not-live", "not live");
      return null;
    }
    // The first entry is the publisher's `publish` signal.
  }
  ctx.log(`${who}: play "${key}" started`);
  ctx.emit({ ...base, type: "play", time: Date.now() });
  startedAt = Date.now();
  return {
    packets: packetsOf(sub),
    batches: {
      take: () => packetsIn(sub),
      get done(): boolean {
        return sub.done;
      },
      onReady: (listener) => sub.onReady(listener),
    },
    close: () => {
      if (!sub.closed) {
        const s = sub.stats();
        const played = Date.now() - startedAt;
        stop("viewer left");
        sub.close("viewer left");
        ctx.log(
          `${who}: play "${key}" ended after ${(played / 1000).toFixed(1)} s, ` +
            `${s.messages} messages, ${s.droppedMessages} dropped`,
        );
      }
      leave();
    },
  };
}

async function waitLive(sub: Subscriber, timeout: number, signal: AbortSignal): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const result = await Promise.race([
    sub.wait().then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeout);
      onAbort = () => resolve(false);
      signal.addEventListener("abort", onAbort, { once: true });
    }),
  ]);
  clearTimeout(timer);
  if (onAbort) signal.removeEventListener("abort", onAbort);
  return result;
}

/** Batch size bound of one take (a GOP burst is written in a few pieces). */
const VIEWER_BATCH = 256 << 10;

function packetsIn(sub: Subscriber): MediaPacket[] {
  const out: MediaPacket[] = [];
  for (const e of sub.take(VIEWER_BATCH)) if (!("signal" in e)) out.push(e.packet);
  return out;
}

async function* packetsOf(sub: Subscriber): AsyncGenerator<MediaPacket> {
  while (true) {
    const e = sub.next();
    if (e) {
      if ("signal" in e) continue;
      yield e.packet;
      continue;
    }
    if (sub.done) return;
    await sub.wait();
  }
}
