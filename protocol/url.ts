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
 * Credentials (`rtmp://user:password@host/app/key`, as FFmpeg takes them for Adobe/Limelight
 * `authmod`) are split off the authority: they never reach `tcUrl`, error messages show the
 * URL with the password replaced by `***` ({@linkcode redactRtmpUrl}), and the parsed
 * `password` is a non-enumerable property so logging the parsed URL does not print it.
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
  /** `tcUrl` for the connect command: scheme, authority as written (without credentials), and app. */
  tcUrl: string;
  /** User name of `user:password@`, percent-decoded; absent without credentials. */
  username?: string;
  /**
   * Password of `user:password@`, percent-decoded. Non-enumerable: `console.log` and
   * `JSON.stringify` of the parsed URL leave it out.
   */
  password?: string;
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
  if (typeof url === "string") url = url.trim();
  const shown = typeof url === "string" ? redactRtmpUrl(url) : "";
  if (typeof url !== "string") {
    throw new RtmpError(
      "INVALID_URL",
      `expected an rtmp:// or rtmps:// URL string, got ${typeof url}`,
    );
  }
  const m = URL_PATTERN.exec(url);
  if (!m) {
    throw new RtmpError("INVALID_URL", `expected rtmp://host[:port]/app/stream, got "${shown}"`);
  }
  const scheme = m[1].toLowerCase();
  if (scheme !== "rtmp" && scheme !== "rtmps") {
    throw new RtmpError(
      "INVALID_URL",
      `unsupported scheme "${scheme}://" in "${shown}": expected rtmp:// or rtmps://`,
    );
  }
  let authority = m[2];
  let credentials: { username: string; password: string } | null = null;
  const at = authority.lastIndexOf("@");
  if (at >= 0) {
    credentials = splitUserInfo(authority.slice(0, at), shown);
    authority = authority.slice(at + 1);
  }
  const { hostname, port } = parseAuthority(authority, scheme, shown);
  let path = m[3];
  const hash = path.indexOf("#");
  if (hash >= 0) path = path.slice(0, hash);
  if (!path.startsWith("/") || path.length < 2) {
    throw new RtmpError(
      "INVALID_URL",
      `missing application in "${shown}": expected rtmp://host/app/stream`,
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
      `empty application name in "${shown}": expected rtmp://host/app/stream; ` +
        `remove the extra "/" after the host`,
    );
  }
  if (segments.includes("")) {
    // `live//key` could be app `live/` + `key` or app `live` + `/key`; the user meant neither.
    // Rebuilt from the parsed host, so a password in the URL never reaches the message.
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    const at = port === DEFAULT_PORTS[scheme] ? host : `${host}:${port}`;
    const fixed = `${scheme}://${at}/${segments.filter((x) => x !== "").join("/")}` + query;
    throw new RtmpError(
      "INVALID_URL",
      `empty path segment ("//") in "${shown}": the application and stream name are ` +
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
  if (app === "" || app.startsWith("?")) {
    throw new RtmpError("INVALID_URL", `empty application name in "${shown}"`);
  }
  const parsed: RtmpUrl = {
    protocol: scheme,
    secure: scheme === "rtmps",
    hostname,
    port,
    app,
    streamName,
    tcUrl: `${scheme}://${authority}/${app}`,
  };
  if (credentials) withCredentials(parsed, credentials.username, credentials.password);
  return parsed;
}

const URL_PATTERN = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/;

/** Sets `username` and the non-enumerable `password` on a parsed URL. */
function withCredentials(url: RtmpUrl, username: string, password: string): void {
  url.username = username;
  Object.defineProperty(url, "password", {
    value: password,
    enumerable: false,
    writable: true,
    configurable: true,
  });
}

function splitUserInfo(userInfo: string, shown: string): { username: string; password: string } {
  const colon = userInfo.indexOf(":");
  const user = colon >= 0 ? userInfo.slice(0, colon) : userInfo;
  const pass = colon >= 0 ? userInfo.slice(colon + 1) : "";
  if (user === "") {
    throw new RtmpError("INVALID_URL", `empty user name before "@" in "${shown}"`);
  }
  return { username: percentDecode(user), password: percentDecode(pass) };
}

function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    // A stray "%" is taken literally, as FFmpeg does with credentials it cannot decode.
    return text;
  }
}

/**
 * The URL with the password of any `user:password@` replaced by `***`, for messages and logs.
 *
 * @example
 * ```ts
 * import { redactRtmpUrl } from "./url.ts";
 * console.log(redactRtmpUrl("rtmp://bob:s3cret@h/live/key")); // rtmp://bob:***@h/live/key
 * console.log(redactRtmpUrl("rtmp://h/live/key")); // rtmp://h/live/key
 * ```
 *
 * @param url Any text; only an authority's user information is changed.
 * @returns The text without the password.
 */
export function redactRtmpUrl(url: string): string {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^/?#]*)(.*)$/s.exec(url);
  if (!m) return url;
  const at = m[2].lastIndexOf("@");
  if (at < 0) return url;
  const info = m[2].slice(0, at);
  const colon = info.indexOf(":");
  const user = colon >= 0 ? info.slice(0, colon) : info;
  return `${m[1]}${user}${colon >= 0 ? ":***" : ""}@${m[2].slice(at + 1)}${m[3]}`;
}

/**
 * Where to reconnect after an E-RTMP v2 `NetConnection.Connect.ReconnectRequest`: its `tcUrl`
 * (absolute, or a relative reference resolved against the current `tcUrl`, E-RTMP v2 "Info
 * Object parameter for onStatus command when handling reconnect"), or the current URL when the
 * request names none. The stream name, query and credentials stay those of `current`;
 * credentials written into the server's `tcUrl` are ignored.
 *
 * @example
 * ```ts
 * import { parseRtmpUrl, reconnectUrl } from "./url.ts";
 * const now = parseRtmpUrl("rtmp://a.example:1935/live/key");
 * console.log(reconnectUrl(now, "rtmp://b.example/live").tcUrl); // rtmp://b.example/live
 * console.log(reconnectUrl(now, "//192.0.2.7:1936/edge").port); // 1936
 * console.log(reconnectUrl(now, "/other").tcUrl, reconnectUrl(now, null).streamName); // rtmp://a.example:1935/other key
 * ```
 *
 * @param current The URL of the connection that got the request.
 * @param tcUrl The request's `tcUrl`, or `null` / `""` when it has none.
 * @returns The URL to connect to.
 * @throws {RtmpError} `INVALID_URL` when the reference does not resolve to an rtmp(s) URL with
 * an application.
 */
export function reconnectUrl(current: RtmpUrl, tcUrl: string | null): RtmpUrl {
  if (tcUrl === null || tcUrl === "") return current;
  let resolved: string;
  try {
    resolved = new URL(tcUrl, current.tcUrl).href;
  } catch {
    throw new RtmpError("INVALID_URL", `the server's reconnect tcUrl "${tcUrl}" is not a URL`);
  }
  const base = parseRtmpUrl(resolved.replace(/\/+$/, ""));
  // The whole path of a tcUrl is the application (app or app/instance), whatever its segments.
  const m = URL_PATTERN.exec(resolved)!;
  const path = m[3].replace(/^\//, "").replace(/\/+$/, "");
  let authority = m[2];
  const at = authority.lastIndexOf("@");
  if (at >= 0) authority = authority.slice(at + 1);
  const next: RtmpUrl = {
    protocol: base.protocol,
    secure: base.secure,
    hostname: base.hostname,
    port: base.port,
    app: path,
    streamName: current.streamName,
    tcUrl: `${base.protocol}://${authority}/${path}`,
  };
  if (current.username !== undefined) {
    withCredentials(next, current.username, current.password ?? "");
  }
  return next;
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
