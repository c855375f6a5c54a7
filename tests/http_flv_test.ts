/**
 * HTTP-FLV and WebSocket-FLV output against real clients: ffprobe and curl read the stream over
 * HTTP, the runtime's own `WebSocket` client over WebSocket, and raw sockets check the RFC 6455
 * rules and backpressure. The live stream is a fake source made from an ffmpeg H.264/AAC FLV.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { promisify } from "node:util";
import { RtmpError } from "../errors.ts";
import { FlvDemuxer } from "../protocol/flv.ts";
import { ecmaArray } from "../protocol/amf.ts";
import { encodeData } from "../protocol/data.ts";
import { packetFromMessage } from "../protocol/packet.ts";
import { type HttpFlvServer, startHttpFlvServer } from "../http/server.ts";
import type { LiveRequest, LiveSource } from "../http/types.ts";
import { parseFlvPath } from "../http/flv_handler.ts";
import { webSocketAccept, WebSocketFrameParser } from "../http/websocket.ts";
import { FakeLive, packetsOfFlv } from "./support/live_source.ts";
import { countPackets, hasCommand, makeTestFlv, tempDir, waitFor } from "./support/peers.ts";
import { concat } from "./support/util.ts";

const run = promisify(execFile);

const noPeers = process.env.CI === "true" ||
    (hasCommand("ffmpeg") && hasCommand("ffprobe") && hasCommand("curl"))
  ? false
  : "ffmpeg/ffprobe/curl not installed";

/** A source that sends nothing until closed (for control-frame tests). */
function idleSource(): LiveSource & { closes: number } {
  let release: () => void = () => {};
  const gone = new Promise<void>((resolve) => release = resolve);
  const source = {
    closes: 0,
    // Ends (with no packet) once closed.
    packets: {
      [Symbol.asyncIterator]: () => ({
        next: () => gone.then(() => ({ done: true as const, value: undefined })),
      }),
    },
    close(): void {
      source.closes++;
      release();
    },
  };
  return source;
}

/** A raw client socket with everything it received kept. */
interface RawClient {
  socket: Socket;
  received(): Uint8Array;
  ended: Promise<void>;
}

async function rawConnect(port: number, request: string): Promise<RawClient> {
  const socket = connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const chunks: Uint8Array[] = [];
  socket.on("data", (d: Uint8Array) => chunks.push(new Uint8Array(d)));
  socket.on("error", () => {});
  const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.write(request);
  return { socket, received: () => concat(chunks), ended };
}

/** Splits a raw HTTP response into its head (status line and headers) and the bytes after. */
function splitHead(bytes: Uint8Array): { head: string; rest: Uint8Array } | null {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return {
        head: new TextDecoder().decode(bytes.subarray(0, i)),
        rest: bytes.subarray(i + 4),
      };
    }
  }
  return null;
}

/** Frames a server sends (never masked): opcode and payload. */
function serverFrames(bytes: Uint8Array): Array<{ opcode: number; payload: Uint8Array }> {
  const out: Array<{ opcode: number; payload: Uint8Array }> = [];
  let i = 0;
  while (i + 2 <= bytes.length) {
    assert.equal(bytes[i + 1] & 0x80, 0, "server frames are not masked");
    let len = bytes[i + 1] & 0x7f;
    let at = i + 2;
    if (len === 126) {
      len = (bytes[at] << 8) | bytes[at + 1];
      at += 2;
    } else if (len === 127) {
      len = Number(new DataView(bytes.buffer, bytes.byteOffset + at, 8).getBigUint64(0));
      at += 8;
    }
    if (at + len > bytes.length) break;
    out.push({ opcode: bytes[i] & 0x0f, payload: bytes.subarray(at, at + len) });
    i = at + len;
  }
  return out;
}

/** A masked client frame. */
function clientFrame(opcode: number, payload: Uint8Array, masked = true): Uint8Array {
  const mask = new Uint8Array([0x12, 0x34, 0x56, 0x78]);
  const head = [0x80 | opcode, (masked ? 0x80 : 0) | payload.length];
  const body = masked ? payload.map((b, k) => b ^ mask[k & 3]) : payload;
  return concat([new Uint8Array(head), masked ? mask : new Uint8Array(0), body]);
}

const WS_KEY = "dGhlIHNhbXBsZSBub25jZQ==";

function upgradeRequest(path: string, extra = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

/** Collects a WebSocket stream with the runtime's own client until the server closes it. */
function webSocketBytes(url: string): Promise<{ bytes: Uint8Array; code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const chunks: Uint8Array[] = [];
    ws.onmessage = (e: MessageEvent) => chunks.push(new Uint8Array(e.data as ArrayBuffer));
    ws.onerror = () => {
      if (ws.readyState !== WebSocket.CLOSED && ws.readyState !== WebSocket.CLOSING) return;
    };
    ws.onclose = (e: CloseEvent) => {
      if (chunks.length === 0 && e.code !== 1000) {
        reject(new Error(`WebSocket closed with ${e.code} before any message`));
        return;
      }
      resolve({ bytes: concat(chunks), code: e.code, reason: e.reason });
    };
  });
}

describe("HTTP-FLV / WebSocket-FLV output", { skip: noPeers }, () => {
  let sourceFile = "";
  let sourceBytes = new Uint8Array(0);
  let live: FakeLive;
  let looping: FakeLive;
  let videoOnly: FakeLive;
  let server: HttpFlvServer;
  let base = "";
  let dir = "";
  const requests: LiveRequest[] = [];
  const logs: string[] = [];
  const idle: Array<ReturnType<typeof idleSource>> = [];

  before(async () => {
    sourceFile = await makeTestFlv({ seconds: 2, bFrames: true });
    sourceBytes = new Uint8Array(await readFile(sourceFile));
    const packets = await packetsOfFlv(sourceFile);
    live = new FakeLive(packets);
    looping = new FakeLive(packets, { loop: true });
    // Video only, announced so by its metadata (first packet), as the hub sends it.
    const meta = packetFromMessage(
      encodeData({ handler: "onMetaData", values: [ecmaArray({ videocodecid: 7 })] }, {
        streamId: 1,
      }),
    )!;
    videoOnly = new FakeLive([meta, ...packets.filter((p) => p.type === "video")]);
    dir = await tempDir("http-flv-");
    const playerFile = join(dir, "player.js");
    await writeFile(playerFile, "window.fakePlayer = 1;\n");
    server = await startHttpFlvServer({
      hostname: "127.0.0.1",
      port: 0,
      open: (req) => {
        requests.push(req);
        if (req.name === "k") return Promise.resolve(live.subscribe());
        if (req.name === "loop") return Promise.resolve(looping.subscribe());
        if (req.name === "video") return Promise.resolve(videoOnly.subscribe());
        if (req.name === "idle") {
          const s = idleSource();
          idle.push(s);
          return Promise.resolve(s);
        }
        if (req.name === "denied") throw new RtmpError("REJECTED", "bad token");
        if (req.name === "boom") throw new Error("database down");
        return Promise.resolve(null);
      },
      testPage: { playerFile },
      log: (line) => logs.push(line),
    });
    base = `http://127.0.0.1:${server.addr.port}`;
  });

  after(async () => {
    await server?.close();
  });

  it("ffprobe reads every packet of the stream over HTTP", async () => {
    const want = await countPackets(sourceFile);
    const got = await countPackets(`${base}/live/k.flv`);
    assert.ok(want.video > 0 && want.audio > 0);
    assert.equal(got.video, want.video);
    assert.equal(got.audio, want.audio);
  });

  it("curl gets the FLV byte for byte, chunked on HTTP/1.1 and close-delimited on 1.0", async () => {
    const out11 = join(dir, "curl11.flv");
    const { stdout: head11 } = await run("curl", [
      "-sS",
      "--fail",
      "-D",
      "-",
      "-o",
      out11,
      `${base}/live/k.flv`,
    ]);
    assert.match(head11, /^HTTP\/1\.1 200/);
    assert.match(head11, /content-type: video\/x-flv/i);
    assert.match(head11, /transfer-encoding: chunked/i);
    assert.match(head11, /access-control-allow-origin: \*/i);
    assert.deepEqual(new Uint8Array(await readFile(out11)), sourceBytes);
    const out10 = join(dir, "curl10.flv");
    const { stdout: head10 } = await run("curl", [
      ...["-sS", "--fail", "--http1.0", "-D", "-", "-o", out10, `${base}/live/k.flv`],
    ]);
    assert.doesNotMatch(head10, /transfer-encoding/i);
    assert.doesNotMatch(head10, /content-length/i);
    assert.deepEqual(new Uint8Array(await readFile(out10)), sourceBytes);
    assert.deepEqual(await countPackets(out11), await countPackets(sourceFile));
  });

  it("passes app, name, query, protocol and the viewer's address to open()", async () => {
    requests.length = 0;
    const res = await fetch(`${base}/live/k.flv?token=abc&x=1`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(requests.length, 1);
    const r = requests[0];
    assert.equal(r.app, "live");
    assert.equal(r.name, "k");
    assert.equal(r.query.get("token"), "abc");
    assert.equal(r.protocol, "http-flv");
    assert.match(r.remoteAddr.hostname, /127\.0\.0\.1/);
    assert.ok(r.remoteAddr.port > 0);
    assert.ok(
      logs.some((l) => /^http-flv .* GET \/live\/k\.flv 200 \d+ bytes/.test(l)),
      logs.join("\n"),
    );
  });

  it("answers HEAD with headers only, OPTIONS as a CORS preflight, and 400/403/404/405", async () => {
    const before = live.subscriptions.length;
    const head = await fetch(`${base}/live/k.flv`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-type"), "video/x-flv");
    assert.equal((await head.arrayBuffer()).byteLength, 0);
    await waitFor(
      () => live.subscriptions.length === before + 1 && live.subscriptions[before].closes === 1,
      {
        what: "HEAD to open and close one subscription",
      },
    );
    const pre = await fetch(`${base}/live/k.flv`, {
      method: "OPTIONS",
      headers: {
        Origin: "https://player.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range",
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), "*");
    assert.match(pre.headers.get("access-control-allow-methods") ?? "", /GET/);
    assert.equal(pre.headers.get("access-control-allow-headers"), "range");
    const notLive = await fetch(`${base}/live/nobody.flv`);
    assert.equal(notLive.status, 404);
    assert.match(await notLive.text(), /not live/);
    for (
      const bad of [
        "/nope",
        "/k.flv",
        "/live/k.mp4",
        "/live//k.flv",
        "/live/a%2Fb.flv",
        "/live/%zz.flv",
      ]
    ) {
      const res = await fetch(`${base}${bad}`);
      assert.equal(res.status, 400, bad);
      await res.body?.cancel();
    }
    const denied = await fetch(`${base}/live/denied.flv`);
    assert.equal(denied.status, 403);
    assert.match(await denied.text(), /bad token/);
    const boom = await fetch(`${base}/live/boom.flv`);
    assert.equal(boom.status, 500);
    assert.doesNotMatch(await boom.text(), /database/, "internal messages stay in the log");
    assert.ok(logs.some((l) => /open live\/boom failed: database down/.test(l)));
    const post = await fetch(`${base}/live/k.flv`, { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    assert.match(post.headers.get("allow") ?? "", /GET/);
    await post.body?.cancel();
  });

  it("serves the test page and the configured player file", async () => {
    const page = await fetch(`${base}/?stream=k`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    const html = await page.text();
    assert.match(html, /<script src="\/mpegts\.js"><\/script>/);
    assert.match(html, /<video/);
    const player = await fetch(`${base}/mpegts.js`);
    assert.equal(player.status, 200);
    assert.match(player.headers.get("content-type") ?? "", /javascript/);
    assert.equal(await player.text(), "window.fakePlayer = 1;\n");
  });

  it("the runtime's WebSocket client receives the same bytes, then close 1000", async () => {
    requests.length = 0;
    const got = await webSocketBytes(`ws://127.0.0.1:${server.addr.port}/live/k.flv?token=w`);
    assert.deepEqual(got.bytes, sourceBytes);
    assert.equal(got.code, 1000);
    assert.equal(got.reason, "stream ended");
    assert.equal(requests[0].protocol, "ws-flv");
    assert.equal(requests[0].query.get("token"), "w");
    const tags = new FlvDemuxer({ strict: true }).push(got.bytes);
    assert.ok(tags.length > 100);
  });

  it("WebSocket: valid accept, pong for ping, close echoed, source closed", async () => {
    const c = await rawConnect(server.addr.port, upgradeRequest("/live/idle.flv"));
    await waitFor(() => splitHead(c.received()) !== null, { what: "101 response" });
    const { head } = splitHead(c.received())!;
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(
      head,
      new RegExp(`Sec-WebSocket-Accept: ${webSocketAccept(WS_KEY).replace(/[+/=]/g, "\\$&")}`, "i"),
    );
    assert.equal(webSocketAccept(WS_KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const src = idle[idle.length - 1];
    c.socket.write(clientFrame(9, new TextEncoder().encode("hello")));
    await waitFor(() => serverFrames(splitHead(c.received())!.rest).some((f) => f.opcode === 10), {
      what: "pong",
    });
    const pong = serverFrames(splitHead(c.received())!.rest).find((f) => f.opcode === 10)!;
    assert.equal(new TextDecoder().decode(pong.payload), "hello");
    c.socket.write(clientFrame(8, new Uint8Array([0x03, 0xe8, 0x62, 0x79, 0x65])));
    await c.ended;
    const close = serverFrames(splitHead(c.received())!.rest).find((f) => f.opcode === 8)!;
    assert.deepEqual([...close.payload.subarray(0, 2)], [0x03, 0xe8]);
    await waitFor(() => src.closes === 1, { what: "source closed after the close handshake" });
  });

  it("WebSocket: an unmasked client frame is a protocol error (1002)", async () => {
    const c = await rawConnect(server.addr.port, upgradeRequest("/live/idle.flv"));
    await waitFor(() => splitHead(c.received()) !== null, { what: "101 response" });
    const src = idle[idle.length - 1];
    c.socket.write(clientFrame(2, new Uint8Array([1, 2, 3]), false));
    await c.ended;
    const close = serverFrames(splitHead(c.received())!.rest).find((f) => f.opcode === 8);
    assert.ok(close, "a close frame was sent");
    assert.equal((close.payload[0] << 8) | close.payload[1], 1002);
    await waitFor(() => src.closes === 1, { what: "source closed" });
  });

  it("WebSocket: refuses a bad handshake, a missing stream and a bad path before upgrading", async () => {
    const cases: Array<[string, RegExp]> = [
      [upgradeRequest("/live/nobody.flv"), /^HTTP\/1\.1 404 /],
      [upgradeRequest("/live/denied.flv"), /^HTTP\/1\.1 403 [^]*bad token/],
      [upgradeRequest("/nope"), /^HTTP\/1\.1 400 /],
      [
        upgradeRequest("/live/k.flv").replace(
          "Sec-WebSocket-Version: 13",
          "Sec-WebSocket-Version: 8",
        ),
        /^HTTP\/1\.1 426 [^]*Sec-WebSocket-Version: 13/i,
      ],
      [upgradeRequest("/live/k.flv").replace(WS_KEY, "short"), /^HTTP\/1\.1 400 /],
    ];
    for (const [request, expected] of cases) {
      const c = await rawConnect(server.addr.port, request);
      await c.ended;
      const text = new TextDecoder().decode(c.received());
      assert.match(text, expected);
    }
  });

  it("frame parser: fragmented text, bad UTF-8, oversized and reserved frames", () => {
    const p = new WebSocketFrameParser({ maxMessageSize: 16 });
    const mask = (op: number, fin: boolean, payload: number[]): Uint8Array => {
      const f = clientFrame(op, new Uint8Array(payload));
      if (!fin) f[0] &= 0x7f;
      return f;
    };
    const first = mask(1, false, [0xe2, 0x82]);
    const last = mask(0, true, [0xac]);
    assert.deepEqual(p.push(concat([first, last])), [{ kind: "message", text: true, size: 3 }]);
    assert.deepEqual(
      new WebSocketFrameParser().push(mask(1, true, [0xff])).map((e) =>
        e.kind === "error" && e.code
      ),
      [1007],
    );
    assert.deepEqual(
      p.push(mask(2, true, new Array(17).fill(0))).map((e) => e.kind === "error" && e.code),
      [1009],
    );
    assert.equal(p.failed, true);
    assert.deepEqual(
      new WebSocketFrameParser().push(mask(3, true, [])).map((e) => e.kind === "error" && e.code),
      [1002],
    );
    assert.deepEqual(
      new WebSocketFrameParser().push(mask(0, true, [1])).map((e) => e.kind === "error" && e.code),
      [1002],
    );
    assert.deepEqual(
      new WebSocketFrameParser().push(mask(8, true, [0x03, 0xed])).map((e) =>
        e.kind === "error" && e.code
      ),
      [1002],
    );
    // A ping split byte by byte still parses.
    const ping = mask(9, true, [7, 8]);
    const q = new WebSocketFrameParser();
    const events = [...ping].flatMap((b) => q.push(new Uint8Array([b])));
    assert.deepEqual(events, [{ kind: "ping", payload: new Uint8Array([7, 8]) }]);
  });

  it("announces only the tracks the metadata names in the FLV header", async () => {
    const res = await fetch(`${base}/live/video.flv`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    assert.equal(bytes[4], 0x01, "TypeFlagsVideo only (FLV 10.1 E.2)");
    const tags = new FlvDemuxer({ strict: true }).push(bytes);
    assert.equal(tags[0].type, 18);
    assert.ok(tags.slice(1).every((t) => t.type === 9));
    assert.equal(tags.length, videoOnly.packets.length);
  });

  it("parses stream paths", () => {
    assert.deepEqual(parseFlvPath("/live/key.flv"), { app: "live", name: "key" });
    assert.deepEqual(parseFlvPath("/live/sub/k%C3%A9y.flv"), { app: "live/sub", name: "kéy" });
    assert.equal(parseFlvPath("/live/.flv"), null);
    assert.equal(parseFlvPath("/live/a%00.flv"), null);
  });

  it("a reader that stops reading holds the source back; closing it closes the source", async () => {
    const c = await rawConnect(server.addr.port, "GET /live/loop.flv HTTP/1.1\r\nHost: x\r\n\r\n");
    c.socket.pause();
    await waitFor(() => looping.subscriptions.length === 1, { what: "subscription" });
    const sub = looping.subscriptions[0];
    // The output stops asking for packets once the socket buffers are full.
    let last = -1;
    await waitFor(() => {
      const stable = sub.pulledBytes === last && last > 0;
      last = sub.pulledBytes;
      return stable;
    }, { intervalMs: 300, timeoutMs: 20_000, what: "the output to stop pulling" });
    const held = sub.pulledBytes;
    // Kernel socket buffers on loopback hold a few MiB; the output itself holds a packet or two.
    assert.ok(held < 16 * 1024 * 1024, `pulled ${held} bytes for a reader that reads nothing`);
    assert.ok(sub.closes === 0);
    c.socket.resume();
    await waitFor(() => sub.pulledBytes > held + 2 * 1024 * 1024, { what: "pulling to resume" });
    c.socket.destroy();
    await waitFor(() => sub.closes === 1, { what: "source closed after the reader left" });
    await waitFor(() => server.viewers === 0, { what: "no viewers" });
  });

  it("server close() ends a WebSocket viewer with 1001 and closes its source", async () => {
    const other = await startHttpFlvServer({
      hostname: "127.0.0.1",
      port: 0,
      open: () => Promise.resolve(looping.subscribe()),
      cors: { origins: ["https://ok.example"] },
    });
    const n = looping.subscriptions.length;
    const ws = new WebSocket(`ws://127.0.0.1:${other.addr.port}/live/loop.flv`);
    ws.binaryType = "arraybuffer";
    let messages = 0;
    ws.onmessage = () => messages++;
    const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
    await waitFor(() => messages > 10, { what: "messages" });
    // CORS with a list: the allowed origin is echoed, another gets none.
    const ok = await fetch(`http://127.0.0.1:${other.addr.port}/live/x.flv`, {
      method: "OPTIONS",
      headers: { Origin: "https://ok.example" },
    });
    assert.equal(ok.headers.get("access-control-allow-origin"), "https://ok.example");
    assert.match(ok.headers.get("vary") ?? "", /Origin/);
    const no = await fetch(`http://127.0.0.1:${other.addr.port}/live/x.flv`, {
      method: "OPTIONS",
      headers: { Origin: "https://evil.example" },
    });
    assert.equal(no.headers.get("access-control-allow-origin"), null);
    const evil = await rawConnect(
      other.addr.port,
      upgradeRequest("/live/loop.flv", "Origin: https://evil.example\r\n"),
    );
    await evil.ended;
    assert.match(new TextDecoder().decode(evil.received()), /^HTTP\/1\.1 403 /);
    await other.close();
    const event = await closed;
    assert.equal(event.code, 1001);
    await waitFor(() => looping.subscriptions.slice(n).every((s) => s.closes === 1), {
      what: "sources closed",
    });
  });
});
