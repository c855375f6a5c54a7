/**
 * The tiny test page served at `/`: a `<video>` that plays a live stream of this server with
 * mpegts.js, over HTTP-FLV or WebSocket-FLV. The library ships no player; the page loads it from
 * the URL the operator configures.
 *
 * Query of the page: `stream` (the name, default `test`), `app` (default `live`), `ws=1` to use
 * WebSocket, and any other parameter (`token=…`) is passed on to the stream URL.
 *
 * @module
 */

/**
 * Options of {@linkcode testPageHtml}.
 *
 * @example
 * ```ts
 * import type { TestPageHtmlOptions } from "./test_page.ts";
 * const o: TestPageHtmlOptions = { playerUrl: "/mpegts.js" };
 * console.log(o.playerUrl); // /mpegts.js
 * ```
 */
export interface TestPageHtmlOptions {
  /** `src` of the mpegts.js script. */
  playerUrl: string;
}

/** Escapes text for an HTML attribute value or text node. */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The HTML of the test page. The page exposes `window.player` (the mpegts.js player) and
 * `window.streamUrl`, and shows the player's errors and statistics.
 *
 * @example
 * ```ts
 * import { testPageHtml } from "./test_page.ts";
 * const html = testPageHtml({ playerUrl: "/mpegts.js" });
 * console.log(html.includes('<script src="/mpegts.js">')); // true
 * ```
 *
 * @param options Where the player script is.
 * @returns A complete HTML document.
 */
export function testPageHtml(options: TestPageHtmlOptions): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>@x/rtmp live test</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 1rem; background: #111; color: #eee; }
  video { width: 640px; max-width: 100%; background: #000; display: block; }
  pre { white-space: pre-wrap; }
</style>
</head>
<body>
<video id="video" muted autoplay playsinline controls></video>
<pre id="status">loading player…</pre>
<script src="${escapeHtml(options.playerUrl)}"></script>
<script>
(function () {
  var status = document.getElementById("status");
  var video = document.getElementById("video");
  var params = new URLSearchParams(location.search);
  var app = params.get("app") || "live";
  var name = params.get("stream") || "test";
  var useWs = params.get("ws") === "1";
  var rest = new URLSearchParams(params);
  ["app", "stream", "ws"].forEach(function (k) { rest.delete(k); });
  var query = rest.toString();
  var base = (useWs ? (location.protocol === "https:" ? "wss:" : "ws:") : location.protocol) +
    "//" + location.host;
  var url = base + "/" + app.split("/").map(encodeURIComponent).join("/") + "/" +
    encodeURIComponent(name) + ".flv" + (query ? "?" + query : "");
  window.streamUrl = url;
  if (typeof mpegts === "undefined") {
    status.textContent = "mpegts.js did not load (see the player URL of the test page)";
    return;
  }
  if (!mpegts.getFeatureList().mseLivePlayback) {
    status.textContent = "this browser cannot play live FLV (no MediaSource)";
    return;
  }
  var player = mpegts.createPlayer({ type: "flv", isLive: true, url: url },
    { enableWorker: false, lazyLoad: false, liveBufferLatencyChasing: true });
  window.player = player;
  player.on(mpegts.Events.ERROR, function (type, detail, info) {
    status.textContent = "error: " + type + " " + detail + " " + JSON.stringify(info);
  });
  player.on(mpegts.Events.STATISTICS_INFO, function (s) {
    var q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    status.textContent = url + "\\n" + "time " + video.currentTime.toFixed(2) + " s, frames " +
      (q ? q.totalVideoFrames : "?") + ", " + Math.round(s.speed || 0) + " KiB/s";
  });
  player.attachMediaElement(video);
  player.load();
  var started = player.play();
  if (started && started.catch) started.catch(function (e) { status.textContent = "play: " + e; });
})();
</script>
</body>
</html>
`;
}
