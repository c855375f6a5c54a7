/**
 * Parsing of `rtmp://` and `rtmps://` URLs into what the connect and publish commands need.
 *
 * The split of the path into application and stream name follows FFmpeg's rule, because that
 * is what users' URLs are written for: the first path segment is the application; when there
 * are three or more segments the first two form `app/instance`; the rest, with its query
 * string, is the stream name (`rtmp://h/live/key?token=t` → app `live`, name `key?token=t`).
 * Trailing slashes are ignored (`rtmp://h/live/key/` is app `live`, name `key`); an empty
 * segment elsewhere (`live//key`) is refused with the URL it probably should have been.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";

/**
 * A parsed RTMP URL.
 *
 * @example
 * ```ts
 * import { parseRtmpUrl } from "./url.ts";
 * const u = parseRtmpUrl("rtmps://a.rtmps.youtube.com/live2/abcd-1234");
 * console.log(u.port, u.app, u.streamName, u.tcUrl); // 443 live2 abcd-1234 rtmps://a.rtmps.youtube.com/live2
 * ```
 */
export interface RtmpUrl {
  /** `rtmp` or `rtmps`. */
  protocol: "rtmp" | "rtmps";
  /** Whether the connection uses TLS (`rtmps`). */
  secure: boolean;
  /** Host name or IP address, without IPv6 brackets. */
  hostname: string;
  /** TCP port: explicit, or 1935 for `rtmp` and 443 for `rtmps`. */
  port: number;
  /** Application, possibly with an instance (`app/instance`). */
  app: string;
  /** Stream name (key) including its query string, or `""` when the URL has none. */
  streamName: string;
  /** `tcUrl` for the connect command: scheme, authority as written, and app. */
  tcUrl: string;
}

const DEFAULT_PORTS = { rtmp: 1935, rtmps: 443 } as const;

/**
 * Parses an RTMP URL. Throws {@linkcode RtmpError} `INVALID_URL` saying what is wrong for
 * anything that is not `rtmp://host[:port]/app[/instance]/[stream[?query]]`.
 *
 * @example
 * ```ts
 * import { parseRtmpUrl } from "./url.ts";
 * const u = parseRtmpUrl("rtmp://[::1]:1936/live/key?token=abc");
 * console.log(u.hostname, u.port, u.app, u.streamName); // ::1 1936 live key?token=abc
 * ```
 *
 * @param url The URL text.
 * @returns The parsed parts.
 */
export function parseRtmpUrl(url: string): RtmpUrl {
  if (typeof url !== "string") {
    throw new RtmpError(
      "INVALID_URL",
      `expected an rtmp:// or rtmps:// URL string, got ${typeof url}`,
    );
  }
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(url.trim());
  if (!m) {
    throw new RtmpError("INVALID_URL", `expected rtmp://host[:port]/app/stream, got "${url}"`);
  }
  const scheme = m[1].toLowerCase();
  if (scheme !== "rtmp" && scheme !== "rtmps") {
    throw new RtmpError(
      "INVALID_URL",
      `unsupported scheme "${scheme}://" in "${url}": expected rtmp:// or rtmps://`,
    );
  }
  const authority = m[2];
  if (authority.includes("@")) {
    throw new RtmpError(
      "INVALID_URL",
      `credentials in the URL are not supported ("${url}"): pass them in the stream name query`,
    );
  }
  const { hostname, port } = parseAuthority(authority, scheme, url);
  let path = m[3];
  const hash = path.indexOf("#");
  if (hash >= 0) path = path.slice(0, hash);
  if (!path.startsWith("/") || path.length < 2) {
    throw new RtmpError(
      "INVALID_URL",
      `missing application in "${url}": expected rtmp://host/app/stream`,
    );
  }
  path = path.slice(1);
  // The query belongs to the stream name (keys like `key?token=…`), so split on "/" only in
  // the part before the first "?".
  const q = path.indexOf("?");
  let beforeQuery = q >= 0 ? path.slice(0, q) : path;
  const query = q >= 0 ? path.slice(q) : "";
  // A trailing "/" is a common paste slip (`…/live/key/`); it never means an empty stream name
  // under an `app/instance`, so it is dropped.
  while (beforeQuery.endsWith("/")) beforeQuery = beforeQuery.slice(0, -1);
  const segments = beforeQuery.split("/");
  if (segments[0] === "") {
    throw new RtmpError(
      "INVALID_URL",
      `empty application name in "${url}": expected rtmp://host/app/stream; ` +
        `remove the extra "/" after the host`,
    );
  }
  if (segments.includes("")) {
    // `live//key` could be app `live/` + `key` or app `live` + `/key`; the user meant neither.
    const fixed = `${scheme}://${authority}/${segments.filter((x) => x !== "").join("/")}` +
      query;
    throw new RtmpError(
      "INVALID_URL",
      `empty path segment ("//") in "${url}": the application and stream name are ` +
        `ambiguous; remove the doubled "/" (e.g. "${fixed}")`,
    );
  }
  let app: string;
  let streamName: string;
  if (segments.length >= 3) {
    app = segments.slice(0, 2).join("/");
    streamName = segments.slice(2).join("/") + query;
  } else if (segments.length === 2) {
    app = segments[0];
    streamName = segments[1] + query;
  } else {
    // `rtmp://host/app?vhost=x`: with no stream segment the query stays with the app.
    app = segments[0] + query;
    streamName = "";
  }
  if (app.startsWith("?")) {
    throw new RtmpError(
      "INVALID_URL",
      `empty application name in "${url}": expected rtmp://host/app/stream`,
    );
  }
  return {
    protocol: scheme,
    secure: scheme === "rtmps",
    hostname,
    port,
    app,
    streamName,
    tcUrl: `${scheme}://${authority}/${app}`,
  };
}

function parseAuthority(
  authority: string,
  scheme: "rtmp" | "rtmps",
  url: string,
): { hostname: string; port: number } {
  let hostname: string;
  let portText: string | undefined;
  if (authority.startsWith("[")) {
    const end = authority.indexOf("]");
    if (end < 0) throw new RtmpError("INVALID_URL", `unclosed IPv6 literal in "${url}"`);
    hostname = authority.slice(1, end);
    const after = authority.slice(end + 1);
    if (after !== "") {
      if (!after.startsWith(":")) {
        throw new RtmpError("INVALID_URL", `unexpected "${after}" after IPv6 literal in "${url}"`);
      }
      portText = after.slice(1);
    }
    if (!/^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(hostname) || !hostname.includes(":")) {
      throw new RtmpError("INVALID_URL", `invalid IPv6 address "[${hostname}]" in "${url}"`);
    }
  } else {
    const colon = authority.lastIndexOf(":");
    if (colon >= 0) {
      if (authority.indexOf(":") !== colon) {
        throw new RtmpError("INVALID_URL", `IPv6 addresses need brackets ([::1]) in "${url}"`);
      }
      hostname = authority.slice(0, colon);
      portText = authority.slice(colon + 1);
    } else {
      hostname = authority;
    }
    if (!/^[A-Za-z0-9._-]+$/.test(hostname)) {
      throw new RtmpError(
        "INVALID_URL",
        hostname === "" ? `missing host in "${url}"` : `invalid host "${hostname}" in "${url}"`,
      );
    }
  }
  let port: number = DEFAULT_PORTS[scheme];
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new RtmpError(
        "INVALID_URL",
        `invalid port "${portText}" in "${url}": expected 1..65535`,
      );
    }
    port = Number(portText);
  }
  return { hostname, port };
}

/**
 * Splits a stream name into its key and query parameters (`key?token=abc&x=1`).
 *
 * @example
 * ```ts
 * import { splitStreamName } from "./url.ts";
 * const { name, query } = splitStreamName("key?token=abc");
 * console.log(name, query.get("token")); // key abc
 * ```
 *
 * @param streamName A stream name as sent in `publish`.
 * @returns The part before `?` and the parsed query.
 */
export function splitStreamName(streamName: string): { name: string; query: URLSearchParams } {
  const q = streamName.indexOf("?");
  if (q < 0) return { name: streamName, query: new URLSearchParams() };
  return { name: streamName.slice(0, q), query: new URLSearchParams(streamName.slice(q + 1)) };
}
