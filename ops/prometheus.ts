/**
 * The Prometheus text exposition format, version 0.0.4 — what a `GET /metrics` answers with —
 * for counters and gauges with labels.
 *
 * Rules followed (Prometheus "Exposition formats", text-based format): one `# HELP` and one
 * `# TYPE` line per metric family, before its samples, and all its samples in one group; lines end
 * with `\n` (the last one too); in HELP text `\` and line feeds are escaped as `\\` and `\n`; in
 * label values `\`, `"` and line feeds as `\\`, `\"` and `\n`; values are Go-style floats
 * (`NaN`, `+Inf`, `-Inf`). Names are checked against `[a-zA-Z_:][a-zA-Z0-9_:]*` (metrics) and
 * `[a-zA-Z_][a-zA-Z0-9_]*` (labels, `__` prefix reserved), so a typo fails at once instead of
 * producing a page the scraper rejects.
 *
 * @example
 * ```ts
 * import { formatPrometheus } from "./prometheus.ts";
 * console.log(formatPrometheus([{
 *   name: "rtmp_publishes_total",
 *   help: "Publish requests by outcome.",
 *   type: "counter",
 *   samples: [{ labels: { outcome: "accepted" }, value: 3 }],
 * }]));
 * // # HELP rtmp_publishes_total Publish requests by outcome.
 * // # TYPE rtmp_publishes_total counter
 * // rtmp_publishes_total{outcome="accepted"} 3
 * ```
 *
 * @module
 */

import { RtmpError } from "../errors.ts";

/**
 * The `Content-Type` of a text exposition page.
 *
 * @example
 * ```ts
 * import { PROMETHEUS_CONTENT_TYPE } from "./prometheus.ts";
 * const headers = { "content-type": PROMETHEUS_CONTENT_TYPE };
 * ```
 */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * The metric types this formatter writes: a `counter` only goes up (it resets on restart), a
 * `gauge` goes up and down.
 *
 * @example
 * ```ts
 * import type { MetricType } from "./prometheus.ts";
 * const t: MetricType = "gauge";
 * ```
 */
export type MetricType = "counter" | "gauge";

/**
 * One sample of a family: its labels (in the order given) and value.
 *
 * @example
 * ```ts
 * import type { MetricSample } from "./prometheus.ts";
 * const s: MetricSample = { labels: { app: "live" }, value: 2 };
 * ```
 */
export interface MetricSample {
  /** Label names and values; omitted or empty for a sample without labels. */
  labels?: Readonly<Record<string, string>>;
  /** The value; counters must not be negative. */
  value: number;
}

/**
 * A metric family: name, help text, type and samples.
 *
 * @example
 * ```ts
 * import type { MetricFamily } from "./prometheus.ts";
 * const streams: MetricFamily = {
 *   name: "rtmp_live_streams",
 *   help: "Streams being published now.",
 *   type: "gauge",
 *   samples: [{ value: 1 }],
 * };
 * ```
 */
export interface MetricFamily {
  /** Metric name, e.g. `rtmp_connections_accepted_total` (counter names end in `_total`). */
  name: string;
  /** One-line description (line feeds are escaped). */
  help: string;
  /** `counter` or `gauge`. */
  type: MetricType;
  /** The samples; an empty list still writes HELP and TYPE. */
  samples: readonly MetricSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function invalid(message: string): RtmpError {
  return new RtmpError("INVALID_ARGUMENT", `prometheus: ${message}`);
}

/**
 * Escapes a label value for the text format: `\` → `\\`, `"` → `\"`, line feed → `\n`.
 *
 * @example
 * ```ts
 * import { escapeLabelValue } from "./prometheus.ts";
 * console.log(escapeLabelValue('a"b\\c\nd')); // a\"b\\c\nd
 * ```
 *
 * @param value Any string.
 * @returns The escaped text to put between double quotes.
 */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/**
 * Escapes HELP text: `\` → `\\`, line feed → `\n` (double quotes stay as they are).
 *
 * @example
 * ```ts
 * import { escapeHelp } from "./prometheus.ts";
 * console.log(escapeHelp("first\nsecond \\ \"q\"")); // first\nsecond \\ "q"
 * ```
 *
 * @param text Any string.
 * @returns The escaped text.
 */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}

/**
 * Formats a sample value as the format's float: `NaN`, `+Inf`, `-Inf`, or JavaScript's shortest
 * round-trip decimal (`3`, `0.25`, `1e+21`), which Go's `ParseFloat` reads back exactly.
 *
 * @example
 * ```ts
 * import { formatMetricValue } from "./prometheus.ts";
 * console.log(formatMetricValue(Infinity), formatMetricValue(1.5)); // +Inf 1.5
 * ```
 *
 * @param value Any number.
 * @returns Its text form.
 */
export function formatMetricValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function labelText(family: string, labels: Readonly<Record<string, string>> | undefined): string {
  if (labels === undefined) return "";
  const parts: string[] = [];
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith("__")) {
      throw invalid(
        `${family}: expected a label name matching [a-zA-Z_][a-zA-Z0-9_]* without a "__" ` +
          `prefix, got "${name}"`,
      );
    }
    if (typeof value !== "string") {
      throw invalid(`${family}: expected label ${name} to be a string, got ${typeof value}`);
    }
    parts.push(`${name}="${escapeLabelValue(value)}"`);
  }
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/**
 * Writes metric families as one text exposition page, in the order given.
 *
 * @example
 * ```ts
 * import { formatPrometheus, PROMETHEUS_CONTENT_TYPE } from "./prometheus.ts";
 * const body = formatPrometheus([
 *   { name: "rtmp_bytes_in_total", help: "Bytes read.", type: "counter", samples: [{ value: 1024 }] },
 *   { name: "rtmp_connections", help: "Open connections.", type: "gauge", samples: [{ value: 2 }] },
 * ]);
 * const response = new Response(body, { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } });
 * console.log(response.status); // 200
 * ```
 *
 * @param families The families to write.
 * @returns The page text, ending with a line feed (empty for no families).
 * @throws {RtmpError} `INVALID_ARGUMENT` for a bad metric or label name, an unknown type, a
 * non-number value, a negative counter, a family given twice, or two samples with the same labels.
 */
export function formatPrometheus(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  const names = new Set<string>();
  for (const family of families) {
    const { name, help, type, samples } = family;
    if (typeof name !== "string" || !METRIC_NAME.test(name)) {
      throw invalid(
        `expected a metric name matching [a-zA-Z_:][a-zA-Z0-9_:]*, got "${String(name)}"`,
      );
    }
    if (names.has(name)) throw invalid(`${name}: expected each family once, got it twice`);
    names.add(name);
    if (type !== "counter" && type !== "gauge") {
      throw invalid(`${name}: expected type "counter" or "gauge", got "${String(type)}"`);
    }
    lines.push(`# HELP ${name} ${escapeHelp(String(help))}`, `# TYPE ${name} ${type}`);
    const seen = new Set<string>();
    for (const sample of samples) {
      const labels = labelText(name, sample.labels);
      // A label set is unordered: {a="1",b="2"} and {b="2",a="1"} are the same series.
      const key = JSON.stringify(
        Object.entries(sample.labels ?? {}).sort(([a], [b]) => a < b ? -1 : 1),
      );
      if (seen.has(key)) {
        throw invalid(`${name}: expected distinct label sets, got ${labels || "no labels"} twice`);
      }
      seen.add(key);
      const value = sample.value;
      if (typeof value !== "number") {
        throw invalid(`${name}${labels}: expected a number value, got ${typeof value}`);
      }
      if (type === "counter" && value < 0) {
        throw invalid(`${name}${labels}: expected a counter value >= 0, got ${value}`);
      }
      lines.push(`${name}${labels} ${formatMetricValue(value)}`);
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}
