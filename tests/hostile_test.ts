// Hostile peers against an in-process RtmpServer, each next to a real ffmpeg publish: the
// attack must be closed within the time its limit documents, the server must stay up, and the
// publish next to it must lose nothing. Plus the memory bound of the chunk decoders themselves.
//
// Bounded: one short clip, small limits, a few dozen connections; loopback only.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { rm } from "node:fs/promises";
import { RtmpServer } from "../server.ts";
import type { MediaPacket, PublishSession } from "../server.ts";
import { BlockPool } from "../protocol/block_pool.ts";
import { ByteBudget } from "../protocol/byte_budget.ts";
import { ChunkDecoder } from "../protocol/chunk_decoder.ts";
import { RtmpError } from "../errors.ts";
import {
  countPackets,
  ffmpegPublish,
  hasCommand,
  makeTestFlv,
  type PacketCounts,
} from "./support/peers.ts";
import { collect, within } from "./support/media.ts";
import { makeTestCert } from "./support/tls_cert.ts";
import { prng } from "./support/util.ts";
import {
  chunked,
  chunkHeader,
  connectBody,
  hostileConnect,
  type HostilePeer,
  hugeStringBomb,
  nestedObjectBomb,
  setChunkSize,
  stalledTlsPeer,
} from "./support/hostile.ts";

// A missing ffmpeg under CI=true must fail, not skip: the suite then runs and ffmpeg fails.
const skip = !hasCommand("ffmpeg") && process.env.CI !== "true" ? "ffmpeg is not installed" : false;
const SEED = Number(process.env.RTMP_TEST_SEED ?? 0x5eed);

const HANDSHAKE_TIMEOUT = 1000;
const PUBLISH_TIMEOUT = 2000;
/** The server checks its deadlines every 250 ms; timers on a loaded machine lag a little more. */
const SLACK = 1000;
/** "At once": a protocol error closes the connection as soon as the bytes are read. */
const AT_ONCE = 1000;

/**
 * Media packets as ffprobe counts them: AVC NALU packets (not the sequence header or the
 * end-of-sequence marker, FLV 10.1 E.4.3.1) and AAC raw frames (not the sequence header).
 */
function countMedia(packets: MediaPacket[]): { video: number; audio: number } {
  let video = 0;
  let audio = 0;
  for (const p of packets) {
    if (p.type === "video") {
      const avc = (p.payload[0] & 0x0f) === 7;
      if (!avc || p.payload[1] === 1) video++;
    } else if (p.type === "audio") {
      const header = p.payload[0] >> 4 === 10 && p.payload[1] === 0;
      if (!header) audio++;
    }
  }
  return { video, audio };
}

describe("RtmpServer under hostile peers", { skip }, () => {
  let source = "";
  let expected: PacketCounts;
  let server: RtmpServer;
  let port = 0;
  let tlsPort = 0;
  const sessions = new Map<string, Promise<MediaPacket[]>>();
  const log: string[] = [];
  let keys = 0;

  before(async () => {
    console.log(`hostile_test: RTMP_TEST_SEED=${SEED}`);
    source = await makeTestFlv({ seconds: 1 });
    expected = await countPackets(source);
    const { cert, key, dir } = await makeTestCert();
    await rm(dir, { recursive: true, force: true });
    server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: (line) => log.push(line),
      limits: {
        handshakeTimeout: HANDSHAKE_TIMEOUT,
        publishTimeout: PUBLISH_TIMEOUT,
        // Every attacker here comes from 127.0.0.1: let them all in, so each attack reaches the
        // code it targets instead of being evicted by the pending pool (tests/hostile_server_test.ts
        // covers the pools).
        maxPendingConnectionsPerIp: 1000,
        maxPendingConnections: 1000,
      },
      onSession(session: PublishSession) {
        sessions.set(session.name, collect(session));
      },
    });
    port = server.addr.port;
    tlsPort = (await server.listenOn({ hostname: "127.0.0.1", port: 0, tls: { cert, key } })).port;
  });

  after(async () => {
    await server?.close();
  });

  /**
   * Runs `attack` next to a real-time ffmpeg publish. Asserts the attacker is closed within
   * `deadline` ms of connecting (and not before `notBefore`), the publish loses no packet, and
   * the server still accepts connections. Returns how long the attacker lasted.
   */
  async function underAttack(
    attack: () => Promise<HostilePeer | HostilePeer[]>,
    deadline: number,
    notBefore = 0,
  ): Promise<number[]> {
    const key = `k${keys++}`;
    const published = ffmpegPublish(source, `rtmp://127.0.0.1:${port}/live/${key}`, {
      realtime: true,
      timeoutMs: 20_000,
    });
    const attacked = await attack();
    const peers = Array.isArray(attacked) ? attacked : [attacked];
    const lasted = await within(
      Promise.all(peers.map((p) => p.closed)),
      deadline + SLACK,
      "hostile connections closed by the server",
    ).finally(() => peers.forEach((p) => p.destroy()));
    for (const ms of lasted) {
      assert.ok(ms <= deadline + SLACK, `closed after ${ms.toFixed(0)} ms, deadline ${deadline}`);
      assert.ok(ms >= notBefore, `closed after ${ms.toFixed(0)} ms, before ${notBefore}`);
    }
    const result = await published;
    assert.equal(result.code, 0, `the concurrent publish failed:\n${result.stderr}`);
    const packets = await within(
      sessions.get(key) ?? Promise.reject(new Error("no session")),
      5000,
      "session end",
    );
    assert.deepEqual(countMedia(packets), { video: expected.video, audio: expected.audio });
    // Still up: a new connection gets a handshake answer.
    const probe = await hostileConnect(port);
    await within(probe.handshake(), 2000, "handshake with the server after the attack");
    probe.destroy();
    return lasted;
  }

  it("handshake garbage (an HTTP request) is closed at once", async () => {
    await underAttack(async () => {
      const peer = await hostileConnect(port);
      peer.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      return peer;
    }, AT_ONCE);
  });

  it("random bytes after a valid C0 are closed by the handshake or publish deadline", async () => {
    const random = prng(SEED);
    await underAttack(async () => {
      const peer = await hostileConnect(port);
      const junk = new Uint8Array(8000).map(() => Math.floor(random() * 256));
      junk[0] = 3;
      peer.write(junk);
      return peer;
    }, HANDSHAKE_TIMEOUT + PUBLISH_TIMEOUT);
  });

  it("slowloris (one handshake byte every 100 ms) is closed at handshakeTimeout", async () => {
    let trickling: Promise<void> = Promise.resolve();
    await underAttack(
      async () => {
        const peer = await hostileConnect(port);
        const c0c1 = new Uint8Array(1537);
        c0c1[0] = 3;
        trickling = peer.trickle(c0c1, 100);
        return peer;
      },
      HANDSHAKE_TIMEOUT,
      HANDSHAKE_TIMEOUT - 100,
    );
    await trickling;
  });

  for (const [what, size] of [["0", 0], ["2^31 (top bit set)", 0x80000000]] as const) {
    it(`Set Chunk Size ${what} is closed at once`, async () => {
      await underAttack(async () => {
        const peer = await hostileConnect(port);
        await peer.handshake();
        peer.write(setChunkSize(size));
        return peer;
      }, AT_ONCE);
    });
  }

  it("a chunk stream flood (hundreds of csids, each a 16 MiB message begun) is closed at once", async () => {
    await underAttack(async () => {
      const peer = await hostileConnect(port);
      await peer.handshake();
      const parts: Uint8Array[] = [];
      for (let csid = 3; csid < 400; csid++) {
        parts.push(chunkHeader(csid, 9, 0xffffff, 1), new Uint8Array([0x17]));
      }
      for (const p of parts) peer.write(p);
      return peer;
    }, AT_ONCE);
  });

  it("an AMF bomb (connect nested 10 000 objects deep) is closed at once", async () => {
    await underAttack(async () => {
      const peer = await hostileConnect(port);
      await peer.handshake();
      peer.write(chunked(3, 20, nestedObjectBomb(10_000)));
      return peer;
    }, AT_ONCE);
  });

  it("an AMF string announcing 4 GiB with 3 bytes behind it is closed at once", async () => {
    await underAttack(async () => {
      const peer = await hostileConnect(port);
      await peer.handshake();
      peer.write(chunked(3, 20, hugeStringBomb(0xfffffff0)));
      return peer;
    }, AT_ONCE);
  });

  it("a 16 MiB command announced and never sent is closed by publishTimeout", async () => {
    await underAttack(async () => {
      const peer = await hostileConnect(port);
      await peer.handshake();
      peer.write(chunked(3, 20, connectBody("live")));
      peer.write(chunkHeader(3, 20, 0xffffff));
      peer.write(new Uint8Array(100));
      return peer;
    }, HANDSHAKE_TIMEOUT + PUBLISH_TIMEOUT);
  });

  it("TLS garbage on the RTMPS listener is closed at once", async () => {
    await underAttack(async () => {
      const peer = await hostileConnect(tlsPort);
      peer.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + "\x16\x03\x01\xff\xff".repeat(50));
      return peer;
    }, AT_ONCE);
  });

  it("a TLS peer that stalls in the RTMP handshake is closed at handshakeTimeout", async () => {
    // It never reads again, so it never answers the server's close_notify: the FIN must go out
    // anyway (on Bun 1.4 a TLS end() alone waited for the answer forever).
    await underAttack(() => stalledTlsPeer(tlsPort), HANDSHAKE_TIMEOUT, HANDSHAKE_TIMEOUT - 100);
  });

  it("40 connections announcing 3 × 16 MiB each hold memory for the bytes they sent only", async () => {
    const N = 40;
    const base = process.memoryUsage().external;
    let peak = base;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, process.memoryUsage().external);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    try {
      await underAttack(async () => {
        const peers = await Promise.all(Array.from({ length: N }, () => hostileConnect(port)));
        await Promise.all(peers.map((p) => p.handshake()));
        for (const peer of peers) {
          // Three partial messages of 16 MiB - 1 announced, 2 KB of each sent.
          for (const csid of [4, 5, 6]) {
            peer.write(chunkHeader(csid, 9, 0xffffff, 1));
            for (let i = 0; i < 16; i++) {
              if (i > 0) peer.write(new Uint8Array([0xc0 | csid]));
              peer.write(new Uint8Array(128).fill(0x17));
            }
          }
        }
        return peers;
      }, HANDSHAKE_TIMEOUT + PUBLISH_TIMEOUT);
    } finally {
      sampling = false;
      await sampler;
    }
    // Before the fix this was N × 48 MiB; now it is what arrived plus per-connection buffers.
    const grown = peak - base;
    assert.ok(grown < N * (1 << 20), `external memory grew by ${(grown / 2 ** 20).toFixed(1)} MiB`);
  });

  it("the server is still empty and listening at the end", async () => {
    await within(
      (async () => {
        while (server.connectionCount > 0) await new Promise((r) => setTimeout(r, 20));
      })(),
      3000,
      "every connection gone",
    );
    assert.equal(server.streamCount, 0);
    assert.ok(log.length > 0, "the server logged the attacks");
  });
});

describe("ChunkDecoders sharing a ByteBudget under announced-length attacks", () => {
  it("200 decoders announcing 16 MiB hold what was sent, and the budget refuses past its limit", () => {
    const limit = 4 << 20;
    const budget = new ByteBudget({ limit });
    // One pool for all, as in a server; 4 KiB blocks.
    const pool = new BlockPool({ budget, blockSize: 4096 });
    const decoders: ChunkDecoder[] = [];
    // Chunk size 3000, so each message below is one whole first chunk and the next header
    // starts right after it.
    const setSize = setChunkSize(3000);
    let sent = 0;
    const feed = (d: ChunkDecoder): void => {
      for (const csid of [4, 5, 6]) {
        d.push(chunkHeader(csid, 9, 0xffffff, 1));
        d.push(new Uint8Array(3000).fill(csid));
        assert.equal(d.bufferedBytes > 0, true);
      }
    };
    for (let i = 0; i < 200; i++) {
      const d = new ChunkDecoder({ pool });
      d.push(setSize);
      feed(d);
      sent += 3 * 3000;
      decoders.push(d);
    }
    const held = decoders.reduce((n, d) => n + d.partialBytes, 0);
    assert.equal(budget.used, held, "every held byte is charged to the budget");
    // One 4 KiB block per message.
    assert.equal(held, 200 * 3 * 4096);
    assert.ok(held >= sent && held <= 2 * sent, `held ${held} for ${sent} bytes sent`);
    assert.ok(held < 200 * 3 * (16 << 20) / 1000, "nothing like the announced 9.4 GiB");

    // More of the same until the budget refuses: it never goes past its limit.
    let refused: unknown;
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const d = new ChunkDecoder({ pool });
      d.push(setSize);
      try {
        feed(d);
        decoders.push(d);
      } catch (e) {
        refused = e;
      }
      assert.ok(budget.used <= limit);
    }
    assert.ok(refused instanceof RtmpError, `expected a refusal, got ${refused}`);
    assert.equal(refused.code, "LIMIT_EXCEEDED");
    assert.match(refused.message, /shared partial-message budget is exhausted/);
    assert.equal(budget.used, decoders.reduce((n, d) => n + d.partialBytes, 0));

    for (const d of decoders) d.dispose();
    assert.equal(budget.used, 0);
  });
});
