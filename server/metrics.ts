/**
 * `GET /metrics`: a {@linkcode ServerStats} snapshot as Prometheus metric families with stable
 * names and labels. Counters end in `_total`; refusal counters list every known cause with its
 * value (zeros too), so a dashboard's series exist before the first refusal.
 *
 * Names (all prefixed `rtmp_`): `connections_accepted_total`, `connections_refused_total{cause}`,
 * `connects_accepted_total`, `connects_refused_total{cause}`, `publishes_accepted_total`,
 * `publishes_refused_total{cause}`, `unpublishes_total{reason}`, `plays_accepted_total{protocol}`,
 * `plays_refused_total{cause}`, `hook_timeouts_total{stage}`, `hook_failures_total{stage}`,
 * `protocol_errors_total`, `reconnect_requests_total`, `received_bytes_total`,
 * `sent_bytes_total`; gauges `connections{state}`, `live_streams`, `players`, `draining`,
 * `start_time_seconds`; per live stream (labels `app`, `name`): `stream_uptime_seconds`,
 * `stream_bitrate_bits_per_second`, `stream_received_bytes_total`, `stream_players`,
 * `stream_dropped_messages`, `stream_max_lag_seconds`.
 *
 * @module
 */

import { formatPrometheus, type MetricFamily, type MetricSample } from "../ops/prometheus.ts";
import { REFUSAL_CAUSES } from "./events.ts";
import type { ServerStats } from "./stats.ts";

const END_REASONS = [
  "publisher-closed",
  "connection-lost",
  "timeout",
  "protocol-error",
  "server-closed",
  "replaced",
  "kicked",
] as const;
const STAGES = ["connect", "publish", "play"] as const;
const PROTOCOLS = ["rtmp", "http-flv", "ws-flv"] as const;

function keyed(
  label: string,
  keys: readonly string[],
  values: Partial<Record<string, number>>,
): MetricSample[] {
  const all = [...keys, ...Object.keys(values).filter((k) => !keys.includes(k))];
  return all.map((k) => ({ labels: { [label]: k }, value: values[k] ?? 0 }));
}

function counter(name: string, help: string, samples: MetricSample[]): MetricFamily {
  return { name: `rtmp_${name}`, help, type: "counter", samples };
}

function gauge(name: string, help: string, samples: MetricSample[]): MetricFamily {
  return { name: `rtmp_${name}`, help, type: "gauge", samples };
}

/**
 * The metric families of a snapshot.
 *
 * @example
 * ```ts
 * import { RtmpServer } from "../server.ts";
 * import { serverMetricFamilies } from "./metrics.ts";
 * await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, log: null });
 * const names = serverMetricFamilies(server.stats()).map((f) => f.name);
 * console.log(names.includes("rtmp_publishes_refused_total")); // true
 * ```
 *
 * @param stats A snapshot from `server.stats()`.
 * @returns The families, in a fixed order.
 */
export function serverMetricFamilies(stats: ServerStats): MetricFamily[] {
  const c = stats.counters;
  const states = { pending: 0, live: 0, closing: 0 };
  for (const conn of stats.connections) states[conn.state]++;
  const live = stats.streams.filter((s) => s.publisher !== null);
  const perStream = (value: (s: ServerStats["streams"][number]) => number): MetricSample[] =>
    live.map((s) => ({ labels: { app: s.app, name: s.name }, value: value(s) }));
  return [
    counter("connections_accepted_total", "RTMP sockets accepted.", [{
      value: c.connectionsAccepted,
    }]),
    counter(
      "connections_refused_total",
      "RTMP sockets closed at once, by cause (limit, proxy-protocol, shutting-down).",
      keyed("cause", ["limit", "proxy-protocol", "shutting-down"], c.connectionsRefused),
    ),
    counter("connects_accepted_total", "connect commands accepted.", [{
      value: c.connectsAccepted,
    }]),
    counter(
      "connects_refused_total",
      "connect commands refused, by cause.",
      keyed("cause", REFUSAL_CAUSES, c.connectsRefused),
    ),
    counter("publishes_accepted_total", "Publishes accepted.", [{ value: c.publishesAccepted }]),
    counter(
      "publishes_refused_total",
      "Publishes refused, by cause.",
      keyed("cause", REFUSAL_CAUSES, c.publishesRefused),
    ),
    counter(
      "unpublishes_total",
      "Publishes ended, by reason.",
      keyed("reason", END_REASONS, c.unpublishes),
    ),
    counter(
      "plays_accepted_total",
      "Viewers started, by protocol.",
      keyed("protocol", PROTOCOLS, c.playsAccepted),
    ),
    counter(
      "plays_refused_total",
      "Plays refused, by cause.",
      keyed("cause", REFUSAL_CAUSES, c.playsRefused),
    ),
    counter(
      "hook_timeouts_total",
      "Hooks that did not answer in time, by stage.",
      keyed("stage", STAGES, c.hookTimeouts),
    ),
    counter(
      "hook_failures_total",
      "Hooks that threw or gave an invalid answer, by stage.",
      keyed("stage", STAGES, c.hookFailures),
    ),
    counter("protocol_errors_total", "Connections closed for malformed input.", [{
      value: c.protocolErrors,
    }]),
    counter("reconnect_requests_total", "E-RTMP ReconnectRequests sent.", [{
      value: c.reconnectRequests,
    }]),
    counter("received_bytes_total", "Bytes read from RTMP sockets.", [{ value: c.bytesIn }]),
    counter("sent_bytes_total", "Bytes written to RTMP sockets.", [{ value: c.bytesOut }]),
    gauge(
      "connections",
      "Open RTMP connections, by state.",
      keyed("state", ["pending", "live", "closing"], states),
    ),
    gauge("live_streams", "Streams being published now.", [{ value: live.length }]),
    gauge("players", "Viewers now (RTMP, HTTP-FLV, WebSocket-FLV).", [{
      value: stats.streams.reduce((n, s) => n + s.players, 0),
    }]),
    gauge("draining", "1 while the server drains or closes.", [{ value: stats.draining ? 1 : 0 }]),
    gauge("start_time_seconds", "When the server started (Unix time).", [{
      value: stats.startedAt / 1000,
    }]),
    gauge(
      "stream_uptime_seconds",
      "Seconds since the stream's publish started.",
      perStream((s) => s.uptime / 1000),
    ),
    gauge(
      "stream_bitrate_bits_per_second",
      "Average payload bitrate since the publish started.",
      perStream((s) => s.bitrate),
    ),
    counter(
      "stream_received_bytes_total",
      "Payload bytes published since the publish started.",
      perStream((s) => s.bytes),
    ),
    gauge("stream_players", "Viewers of the stream.", perStream((s) => s.players)),
    gauge(
      "stream_dropped_messages",
      "Messages skipped so far for the stream's current drop-policy subscribers (viewers, restreams).",
      perStream((s) => s.subscribers.reduce((n, x) => n + x.droppedMessages, 0)),
    ),
    gauge(
      "stream_max_lag_seconds",
      "Largest lag of a subscriber of the stream (media seconds queued).",
      perStream((s) => s.subscribers.reduce((n, x) => Math.max(n, x.lagMs), 0) / 1000),
    ),
  ];
}

/**
 * A snapshot as a Prometheus text exposition page.
 *
 * @example
 * ```ts
 * import { RtmpServer } from "../server.ts";
 * import { formatServerMetrics } from "./metrics.ts";
 * await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, log: null });
 * console.log(formatServerMetrics(server.stats()).includes("rtmp_live_streams 0")); // true
 * ```
 *
 * @param stats A snapshot from `server.stats()`.
 * @returns The page text.
 */
export function formatServerMetrics(stats: ServerStats): string {
  return formatPrometheus(serverMetricFamilies(stats));
}
