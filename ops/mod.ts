/**
 * Operations helpers for running @x/rtmp in a fleet: which peers may send PROXY protocol headers
 * ({@linkcode trustedSources}), and the Prometheus text format for a `/metrics` endpoint
 * ({@linkcode formatPrometheus}).
 *
 * @example
 * ```ts
 * import { formatPrometheus, trustedSources } from "./mod.ts";
 * console.log(trustedSources().has("127.0.0.1")); // true
 * const up = { name: "up", help: "Up.", type: "gauge" as const, samples: [{ value: 1 }] };
 * console.log(formatPrometheus([up]));
 * ```
 *
 * @module
 */

export * from "../socket/trusted.ts";
export * from "./prometheus.ts";
