/**
 * Graceful drain of a server (a deploy, a scale-in): stop accepting, ask every client that can
 * to reconnect elsewhere with the E-RTMP v2 `NetConnection.Connect.ReconnectRequest`, wait up to
 * a deadline for the publishers to leave — their streams end as a publisher's own unpublish
 * does: recordings finalized, players told `UnpublishNotify` — then close whatever is left.
 * Every publisher's fate is logged.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { CapsExMask } from "../protocol/capabilities.ts";
import type { NetAddress } from "../socket/types.ts";
import type { ServerEvent } from "./events.ts";
import type { EndReason } from "./types.ts";

/**
 * Who a reconnect target is chosen for (the `tcUrl` function of {@linkcode DrainOptions}).
 *
 * @example
 * ```ts
 * import type { ReconnectTarget } from "./drain.ts";
 * const pick = (t: ReconnectTarget): string => `rtmp://node-2.example.com/${t.app}`;
 * ```
 */
export interface ReconnectTarget {
  /** Application from `connect`. */
  app: string;
  /** The tcUrl the client connected with (`""` when it sent none). */
  tcUrl: string;
  /** Keys it publishes. */
  publishing: string[];
  /** Keys it plays. */
  playing: string[];
  /** The client. */
  remoteAddr: NetAddress;
}

/**
 * Options of `server.drain()`.
 *
 * @example
 * ```ts
 * import type { DrainOptions } from "./drain.ts";
 * const o: DrainOptions = { timeout: 20_000, tcUrl: "rtmp://node-2.example.com/live" };
 * ```
 */
export interface DrainOptions {
  /** Milliseconds publishers get to leave before they are closed. Default 30 000. */
  timeout?: number;
  /**
   * Where clients should reconnect (the ReconnectRequest's `tcUrl`): one URL, or a function
   * per client (returning `undefined` sends none). Without it, clients reconnect to the tcUrl
   * they used — right behind a load balancer that no longer routes to this node.
   */
  tcUrl?: string | ((target: ReconnectTarget) => string | undefined);
  /** Text of the ReconnectRequest. Default: "The server is shutting down; please reconnect." */
  description?: string;
}

/**
 * What happened to one publishing connection during a drain.
 *
 * @example
 * ```ts
 * import type { DrainedPublisher } from "./drain.ts";
 * function line(p: DrainedPublisher): string { return `${p.keys.join()}: ${p.outcome}`; }
 * ```
 */
export interface DrainedPublisher {
  /** The connection (as in events and stats). */
  connectionId: number;
  /** The client. */
  remoteAddr: NetAddress;
  /** Keys it published when the drain started. */
  keys: string[];
  /** Whether it was sent a ReconnectRequest (it announced support). */
  asked: boolean;
  /** `left`: its streams ended before the deadline; `closed`: the server closed them. */
  outcome: "left" | "closed";
  /** Milliseconds from the start of the drain to the end of its streams. */
  after: number;
  /** Why its streams ended. */
  reasons: EndReason[];
}

/**
 * What `server.drain()` resolves with, once the server is closed.
 *
 * @example
 * ```ts
 * import type { DrainResult } from "./drain.ts";
 * function ok(r: DrainResult): boolean { return r.closed === 0; }
 * ```
 */
export interface DrainResult {
  /** Connections sent a ReconnectRequest (publishers and players). */
  asked: number;
  /** Publishers whose streams ended before the deadline. */
  left: number;
  /** Publishers still live at the deadline, closed by the server. */
  closed: number;
  /** Milliseconds the drain took (until the server was closed). */
  duration: number;
  /** Each publishing connection. */
  publishers: DrainedPublisher[];
}

/** @internal One connection as the drain sees it. */
export interface DrainConnection {
  readonly id: number;
  readonly label: string;
  readonly remoteAddr: NetAddress;
  /** The connect command's app, tcUrl and capsEx, or `null` before connect. */
  readonly connect: { app: string; tcUrl: string; capsEx: number } | null;
  /** Live publishes of this connection. */
  readonly sessions: ReadonlyArray<{ key: string; ended: Promise<EndReason> }>;
  /** Keys it plays. */
  readonly playing: string[];
  /** Sends the ReconnectRequest and flushes it. */
  requestReconnect(tcUrl: string | undefined, description: string): Promise<void>;
}

/** @internal What the drain needs from the server. */
export interface DrainHost {
  /** Closes the RTMP listeners; new publishes and plays are refused from now on. */
  stopAccepting(): void;
  /** The open connections. */
  connections(): DrainConnection[];
  log(line: string): void;
  emit(event: ServerEvent): void;
  /** Viewers (RTMP, HTTP-FLV, WebSocket-FLV) of these keys still connected. */
  viewers(keys: readonly string[]): number;
  /** Closes the server (ends every remaining stream). */
  close(): Promise<void>;
}

/**
 * Whether a `connect` announced ReconnectRequest support (E-RTMP v2: `capsEx` bit
 * `Reconnect`, "Enhancing NetConnection connect Command").
 *
 * @example
 * ```ts
 * import { supportsReconnect } from "./drain.ts";
 * console.log(supportsReconnect(1), supportsReconnect(6)); // true false
 * ```
 *
 * @param capsEx The `capsEx` value (0 when absent).
 * @returns Whether the Reconnect bit is set.
 */
export function supportsReconnect(capsEx: number): boolean {
  return (capsEx & CapsExMask.Reconnect) !== 0;
}

const DEFAULT_DESCRIPTION = "The server is shutting down; please reconnect.";

/**
 * Runs a drain to its end (the server closed).
 *
 * @example
 * ```ts ignore
 * import { runDrain } from "./drain.ts";
 * const result = await runDrain(host, { timeout: 10_000 });
 * ```
 *
 * @param host The server's side.
 * @param options Deadline, target, text.
 * @returns What happened.
 */
export async function runDrain(host: DrainHost, options: DrainOptions = {}): Promise<DrainResult> {
  const timeout = options.timeout ?? 30_000;
  if (!(typeof timeout === "number" && timeout >= 0 && timeout <= 2_147_483_647)) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `drain timeout must be 0..2147483647 ms, got ${String(timeout)}`,
    );
  }
  const description = options.description ?? DEFAULT_DESCRIPTION;
  const start = Date.now();
  host.stopAccepting();
  const conns = host.connections();
  host.emit({
    type: "drain-start",
    time: start,
    timeout,
    publishers: conns.filter((c) => c.sessions.length > 0).length,
  });
  let asked = 0;
  let unsupported = 0;
  const waits: Promise<void>[] = [];
  const publishers: DrainedPublisher[] = [];
  let deadlinePassed = false;
  const gone = new Set<DrainedPublisher>();
  for (const c of conns) {
    const keys = c.sessions.map((s) => s.key);
    const live = keys.length > 0 || c.playing.length > 0;
    if (!live) continue;
    const what = describe(keys, c.playing);
    const can = c.connect !== null && supportsReconnect(c.connect.capsEx);
    if (can) {
      const target = typeof options.tcUrl === "function"
        ? options.tcUrl({
          app: c.connect!.app,
          tcUrl: c.connect!.tcUrl,
          publishing: keys,
          playing: [...c.playing],
          remoteAddr: c.remoteAddr,
        })
        : options.tcUrl;
      // Not awaited: a viewer's socket may be full of media; the request waits its turn there.
      c.requestReconnect(target, description).catch((e) =>
        host.log(`drain: ${c.label}: reconnect request failed: ${(e as Error).message}`)
      );
      asked++;
      host.log(`drain: ${c.label} ${what}: asked to reconnect${target ? ` to ${target}` : ""}`);
      host.emit({
        type: "reconnect-request",
        time: Date.now(),
        connectionId: c.id,
        remoteAddr: c.remoteAddr,
        keys: [...keys, ...c.playing],
        tcUrl: target ?? null,
      });
    } else if (keys.length > 0) {
      unsupported++;
      host.log(
        `drain: ${c.label} ${what} did not announce ReconnectRequest support (capsEx); ` +
          `it keeps streaming until it leaves or the drain ends in ${timeout} ms`,
      );
    }
    if (keys.length === 0) continue;
    const entry: DrainedPublisher = {
      connectionId: c.id,
      remoteAddr: c.remoteAddr,
      keys,
      asked: can,
      outcome: "left",
      after: 0,
      reasons: [],
    };
    publishers.push(entry);
    waits.push(
      Promise.all(c.sessions.map((s) => s.ended)).then((reasons) => {
        entry.after = Date.now() - start;
        entry.reasons = reasons;
        // Streams ended by close() (a second signal) did not leave by themselves.
        if (deadlinePassed || reasons.includes("server-closed")) return;
        gone.add(entry);
        host.log(
          `drain: ${c.label} left after ${(entry.after / 1000).toFixed(1)} s ` +
            `(${keys.map((k, i) => `"${k}" ${reasons[i]}`).join(", ")})`,
        );
      }),
    );
  }
  host.log(
    `drain: ${publishers.length} publisher(s), ${asked} asked to reconnect; ` +
      `waiting up to ${timeout} ms`,
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"expired">((resolve) => {
    timer = setTimeout(() => resolve("expired"), timeout);
  });
  const done = await Promise.race([Promise.all(waits).then(() => "left" as const), expired]);
  clearTimeout(timer);
  if (done === "expired") deadlinePassed = true;
  else await viewersTold(host, publishers.flatMap((p) => p.keys), start + timeout);
  for (const p of publishers) {
    if (gone.has(p)) continue;
    p.outcome = "closed";
    host.log(
      `drain: ${fmtAddr(p.remoteAddr)} still publishing ${p.keys.map((k) => `"${k}"`).join(", ")} ${
        deadlinePassed ? `after ${timeout} ms` : "when the server closed"
      }: closing`,
    );
  }
  const left = publishers.filter((p) => p.outcome === "left").length;
  const closed = publishers.length - left;
  // Before close(): closing ends the event iterations.
  host.emit({ type: "drain-end", time: Date.now(), asked, unsupported, left, closed });
  await host.close();
  const duration = Date.now() - start;
  host.log(
    `drain: done in ${(duration / 1000).toFixed(1)} s: ${left} of ${publishers.length} ` +
      `publisher(s) left, ${closed} closed`,
  );
  return { asked, left, closed, duration, publishers };
}

/** How long viewers of the streams that left get to leave by themselves. */
const VIEWER_GRACE_MS = 1000;

/**
 * Gives the viewers of the streams that left a moment (bounded) to take what is queued for
 * them — it ends with the publisher's `unpublish`, sent as `UnpublishNotify` / the end of an
 * HTTP-FLV response — and to leave by themselves, as players do on `UnpublishNotify`; whoever
 * is still there gets `NetStream.Play.Stop` from `close()`.
 */
async function viewersTold(host: DrainHost, keys: string[], deadline: number): Promise<void> {
  const until = Math.min(deadline, Date.now() + VIEWER_GRACE_MS);
  while (host.viewers(keys) > 0 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function describe(publishing: string[], playing: string[]): string {
  const parts: string[] = [];
  if (publishing.length > 0) parts.push(`publishing ${publishing.map((k) => `"${k}"`).join(", ")}`);
  if (playing.length > 0) parts.push(`playing ${playing.map((k) => `"${k}"`).join(", ")}`);
  return parts.join(" and ");
}

function fmtAddr(a: NetAddress): string {
  return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
}
