import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { spawn } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { ClientHandshake, type HandshakeStep, ServerHandshake } from "../protocol/handshake.ts";
import { hmacSha256, Sha256, sha256 } from "../protocol/sha256.ts";
import { ChunkDecoder } from "../protocol/chunk_decoder.ts";
import { RtmpError } from "../errors.ts";
import type { RtmpMessage } from "../protocol/message.ts";
import { requirePeer } from "./support/require_peer.ts";
import { concat, mixSeed, prng, testSeed, toHex } from "./support/util.ts";

const SEED = testSeed("handshake_test");

function nodeHmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** Splits `bytes` into random pieces (sizes 1..max) that are copies in a reused buffer. */
function randomPieces(bytes: Uint8Array, rnd: () => number, max: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < bytes.length) {
    const n = Math.min(bytes.length - off, 1 + Math.floor(rnd() * max));
    out.push(bytes.subarray(off, off + n));
    off += n;
  }
  return out;
}

/** Feeds pieces through a reused buffer that is scribbled over after each push. */
function feed(
  push: (b: Uint8Array) => HandshakeStep,
  pieces: Uint8Array[],
): { send: Uint8Array[]; done: boolean; remainder: Uint8Array[] } {
  const reused = new Uint8Array(4096);
  const send: Uint8Array[] = [];
  const remainder: Uint8Array[] = [];
  let done = false;
  for (const p of pieces) {
    reused.set(p);
    const step = push(reused.subarray(0, p.length));
    reused.fill(0xee);
    if (step.send) send.push(step.send);
    if (step.remainder) remainder.push(step.remainder);
    done = step.done;
  }
  return { send, done, remainder };
}

const KEY_TAIL = Buffer.from(
  "f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae",
  "hex",
);
const FP_TEXT = Buffer.from("Genuine Adobe Flash Player 001");
const FMS_TEXT = Buffer.from("Genuine Adobe Flash Media Server 001");
const FP_KEY = Buffer.concat([FP_TEXT, KEY_TAIL]);
const FMS_KEY = Buffer.concat([FMS_TEXT, KEY_TAIL]);

/** Digest offset for scheme 0 (base 8) or scheme 1 (base 772), computed independently. */
function offsetFor(packet: Uint8Array, base: number): number {
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += packet[base + i];
  return (sum % 728) + base + 4;
}

function digestAt(packet: Uint8Array, offset: number, key: Uint8Array): Uint8Array {
  return nodeHmac(key, packet.subarray(0, offset), packet.subarray(offset + 32));
}

/** Which scheme (0 or 1) carries a valid digest under `key`, or -1. */
function schemeOf(packet: Uint8Array, key: Uint8Array): number {
  for (const [scheme, base] of [[0, 8], [1, 772]]) {
    const off = offsetFor(packet, base);
    if (toHex(digestAt(packet, off, key)) === toHex(packet.subarray(off, off + 32))) return scheme;
  }
  return -1;
}

describe("sha256 / hmacSha256", () => {
  it("match node:crypto for many lengths, keys and splits", () => {
    const rnd = prng(mixSeed(SEED, 1234));
    for (let n = 0; n < 300; n++) {
      const len = n < 200 ? n : Math.floor(rnd() * 5000);
      const data = new Uint8Array(len).map(() => Math.floor(rnd() * 256));
      const expected = createHash("sha256").update(data).digest("hex");
      assert.equal(toHex(sha256(data)), expected, `sha256 length ${len}`);
      const cut = Math.floor(rnd() * (len + 1));
      assert.equal(toHex(sha256(data.subarray(0, cut), data.subarray(cut))), expected);
      const h = new Sha256();
      for (const p of randomPieces(data, rnd, 70)) h.update(p);
      assert.equal(toHex(h.digest()), expected);
      const key = new Uint8Array(Math.floor(rnd() * 150)).map(() => Math.floor(rnd() * 256));
      assert.equal(
        toHex(hmacSha256(key, data.subarray(0, cut), data.subarray(cut))),
        toHex(nodeHmac(key, data)),
        `hmac key ${key.length} data ${len}`,
      );
    }
  });

  it("refuses update after digest", () => {
    const h = new Sha256();
    h.digest();
    assert.throws(() => h.update(new Uint8Array(1)), RtmpError);
  });
});

describe("handshake", () => {
  for (const digest of [true, false]) {
    it(`client and server agree (${digest ? "digest" : "simple"} layout, random splits)`, () => {
      for (let seed = 1; seed <= 40; seed++) {
        const rnd = prng(mixSeed(SEED, seed * 7919));
        const client = new ClientHandshake({ digest, epoch: 1000 + seed });
        const server = new ServerHandshake({ epoch: 77 });
        const c0c1 = client.start();
        assert.equal(c0c1.length, 1537);
        assert.equal(c0c1[0], 3);
        const fromServer = feed((b) => server.push(b), randomPieces(c0c1, rnd, 600));
        assert.equal(fromServer.done, false);
        assert.equal(fromServer.send.length, 1, "S0+S1+S2 are produced in one piece");
        const s0s1s2 = fromServer.send[0];
        assert.equal(s0s1s2.length, 1 + 2 * 1536);
        assert.equal(s0s1s2[0], 3);
        assert.equal(server.usedDigest, digest);

        const fromClient = feed((b) => client.push(b), randomPieces(s0s1s2, rnd, 900));
        assert.equal(fromClient.done, true);
        assert.equal(fromClient.send.length, 1);
        const c2 = fromClient.send[0];
        assert.equal(c2.length, 1536);
        assert.equal(client.usedDigest, digest);

        // The chunk stream starts right after C2: the server must hand it back.
        const extra = new Uint8Array(1 + Math.floor(rnd() * 300)).map((_, i) => i * 31);
        const end = feed((b) => server.push(b), randomPieces(concat([c2, extra]), rnd, 700));
        assert.equal(end.done, true);
        assert.equal(server.done, true);
        assert.deepEqual(concat(end.remainder), extra);

        const c1 = c0c1.subarray(1);
        const s1 = s0s1s2.subarray(1, 1537);
        const s2 = s0s1s2.subarray(1537);
        assert.deepEqual([...s1.subarray(0, 4)], [0, 0, 0, 77], "S1 time is the epoch");
        assert.deepEqual(
          [...c1.subarray(0, 4)],
          [0, 0, (1000 + seed) >> 8, (1000 + seed) & 0xff],
        );
        if (digest) {
          assert.equal(schemeOf(c1, FP_TEXT), 0, "client digest uses scheme 0");
          const cScheme = 0;
          assert.equal(schemeOf(s1, FMS_TEXT), cScheme, "server digest in the client's scheme");
          const cOff = offsetFor(c1, 8);
          const sKey = nodeHmac(FMS_KEY, c1.subarray(cOff, cOff + 32));
          assert.deepEqual(s2.subarray(1504), nodeHmac(sKey, s2.subarray(0, 1504)));
          const sOff = offsetFor(s1, 8);
          const cKey = nodeHmac(FP_KEY, s1.subarray(sOff, sOff + 32));
          assert.deepEqual(c2.subarray(1504), nodeHmac(cKey, c2.subarray(0, 1504)));
        } else {
          assert.deepEqual([...c1.subarray(4, 8)], [0, 0, 0, 0]);
          assert.deepEqual([...s1.subarray(4, 8)], [0, 0, 0, 0]);
          assert.deepEqual(s2, c1, "S2 echoes C1");
          assert.deepEqual(c2, s1, "C2 echoes S1");
        }
      }
    });
  }

  it("accepts everything in one push and returns the remainder", () => {
    const client = new ClientHandshake();
    const server = new ServerHandshake();
    const c0c1 = client.start();
    // C0 + C1 + (a C2 the server does not check) + chunk bytes, all at once.
    const tail = new Uint8Array([1, 2, 3, 4, 5]);
    const step = server.push(concat([c0c1, new Uint8Array(1536), tail]));
    assert.ok(step.send);
    assert.equal(step.done, true);
    assert.deepEqual(step.remainder, tail);
    // Once done, later bytes pass straight through as remainder.
    const after = server.push(new Uint8Array([9]));
    assert.deepEqual(after, { send: null, done: true, remainder: new Uint8Array([9]) });
  });

  it("client gets C2 and done from S0+S1+S2+data in one push", () => {
    const client = new ClientHandshake();
    const server = new ServerHandshake();
    const s = server.push(client.start()).send as Uint8Array;
    const step = client.push(concat([s, new Uint8Array([7, 8])]));
    assert.equal(step.done, true);
    assert.equal(step.send?.length, 1536);
    assert.deepEqual(step.remainder, new Uint8Array([7, 8]));
  });

  it("rejects a C0 / S0 version other than 3 with HANDSHAKE_FAILED", () => {
    for (const v of [0, 6, 0x47]) {
      const server = new ServerHandshake();
      assert.throws(
        () => server.push(new Uint8Array([v, 0, 0])),
        (e) =>
          e instanceof RtmpError && e.code === "HANDSHAKE_FAILED" &&
          e.message.includes(`expected version 3, got ${v}`),
      );
      assert.throws(() => server.push(new Uint8Array(10)), RtmpError, "stays failed");
    }
    const client = new ClientHandshake();
    client.start();
    assert.throws(
      () => client.push(new Uint8Array([4])),
      (e) => e instanceof RtmpError && e.code === "HANDSHAKE_FAILED",
    );
  });

  it("client refuses push() before start() and a second start()", () => {
    const client = new ClientHandshake();
    assert.throws(() => client.push(new Uint8Array([3])), RtmpError);
    client.start();
    assert.throws(() => client.start(), RtmpError);
    assert.throws(() => new ServerHandshake({ epoch: -1 }), RtmpError);
  });

  for (const [scheme, base] of [[0, 8], [1, 772]]) {
    it(`server detects a hand-built FP9 C1 (scheme ${scheme}, offset base ${base})`, () => {
      const rnd = prng(mixSeed(SEED, 99 + scheme));
      const c1 = new Uint8Array(1536).map(() => Math.floor(rnd() * 256));
      c1.set([0, 0, 0, 0, 9, 0, 124, 2], 0);
      const off = offsetFor(c1, base);
      c1.set(digestAt(c1, off, FP_TEXT), off);
      // The other scheme must not accidentally validate, or the test proves nothing.
      assert.equal(schemeOf(c1, FP_TEXT), scheme);

      const server = new ServerHandshake();
      const step = server.push(concat([new Uint8Array([3]), c1]));
      assert.equal(server.usedDigest, true);
      const out = step.send as Uint8Array;
      const s1 = out.subarray(1, 1537);
      const s2 = out.subarray(1537);
      assert.ok(s1[4] >= 3, "S1 version byte tells FFmpeg to look for a digest");
      assert.equal(schemeOf(s1, FMS_TEXT), scheme);
      const key = nodeHmac(FMS_KEY, c1.subarray(off, off + 32));
      assert.deepEqual(s2.subarray(1504), nodeHmac(key, s2.subarray(0, 1504)));

      // Corrupt one digest byte: now it is the simple layout and S2 is a plain echo.
      c1[off] ^= 1;
      const plain = new ServerHandshake();
      const echo = plain.push(concat([new Uint8Array([3]), c1])).send as Uint8Array;
      assert.equal(plain.usedDigest, false);
      assert.deepEqual(echo.subarray(1537), c1);
    });
  }

  it("digest client accepts a server whose S1 has no valid digest (C2 echoes S1)", () => {
    const client = new ClientHandshake();
    client.start();
    const s1 = new Uint8Array(1536).map((_, i) => (i * 13) & 0xff);
    s1.set([0, 0, 0, 1, 4, 0, 0, 1], 0); // non-zero version, but no digest anywhere
    const s2 = new Uint8Array(1536);
    const step = client.push(concat([new Uint8Array([3]), s1, s2]));
    assert.equal(step.done, true);
    assert.equal(client.usedDigest, false);
    assert.deepEqual(step.send, s1);
  });
});

const noFfmpeg = requirePeer("ffmpeg");

describe("handshake random parts", () => {
  it("every S1 gets random bytes of its own, also across the shared pool's refills", () => {
    // The random parts come from one 64 KiB pool, 1528 bytes per packet: 200 handshakes
    // refill it four times. No two S1 random parts (bytes 8..1535, digest included) may match.
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const c = new ClientHandshake({ digest: i % 2 === 0 });
      const step = new ServerHandshake().push(c.start());
      const s1 = step.send!.subarray(1, 1537);
      const hex = toHex(s1.subarray(8));
      assert.ok(!seen.has(hex), `S1 random part of handshake ${i} repeats an earlier one`);
      seen.add(hex);
      // The client still accepts it (digest checked when the layout has one).
      assert.equal(c.push(step.send!).done, true);
    }
  });
});

describe("real FFmpeg publisher", () => {
  it("completes the handshake with the digest layout and sends connect", {
    skip: noFfmpeg,
  }, async () => {
    let server: Server | undefined;
    const sockets: Socket[] = [];
    let handshake: ServerHandshake | undefined;
    const first = new Promise<RtmpMessage>((resolve, reject) => {
      server = createServer((socket) => {
        sockets.push(socket);
        const hs = new ServerHandshake();
        handshake = hs;
        const decoder = new ChunkDecoder();
        socket.on("error", () => {});
        socket.on("data", (data: Uint8Array) => {
          try {
            let chunk: Uint8Array | null = data;
            if (!hs.done) {
              const step = hs.push(data);
              if (step.send) socket.write(step.send);
              chunk = step.remainder;
            }
            if (chunk) {
              const messages = decoder.push(chunk);
              if (messages.length > 0) resolve(messages[0]);
            }
          } catch (e) {
            reject(e);
          }
        });
      });
      server.on("error", reject);
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
    const port = (server!.address() as { port: number }).port;
    const ff = spawn("ffmpeg", [
      "-hide_banner",
      "-loglevel",
      "error",
      "-re",
      "-f",
      "lavfi",
      "-i",
      "testsrc2=size=64x64:rate=5",
      "-t",
      "1",
      "-c:v",
      "libx264",
      "-f",
      "flv",
      `rtmp://127.0.0.1:${port}/live/key`,
    ], { stdio: "ignore" });
    const exited = new Promise<void>((r) => ff.on("exit", () => r()));
    const failed = exited.then(() => {
      throw new Error("ffmpeg exited before sending connect");
    });
    let guard: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      guard = setTimeout(() => reject(new Error("no connect from ffmpeg within 30 s")), 30_000);
    });
    try {
      const message = await Promise.race([first, failed, timeout]);
      assert.equal(handshake?.done, true);
      assert.equal(handshake?.usedDigest, true, "FFmpeg sends the FP9 digest layout");
      assert.equal(message.type, 20);
      assert.equal(message.streamId, 0);
      assert.deepEqual(
        [...message.payload.subarray(0, 10)],
        [0x02, 0x00, 0x07, ...Buffer.from("connect")],
      );
    } finally {
      clearTimeout(guard);
      failed.catch(() => {});
      ff.kill("SIGKILL");
      await exited;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server!.close(() => r()));
    }
  });
});

describe("handshake with a native HMAC", () => {
  it("node:crypto's HMAC-SHA256 equals the pure one, and a digest handshake completes with it", async () => {
    const { nativeHmacSha256 } = await import("../util/native_hmac.ts");
    const { hmacSha256 } = await import("../protocol/sha256.ts");
    const { ClientHandshake: Client, ServerHandshake: Server } = await import(
      "../protocol/handshake.ts"
    );
    const key = new Uint8Array(68).map((_, i) => i * 7);
    const a = new Uint8Array(1000).map((_, i) => i * 13);
    const b = new Uint8Array(504).map((_, i) => 255 - i);
    assert.deepEqual(nativeHmacSha256(key, a, b), hmacSha256(key, a, b));
    const client = new Client();
    const server = new Server({ hmac: nativeHmacSha256 });
    const s = server.push(client.start());
    const c = client.push(s.send!);
    const end = server.push(c.send!);
    assert.equal(c.done && end.done, true);
    assert.equal(server.usedDigest, true, "the pure client accepted the native digest");
  });
});
