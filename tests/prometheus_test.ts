/**
 * The Prometheus text format 0.0.4 writer: exact text for counters and gauges with labels,
 * escaping, values and refusals; and a round trip through a real parser, the official Python
 * client's `text_string_to_metric_families` (Debian package python3-prometheus-client).
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import {
  escapeHelp,
  escapeLabelValue,
  formatMetricValue,
  formatPrometheus,
  type MetricFamily,
  PROMETHEUS_CONTENT_TYPE,
} from "../ops/prometheus.ts";
import { throwsCode } from "./support/util.ts";

/** Debian's interpreter: the one python3-prometheus-client installs into. */
const PYTHON = "/usr/bin/python3";

function pythonParserSkip(): string | false {
  const available = existsSync(PYTHON) &&
    spawnSync(PYTHON, ["-c", "import prometheus_client.parser"], { stdio: "ignore" }).status === 0;
  if (available || process.env.CI === "true") return false;
  return "python3-prometheus-client not installed (apt-get install python3-prometheus-client)";
}

const PARSE_SCRIPT = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    out.append({
        "name": family.name,
        "type": family.type,
        "help": family.documentation,
        "samples": [[s.name, s.labels, repr(s.value)] for s in family.samples],
    })
print(json.dumps(out))
`;

interface ParsedFamily {
  name: string;
  type: string;
  help: string;
  samples: Array<[string, Record<string, string>, string]>;
}

function parseWithPython(text: string): Promise<ParsedFamily[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(PYTHON, ["-c", PARSE_SCRIPT], (error, stdout, stderr) => {
      if (error) reject(new Error(`python parser failed: ${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as ParsedFamily[]);
    });
    child.stdin?.end(text);
  });
}

const families: MetricFamily[] = [
  {
    name: "rtmp_connections_accepted_total",
    help: "TCP connections accepted.",
    type: "counter",
    samples: [{ value: 42 }],
  },
  {
    name: "rtmp_publish_refused_total",
    help: "Publish requests refused, by reason.",
    type: "counter",
    samples: [
      { labels: { reason: "bad key" }, value: 3 },
      { labels: { reason: "duplicate" }, value: 0 },
    ],
  },
  {
    name: "rtmp_stream_bitrate_bits",
    help: "Current bitrate of a live stream.",
    type: "gauge",
    samples: [
      { labels: { app: "live", key: "a" }, value: 2_500_000.5 },
      { labels: { app: "live", key: "b" }, value: 0 },
    ],
  },
];

const EXPECTED = `# HELP rtmp_connections_accepted_total TCP connections accepted.
# TYPE rtmp_connections_accepted_total counter
rtmp_connections_accepted_total 42
# HELP rtmp_publish_refused_total Publish requests refused, by reason.
# TYPE rtmp_publish_refused_total counter
rtmp_publish_refused_total{reason="bad key"} 3
rtmp_publish_refused_total{reason="duplicate"} 0
# HELP rtmp_stream_bitrate_bits Current bitrate of a live stream.
# TYPE rtmp_stream_bitrate_bits gauge
rtmp_stream_bitrate_bits{app="live",key="a"} 2500000.5
rtmp_stream_bitrate_bits{app="live",key="b"} 0
`;

/** Stream keys are attacker-chosen text: every character the format escapes, and more. */
const NASTY = 'a\\b"c\nd}e,f=g #h \u00e9\u{1f600}';

describe("Prometheus text format 0.0.4", () => {
  it("writes HELP, TYPE and samples exactly, one group per family, ending with a line feed", () => {
    assert.equal(formatPrometheus(families), EXPECTED);
    assert.equal(PROMETHEUS_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
  });

  it("writes an empty page for no families and HELP/TYPE alone for a family without samples", () => {
    assert.equal(formatPrometheus([]), "");
    assert.equal(
      formatPrometheus([{
        name: "rtmp_live_streams",
        help: "Live streams.",
        type: "gauge",
        samples: [],
      }]),
      "# HELP rtmp_live_streams Live streams.\n# TYPE rtmp_live_streams gauge\n",
    );
  });

  it('escapes \\, " and line feed in label values and \\ and line feed in HELP', () => {
    assert.equal(escapeLabelValue(NASTY), 'a\\\\b\\"c\\nd}e,f=g #h \u00e9\u{1f600}');
    assert.equal(escapeHelp('one\ntwo \\ "three"'), 'one\\ntwo \\\\ "three"');
    assert.equal(
      formatPrometheus([{
        name: "rtmp_stream_up",
        help: "Line one\nline \\two",
        type: "gauge",
        samples: [{ labels: { key: NASTY }, value: 1 }],
      }]),
      "# HELP rtmp_stream_up Line one\\nline \\\\two\n" +
        "# TYPE rtmp_stream_up gauge\n" +
        'rtmp_stream_up{key="a\\\\b\\"c\\nd}e,f=g #h \u00e9\u{1f600}"} 1\n',
    );
  });

  it("writes values as Go-style floats", () => {
    const cases: Array<[number, string]> = [
      [0, "0"],
      [-0, "0"],
      [7, "7"],
      [-2.5, "-2.5"],
      [0.1, "0.1"],
      [9007199254740991, "9007199254740991"],
      [1e21, "1e+21"],
      [1.5e-7, "1.5e-7"],
      [NaN, "NaN"],
      [Infinity, "+Inf"],
      [-Infinity, "-Inf"],
    ];
    for (const [value, text] of cases) assert.equal(formatMetricValue(value), text, String(value));
  });

  it("refuses what a scraper would reject", () => {
    const one = (family: Partial<MetricFamily>): string =>
      formatPrometheus([{ name: "m", help: "h", type: "gauge", samples: [], ...family }]);
    throwsCode(() => one({ name: "9lives" }), "INVALID_ARGUMENT", '"9lives"');
    throwsCode(() => one({ name: "rtmp-streams" }), "INVALID_ARGUMENT", "metric name");
    throwsCode(() => one({ type: "histogram" as "gauge" }), "INVALID_ARGUMENT", '"histogram"');
    throwsCode(
      () => one({ samples: [{ labels: { "bad-name": "x" }, value: 1 }] }),
      "INVALID_ARGUMENT",
      '"bad-name"',
    );
    throwsCode(
      () => one({ samples: [{ labels: { __name__: "x" }, value: 1 }] }),
      "INVALID_ARGUMENT",
      '"__" prefix',
    );
    throwsCode(
      () => one({ samples: [{ labels: { a: 1 as unknown as string }, value: 1 }] }),
      "INVALID_ARGUMENT",
      "label a to be a string",
    );
    throwsCode(
      () => one({ samples: [{ value: "1" as unknown as number }] }),
      "INVALID_ARGUMENT",
      "number value",
    );
    throwsCode(
      () => one({ type: "counter", samples: [{ value: -1 }] }),
      "INVALID_ARGUMENT",
      "counter value >= 0",
    );
    throwsCode(
      () =>
        one({
          samples: [{ labels: { a: "1", b: "2" }, value: 1 }, {
            labels: { b: "2", a: "1" },
            value: 2,
          }],
        }),
      "INVALID_ARGUMENT",
      "distinct label sets",
    );
    throwsCode(
      () => one({ samples: [{ value: 1 }, { labels: {}, value: 2 }] }),
      "INVALID_ARGUMENT",
      "no labels twice",
    );
    throwsCode(
      () => formatPrometheus([families[0], families[0]]),
      "INVALID_ARGUMENT",
      "each family once",
    );
  });

  it(
    "parses back with the official Python client's parser",
    { skip: pythonParserSkip() },
    async () => {
      const page = formatPrometheus([
        ...families,
        {
          name: "rtmp_odd_values",
          help: 'Escapes: \\ and\nnewline and "quotes"',
          type: "gauge",
          samples: [
            { labels: { key: NASTY }, value: NaN },
            { labels: { key: "inf" }, value: Infinity },
            { labels: { key: "-inf" }, value: -Infinity },
            { labels: { key: "" }, value: 1e21 },
          ],
        },
      ]);
      const parsed = await parseWithPython(page);
      assert.deepEqual(
        parsed.map((f) => [f.name, f.type, f.help]),
        [
          // The Python client names a counter family without its _total suffix.
          ["rtmp_connections_accepted", "counter", "TCP connections accepted."],
          ["rtmp_publish_refused", "counter", "Publish requests refused, by reason."],
          ["rtmp_stream_bitrate_bits", "gauge", "Current bitrate of a live stream."],
          ["rtmp_odd_values", "gauge", 'Escapes: \\ and\nnewline and "quotes"'],
        ],
      );
      assert.deepEqual(parsed.map((f) => f.samples), [
        [["rtmp_connections_accepted_total", {}, "42.0"]],
        [
          ["rtmp_publish_refused_total", { reason: "bad key" }, "3.0"],
          ["rtmp_publish_refused_total", { reason: "duplicate" }, "0.0"],
        ],
        [
          ["rtmp_stream_bitrate_bits", { app: "live", key: "a" }, "2500000.5"],
          ["rtmp_stream_bitrate_bits", { app: "live", key: "b" }, "0.0"],
        ],
        [
          ["rtmp_odd_values", { key: NASTY }, "nan"],
          ["rtmp_odd_values", { key: "inf" }, "inf"],
          ["rtmp_odd_values", { key: "-inf" }, "-inf"],
          ["rtmp_odd_values", { key: "" }, "1e+21"],
        ],
      ]);
    },
  );
});
