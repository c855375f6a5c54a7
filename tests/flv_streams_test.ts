/**
 * FlvMuxStream / FlvDemuxStream: packets → FLV bytes → tags, on an ffmpeg-made H.264/AAC file
 * (checked with ffprobe) and on the Enhanced RTMP fixtures (AV1 + Opus), byte for byte.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { RtmpError } from "../errors.ts";
import { FlvDemuxStream, FlvMuxStream } from "../flv/streams.ts";
import { flvHeaderFromMetadata, flvTagToPacket, packetToFlvTag } from "../flv/tags.ts";
import { ecmaArray } from "../protocol/amf.ts";
import { decodeAmf0 } from "../protocol/amf0.ts";
import { encodeData } from "../protocol/data.ts";
import { encodeFlvHeader, encodeFlvTag, FlvDemuxer, type FlvTag } from "../protocol/flv.ts";
import { type MediaPacket, packetFromMessage } from "../protocol/packet.ts";
import { ERTMP_FIXTURES, fixturePath } from "./support/fixtures.ts";
import { packetsOfFlv } from "./support/live_source.ts";
import { countPackets, hasCommand, makeTestFlv, tempDir } from "./support/peers.ts";
import { concat, prng } from "./support/util.ts";

const SEED = Number(process.env.RTMP_TEST_SEED ?? 20240611);
console.log(`flv_streams_test: RTMP_TEST_SEED=${SEED}`);

const noFfmpeg = process.env.CI === "true" || (hasCommand("ffmpeg") && hasCommand("ffprobe"))
  ? false
  : "ffmpeg/ffprobe not installed";

async function mux(
  packets: Iterable<MediaPacket>,
  options?: ConstructorParameters<typeof FlvMuxStream>[0],
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const stream = ReadableStream.from(packets).pipeThrough(new FlvMuxStream(options));
  for await (const c of stream) chunks.push(c);
  return concat(chunks);
}

/** Demuxes bytes fed in random splits (1..maxSplit bytes). */
async function demux(
  bytes: Uint8Array,
  rnd: () => number,
  maxSplit: number,
  options?: ConstructorParameters<typeof FlvDemuxStream>[0],
): Promise<{ tags: FlvTag[]; stream: FlvDemuxStream }> {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = 1 + Math.floor(rnd() * maxSplit);
    parts.push(bytes.subarray(i, i + n));
    i += n;
  }
  const stream = new FlvDemuxStream(options);
  const tags: FlvTag[] = [];
  for await (const t of ReadableStream.from(parts).pipeThrough(stream)) tags.push(t);
  return { tags, stream };
}

function dataPacket(
  handler: string,
  values: Parameters<typeof encodeData>[0]["values"],
  amf3 = false,
): MediaPacket {
  const p = packetFromMessage(encodeData({ handler, values }, { streamId: 1, amf3 }));
  assert.ok(p !== null);
  return p;
}

describe("FlvMuxStream / FlvDemuxStream", () => {
  it("re-muxes an ffmpeg H.264/AAC FLV byte for byte; ffprobe counts every packet", {
    skip: noFfmpeg,
  }, async () => {
    const source = await makeTestFlv({ seconds: 2, bFrames: true });
    const original = new Uint8Array(await readFile(source));
    const packets = await packetsOfFlv(source);
    const bytes = await mux(packets);
    assert.equal(bytes.length, original.length);
    assert.deepEqual(bytes, original);
    const out = join(await tempDir("flv-streams-"), "remux.flv");
    await writeFile(out, bytes);
    const [want, got] = [await countPackets(source), await countPackets(out)];
    assert.ok(want.video > 0 && want.audio > 0, `source has packets: ${JSON.stringify(want)}`);
    assert.deepEqual(got, want);
  });

  for (const name of ERTMP_FIXTURES) {
    it(`round-trips the E-RTMP fixture ${name} (AV1 + Opus) in random splits`, async () => {
      const file = new Uint8Array(await readFile(fixturePath(name)));
      const d = new FlvDemuxer({ strict: true });
      const tags = d.push(file);
      assert.equal(d.end().clean, true);
      const packets = tags.map(flvTagToPacket);
      assert.ok(packets.every((p) => p !== null), "every fixture tag maps to a packet");
      const enhanced = packets.filter((p) => p!.type === "video" && p!.tag?.enhanced === true);
      assert.ok(enhanced.length > 100, `expected enhanced video packets, got ${enhanced.length}`);
      const bytes = await mux(packets as MediaPacket[]);
      assert.deepEqual(bytes, file, "muxed bytes equal the fixture");
      const rnd = prng(SEED + name.length);
      for (const maxSplit of [7, 4096]) {
        const { tags: back, stream } = await demux(bytes, rnd, maxSplit, { strict: true });
        assert.deepEqual(stream.header, { version: 1, audio: true, video: true });
        assert.deepEqual(stream.end, { truncatedBytes: 0, clean: true });
        assert.equal(back.length, tags.length);
        assert.deepEqual(back, tags);
      }
    });
  }

  it("writes @setDataFrame metadata as plain onMetaData and AMF3 data as AMF0", async () => {
    const meta = ecmaArray({ width: 640, height: 360, videocodecid: 7 });
    const wrapped = dataPacket("@setDataFrame", ["onMetaData", meta]);
    const plainTag = packetToFlvTag(wrapped);
    assert.ok(plainTag !== null);
    assert.equal(plainTag.type, 18);
    assert.deepEqual(decodeAmf0(plainTag.data), ["onMetaData", meta]);
    const amf3 = dataPacket("onTextData", [{ text: "hello" }], true);
    assert.equal(amf3.type === "data" && amf3.amf3, true);
    const amf3Tag = packetToFlvTag(amf3);
    assert.ok(amf3Tag !== null);
    assert.deepEqual(decodeAmf0(amf3Tag.data), ["onTextData", { text: "hello" }]);
    const broken: MediaPacket = {
      type: "data",
      timestamp: 0,
      payload: new Uint8Array([0, 0xff]),
      amf3: true,
      data: null,
    };
    assert.equal(packetToFlvTag(broken), null);
    const bytes = await mux([wrapped, broken, amf3], { audio: false });
    const tags = new FlvDemuxer({ strict: true }).push(bytes);
    assert.equal(tags.length, 2, "the undecodable AMF3 message is skipped");
    assert.deepEqual(tags.map((t) => t.data), [plainTag.data, amf3Tag.data]);
  });

  it("sets the header flags and can leave the header out", async () => {
    const audio: MediaPacket = {
      type: "audio",
      timestamp: 0x01020304,
      payload: new Uint8Array([0xaf, 1, 0x21]),
      tag: null,
    };
    const videoOnly = await mux([], { audio: false, video: true });
    assert.deepEqual(videoOnly, encodeFlvHeader({ version: 1, audio: false, video: true }));
    const noHeader = await mux([audio], { header: false });
    assert.deepEqual(
      noHeader,
      encodeFlvTag({ type: 8, timestamp: 0x01020304, streamId: 0, data: audio.payload }),
    );
    const meta = dataPacket("@setDataFrame", ["onMetaData", ecmaArray({ audiocodecid: 10 })]);
    assert.deepEqual(flvHeaderFromMetadata(meta), { version: 1, audio: true, video: false });
    assert.equal(flvHeaderFromMetadata(dataPacket("onTextData", [{ text: "x" }])), null);
    assert.equal(flvHeaderFromMetadata(audio), null);
  });

  it("encodes a packet once for every muxer sharing a cache", async () => {
    const cache = new WeakMap<MediaPacket, Uint8Array>();
    const packet: MediaPacket = {
      type: "video",
      timestamp: 40,
      payload: new Uint8Array([0x27, 1, 0, 0, 0, 9, 9]),
      tag: null,
    };
    const outputs: Uint8Array[][] = [];
    for (let i = 0; i < 2; i++) {
      const chunks: Uint8Array[] = [];
      const s = ReadableStream.from([packet]).pipeThrough(new FlvMuxStream({ cache }));
      for await (const c of s) chunks.push(c);
      outputs.push(chunks);
    }
    assert.equal(outputs[0].length, 2);
    assert.equal(outputs[0][1], outputs[1][1], "the same encoded chunk object");
    assert.equal(cache.get(packet), outputs[0][1]);
  });

  it("errors the mux stream on a packet no FLV tag can hold", async () => {
    const bad: MediaPacket = {
      type: "audio",
      timestamp: -1,
      payload: new Uint8Array([0xaf, 1]),
      tag: null,
    };
    await assert.rejects(mux([bad]), (e: unknown) => {
      assert.ok(e instanceof RtmpError);
      assert.equal(e.code, "INVALID_ARGUMENT");
      return true;
    });
  });

  it("reports a truncated stream at its end and errors on a bad header", async () => {
    const tag = encodeFlvTag({ type: 9, timestamp: 0, streamId: 0, data: new Uint8Array(20) });
    const header = encodeFlvHeader({ version: 1, audio: false, video: true });
    const rnd = prng(SEED);
    const cut = concat([header, tag, tag.subarray(0, 15)]);
    const { tags, stream } = await demux(cut, rnd, 5);
    assert.equal(tags.length, 1);
    assert.deepEqual(stream.end, { truncatedBytes: 15, clean: false });
    const bad = concat([new Uint8Array([0x46, 0x4c, 0x57]), header.subarray(3), tag]);
    await assert.rejects(demux(bad, rnd, 64), (e: unknown) => {
      assert.ok(e instanceof RtmpError);
      assert.equal(e.code, "MALFORMED");
      assert.match(e.message, /signature "FLV"/);
      return true;
    });
    const wrongPrev = concat([header, tag.subarray(0, tag.length - 1), new Uint8Array([0])]);
    const lax = await demux(concat([wrongPrev, tag]), rnd, 64);
    assert.equal(lax.tags.length, 2);
    assert.equal(lax.stream.previousTagSizeMismatches, 1);
    await assert.rejects(demux(concat([wrongPrev, tag]), rnd, 64, { strict: true }), /Previous/);
  });
});
