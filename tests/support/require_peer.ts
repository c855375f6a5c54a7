/**
 * The one gate every interop test goes through to find its real peer (ffmpeg, nginx-rtmp,
 * node-media-server, openssl, GStreamer, rtmpdump, haproxy, socat).
 *
 * Outside CI a missing peer is a skip: a contributor without nginx can still run the rest.
 * Under `CI=true` a missing peer is a failure: a CI run where interop tests silently skipped would
 * be green without having proved anything. `.ci/setup` installs every peer named here on Debian,
 * and `.ci/test` additionally fails on any skip it does not expect (`.ci/allowed_skips`).
 *
 * Use it as the `skip` option of a `describe`/`it`, evaluated at module top level so that under
 * CI the whole file fails at once with the message below:
 *
 * @example
 * ```ts
 * import { describe, it } from "node:test";
 * import { requirePeer } from "./require_peer.ts";
 *
 * const noNginx = requirePeer("ffmpeg", "nginx-rtmp");
 * describe("against nginx-rtmp", { skip: noNginx }, () => {
 *   it("publishes", () => {});
 * });
 * ```
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { hasCommand, hasNodeMediaServer, nginxRtmpModulePath } from "./peers.ts";

/** What a peer needs and which Debian package provides it. */
interface PeerCheck {
  /** `undefined` when the peer is usable, else what is missing. */
  missing(): string | undefined;
  /** Debian packages that provide it (what `.ci/setup` installs). */
  install: string;
}

function commands(...names: string[]): () => string | undefined {
  return () => {
    const absent = names.filter((name) => !hasCommand(name));
    return absent.length === 0 ? undefined : `${absent.join(", ")} not on PATH`;
  };
}

function gstElement(element: string): () => string | undefined {
  return () => {
    const tools = commands("gst-launch-1.0", "gst-inspect-1.0")();
    if (tools !== undefined) return tools;
    const found = spawnSync("gst-inspect-1.0", ["--exists", element], { stdio: "ignore" });
    return found.status === 0 ? undefined : `GStreamer element ${element} not installed`;
  };
}

const NGINX_STREAM_MODULES = [
  "/usr/lib/nginx/modules/ngx_stream_module.so",
  "/usr/lib64/nginx/modules/ngx_stream_module.so",
];

/**
 * Every peer a test may ask for. Adding one is one entry here plus its package in `.ci/setup`.
 */
const PEERS = {
  ffmpeg: { missing: commands("ffmpeg", "ffprobe"), install: "ffmpeg" },
  "nginx-rtmp": {
    missing: () =>
      commands("nginx")() ??
        (nginxRtmpModulePath() === undefined ? "ngx_rtmp_module.so not found" : undefined),
    install: "nginx libnginx-mod-rtmp",
  },
  "nginx-stream": {
    missing: () =>
      commands("nginx")() ??
        (NGINX_STREAM_MODULES.some((p) => existsSync(p))
          ? undefined
          : "ngx_stream_module.so not found"),
    install: "nginx libnginx-mod-stream",
  },
  "node-media-server": {
    missing: () =>
      hasNodeMediaServer() ? undefined : "node-media-server or Node 24 not in node_modules",
    install: "npm install",
  },
  openssl: { missing: commands("openssl"), install: "openssl" },
  /** gst-launch-1.0 with `rtmp2src`/`rtmp2sink` (plugins-bad) and `flvmux`/`flvdemux` (good). */
  gstreamer: {
    missing: () => gstElement("rtmp2src")() ?? gstElement("rtmp2sink")() ?? gstElement("flvmux")(),
    install:
      "gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad",
  },
  /** GStreamer's librtmp elements `rtmpsrc`/`rtmpsink` (plugins-bad, built with librtmp). */
  "gstreamer-librtmp": {
    missing: () => gstElement("rtmpsrc")() ?? gstElement("rtmpsink")(),
    install: "gstreamer1.0-tools gstreamer1.0-plugins-bad",
  },
  rtmpdump: { missing: commands("rtmpdump"), install: "rtmpdump" },
  haproxy: { missing: commands("haproxy"), install: "haproxy" },
  socat: { missing: commands("socat"), install: "socat" },
  curl: { missing: commands("curl"), install: "curl" },
  /** The official Prometheus client's text parser, for /metrics pages. */
  "prometheus-client": {
    missing: () =>
      spawnSync("/usr/bin/python3", ["-c", "import prometheus_client.parser"], { stdio: "ignore" })
          .status === 0
        ? undefined
        : "/usr/bin/python3 cannot import prometheus_client",
    install: "python3-prometheus-client",
  },
  // chromium: the browser tests add their entry here (and the package in .ci/setup).
} satisfies Record<string, PeerCheck>;

/** Name of a peer {@linkcode requirePeer} knows how to find. */
export type PeerName = keyof typeof PEERS;

/**
 * Whether this run is CI: `CI` set to anything but empty, `0` or `false` (GitHub Actions, GitLab
 * and most CI systems set `CI=true`).
 *
 * @example
 * ```ts
 * import { isCi } from "./require_peer.ts";
 * console.log(isCi() ? "missing peers fail" : "missing peers skip");
 * ```
 *
 * @returns `true` under CI.
 */
export function isCi(): boolean {
  const value = (process.env.CI ?? "").trim().toLowerCase();
  return value !== "" && value !== "0" && value !== "false";
}

const verdicts = new Map<string, string | undefined>();

/**
 * Checks that every named peer is installed.
 *
 * @example
 * ```ts
 * import { it } from "node:test";
 * import { requirePeer } from "./require_peer.ts";
 * it("talks to rtmpdump", { skip: requirePeer("rtmpdump") }, () => {});
 * ```
 *
 * @param names The peers the test needs.
 * @returns `false` when all are present (run the test); outside CI, a skip reason naming what is
 * missing and how to install it.
 * @throws {Error} Under CI, when any peer is missing: a missing peer must fail the run.
 */
export function requirePeer(...names: PeerName[]): string | false {
  const problems: string[] = [];
  const packages: string[] = [];
  for (const name of names) {
    let verdict = verdicts.get(name);
    if (!verdicts.has(name)) {
      verdict = PEERS[name].missing();
      verdicts.set(name, verdict);
    }
    if (verdict !== undefined) {
      problems.push(`${name}: ${verdict}`);
      packages.push(PEERS[name].install);
    }
  }
  if (problems.length === 0) return false;
  const install = `install: ${[...new Set(packages)].join(" ")} (bash .ci/setup does it)`;
  if (isCi()) {
    throw new Error(
      `CI=true and a required interop peer is missing (${problems.join("; ")}); ${install}. ` +
        "Under CI a missing peer fails the run instead of skipping its tests.",
    );
  }
  return `peer missing: ${problems.join("; ")}; ${install}`;
}
