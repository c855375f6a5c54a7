// Keyframe and sequence-header predicates on packets and on raw payloads: legacy AVC/AAC (an
// FFmpeg-made FLV), Enhanced RTMP AV1/Opus (the E-RTMP fixtures), HEVC, ModEx and multitrack tags
// built here. The raw-payload forms must agree with the parsed ones on every body that parses.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import {
  AacPacketType,
  AudioPacketType,
  type AudioTag,
  buildAudioTag,
  SoundFormat,
} from "../protocol/audio_tag.ts";
import { MessageType } from "../protocol/message.ts";
import {
  isKeyframe,
  isKeyframePayload,
  isSequenceHeader,
  isSequenceHeaderPayload,
  type MediaPacket,
  messageTypeOf,
  packetFromMessage,
  VideoFrameType,
} from "../protocol/packet.ts";
import {
  AvcPacketType,
  buildVideoTag,
  isVideoKeyframe,
  VideoCodecId,
  VideoCommand,
  VideoPacketType,
  type VideoTag,
} from "../protocol/video_tag.ts";
import { ERTMP_FIXTURES, fixturePath } from "./support/fixtures.ts";
import { readFlvTags } from "./support/media.ts";
import { prng } from "./support/util.ts";

function packet(type: number, payload: Uint8Array): MediaPacket {
  const p = packetFromMessage({ type, streamId: 1, timestamp: 0, payload });
  assert.ok(p);
  return p;
}
const video = (tag: VideoTag): MediaPacket => packet(MessageType.Video, buildVideoTag(tag));
const audio = (tag: AudioTag): MediaPacket => packet(MessageType.Audio, buildAudioTag(tag));

/** The four predicates of a packet, checking that the payload forms agree with the parsed ones. */
function classify(p: MediaPacket): { key: boolean; header: boolean } {
  const key = isKeyframe(p);
  const header = isSequenceHeader(p);
  if (p.type === "video") assert.equal(isKeyframePayload(p.payload), key, "isKeyframePayload");
  if (p.type !== "data") {
    assert.equal(isSequenceHeaderPayload(p.type, p.payload), header, "isSequenceHeaderPayload");
  }
  return { key, header };
}

const KEY = { key: true, header: false };
const HEADER = { key: false, header: true };
const NEITHER = { key: false, header: false };

describe("keyframe and sequence-header predicates on real files", () => {
  it("legacy AVC + AAC (FFmpeg): the avcC and ASC are headers, only IDR NALUs are keyframes", async () => {
    const tags = await readFlvTags(fixturePath("ffmpeg_publish_source.flv"));
    const seen = { videoHeaders: 0, audioHeaders: 0, keyframes: 0, frameType1: 0, ends: 0 };
    for (const t of tags) {
      const p = packet(t.type, t.data);
      const c = classify(p);
      if (p.type === "data") {
        assert.deepEqual(c, NEITHER);
        continue;
      }
      assert.ok(p.tag && !p.tag.enhanced);
      if (p.type === "video") {
        assert.ok(!p.tag.enhanced && "codecId" in p.tag);
        if (p.tag.frameType === VideoFrameType.KeyFrame) seen.frameType1++;
        if (c.header) seen.videoHeaders++;
        if (c.key) seen.keyframes++;
        if (p.tag.avcPacketType === AvcPacketType.EndOfSequence) seen.ends++;
        assert.equal(c.header, p.tag.avcPacketType === AvcPacketType.SequenceHeader);
      } else {
        if (c.header) seen.audioHeaders++;
        assert.equal(c.key, false);
      }
    }
    assert.equal(seen.videoHeaders, 1);
    assert.equal(seen.audioHeaders, 1);
    assert.ok(seen.keyframes >= 1);
    // FFmpeg marks the header and the end of sequence with frame type 1 too: counting frame
    // types would count both as keyframes.
    assert.equal(seen.ends, 1);
    assert.equal(seen.frameType1, seen.keyframes + seen.videoHeaders + seen.ends);
    const first = packet(MessageType.Video, tags.find((t) => t.type === 9)!.data);
    assert.deepEqual(classify(first), HEADER);
  });

  for (const name of ERTMP_FIXTURES) {
    it(`Enhanced RTMP AV1 + Opus (${name}): SequenceStart is a header, Metadata is neither`, async () => {
      const tags = await readFlvTags(fixturePath(name));
      let av1Headers = 0, opusHeaders = 0, keyframes = 0, metadata = 0;
      for (const t of tags) {
        if (t.type !== 8 && t.type !== 9) continue;
        const p = packet(t.type, t.data);
        const c = classify(p);
        assert.ok(p.type !== "data" && p.tag?.enhanced);
        if (p.type === "video" && p.tag.enhanced) {
          if (p.tag.packetType === VideoPacketType.SequenceStart) {
            assert.deepEqual(c, HEADER);
            av1Headers++;
          } else if (p.tag.packetType === VideoPacketType.Metadata) {
            assert.deepEqual(c, NEITHER);
            metadata++;
          } else if (c.key) {
            keyframes++;
          }
        } else if (p.type === "audio" && p.tag.enhanced) {
          assert.equal(c.header, p.tag.packetType === AudioPacketType.SequenceStart);
          if (c.header) opusHeaders++;
        }
      }
      assert.ok(av1Headers >= 1 && keyframes >= 1, `${av1Headers} headers ${keyframes} keys`);
      assert.equal(opusHeaders, 1);
      assert.equal(metadata, 1);
    });
  }
});

describe("keyframe and sequence-header predicates on built tags", () => {
  const data = new Uint8Array([0, 0, 0, 2, 0x26, 0x01]);

  it("HEVC (hvc1): SequenceStart, CodedFrames, CodedFramesX, SequenceEnd", () => {
    const ex = (frameType: number, packetType: number): MediaPacket =>
      video({ enhanced: true, frameType, packetType, fourCc: "hvc1", data });
    const { KeyFrame, InterFrame } = VideoFrameType;
    assert.deepEqual(classify(ex(KeyFrame, VideoPacketType.SequenceStart)), HEADER);
    assert.deepEqual(classify(ex(KeyFrame, VideoPacketType.CodedFrames)), KEY);
    assert.deepEqual(classify(ex(KeyFrame, VideoPacketType.CodedFramesX)), KEY);
    assert.deepEqual(classify(ex(InterFrame, VideoPacketType.CodedFrames)), NEITHER);
    assert.deepEqual(classify(ex(KeyFrame, VideoPacketType.SequenceEnd)), NEITHER);
    assert.deepEqual(classify(ex(KeyFrame, VideoPacketType.Metadata)), NEITHER);
    assert.deepEqual(classify(ex(KeyFrame, VideoPacketType.Mpeg2TsSequenceStart)), HEADER);
  });

  it("legacy codecs: AVC and codec-12 HEVC headers, end of sequence, VP6, command frames", () => {
    const legacy = (frameType: number, codecId: number, avcPacketType?: number): MediaPacket =>
      video({ enhanced: false, frameType, codecId, avcPacketType, compositionTime: 0, data });
    for (const codec of [VideoCodecId.Avc, VideoCodecId.Hevc]) {
      assert.deepEqual(classify(legacy(1, codec, AvcPacketType.SequenceHeader)), HEADER);
      assert.deepEqual(classify(legacy(1, codec, AvcPacketType.Nalu)), KEY);
      assert.deepEqual(classify(legacy(2, codec, AvcPacketType.Nalu)), NEITHER);
      assert.deepEqual(classify(legacy(1, codec, AvcPacketType.EndOfSequence)), NEITHER);
    }
    const vp6 = video({ enhanced: false, frameType: 1, codecId: VideoCodecId.On2Vp6, data });
    assert.deepEqual(classify(vp6), KEY);
    const command = video({
      enhanced: false,
      frameType: VideoFrameType.Command,
      codecId: VideoCodecId.Avc,
      command: VideoCommand.StartSeek,
      data: new Uint8Array(0),
    });
    assert.deepEqual(classify(command), NEITHER);
    const exCommand = video({
      enhanced: true,
      frameType: VideoFrameType.Command,
      packetType: VideoPacketType.SequenceStart,
      command: VideoCommand.EndSeek,
    });
    assert.deepEqual(classify(exCommand), NEITHER);
  });

  it("ModEx chains (TimestampOffsetNano) in front of the packet type", () => {
    const withNano = (frameType: number, packetType: number): MediaPacket =>
      video({
        enhanced: true,
        frameType,
        packetType,
        fourCc: "av01",
        timestampOffsetNano: 500,
        data,
      });
    assert.deepEqual(classify(withNano(1, VideoPacketType.CodedFramesX)), KEY);
    assert.deepEqual(classify(withNano(1, VideoPacketType.SequenceStart)), HEADER);
    assert.deepEqual(classify(withNano(2, VideoPacketType.CodedFrames)), NEITHER);
    const opus = audio({
      enhanced: true,
      packetType: AudioPacketType.SequenceStart,
      fourCc: "Opus",
      timestampOffsetNano: 7,
      data,
    });
    assert.deepEqual(classify(opus), HEADER);
  });

  it("multitrack: the per-track packet type decides, in all three modes", () => {
    const tracks = (fourCc: string) => [
      { trackId: 0, fourCc, data },
      { trackId: 1, fourCc, data },
    ];
    for (
      const [type, list] of [[0, tracks("hvc1").slice(0, 1)], [1, tracks("hvc1")], [2, [
        { trackId: 0, fourCc: "hvc1", data },
        { trackId: 1, fourCc: "av01", data },
      ]]] as const
    ) {
      const mt = (frameType: number, packetType: number): MediaPacket =>
        video({ enhanced: true, frameType, packetType, multitrack: { type, tracks: [...list] } });
      assert.deepEqual(classify(mt(1, VideoPacketType.SequenceStart)), HEADER, `video ${type}`);
      assert.deepEqual(classify(mt(1, VideoPacketType.CodedFrames)), KEY, `video ${type}`);
      assert.deepEqual(classify(mt(2, VideoPacketType.CodedFramesX)), NEITHER, `video ${type}`);
      const a = (packetType: number): MediaPacket =>
        audio({
          enhanced: true,
          packetType,
          multitrack: { type, tracks: list.map((t) => ({ ...t, fourCc: "Opus" })) },
        });
      assert.deepEqual(classify(a(AudioPacketType.SequenceStart)), HEADER, `audio ${type}`);
      assert.deepEqual(classify(a(AudioPacketType.CodedFrames)), NEITHER, `audio ${type}`);
    }
  });

  it("legacy audio: only AAC AACPacketType 0 is a header; data and empty bodies are neither", () => {
    const aac = (aacPacketType: number): MediaPacket =>
      audio({
        enhanced: false,
        soundFormat: SoundFormat.Aac,
        soundRate: 3,
        soundSize: 1,
        soundType: 1,
        aacPacketType,
        data,
      });
    assert.deepEqual(classify(aac(AacPacketType.SequenceHeader)), HEADER);
    assert.deepEqual(classify(aac(AacPacketType.Raw)), NEITHER);
    const mp3 = new Uint8Array([SoundFormat.Mp3 << 4 | 0x0f, 0]); // byte 1 = 0, not AAC
    assert.deepEqual(classify(packet(MessageType.Audio, mp3)), NEITHER);
    for (const type of [MessageType.Audio, MessageType.Video]) {
      const empty = packet(type, new Uint8Array(0));
      assert.deepEqual(classify(empty), NEITHER);
    }
    const meta = packet(MessageType.DataAmf0, new Uint8Array([2, 0, 1, 0x61]));
    assert.equal(messageTypeOf(meta), MessageType.DataAmf0);
    assert.deepEqual(classify(meta), NEITHER);
  });

  it("isVideoKeyframe is false for a legacy AVC sequence header (frame type 1)", () => {
    const header = video({
      enhanced: false,
      frameType: 1,
      codecId: 7,
      avcPacketType: 0,
      compositionTime: 0,
      data,
    });
    assert.ok(header.type === "video" && header.tag);
    assert.equal(isVideoKeyframe(header.tag), false);
  });
});

describe("raw-payload predicates agree with the parsed ones", () => {
  const seed = Number(process.env.RTMP_TEST_SEED ?? 20240601);
  it(`on random bodies that parse (RTMP_TEST_SEED=${seed})`, () => {
    console.log(`packet predicates: RTMP_TEST_SEED=${seed}`);
    const rnd = prng(seed);
    // Header bytes weighted towards the interesting values: AVC/HEVC, AAC, ExHeader, ModEx,
    // Multitrack, FourCCs the parsers know.
    const firsts = [0x17, 0x27, 0x1c, 0x57, 0x14, 0xaf, 0x2f, 0x90, 0x97, 0x95, 0x91];
    let parsed = 0, keys = 0, headers = 0;
    for (let i = 0; i < 20_000; i++) {
      const n = Math.floor(rnd() * 24);
      const body = new Uint8Array(n);
      for (let k = 0; k < n; k++) body[k] = Math.floor(rnd() * 256);
      if (n > 0 && rnd() < 0.6) {
        const ex = 0x80 | Math.floor(rnd() * 8) << 4 | Math.floor(rnd() * 8);
        body[0] = rnd() < 0.5 ? firsts[Math.floor(rnd() * firsts.length)] : ex;
        if (n > 1 && rnd() < 0.3) body[1] = Math.floor(rnd() * 3); // packet types 0..2
      }
      for (const type of [MessageType.Audio, MessageType.Video]) {
        const p = packet(type, body);
        if (p.type === "data" || p.tag === null) continue;
        parsed++;
        const where = `${p.type} ${Array.from(body, (b) => b.toString(16)).join(" ")}`;
        if (p.type === "video") assert.equal(isKeyframePayload(body), isKeyframe(p), where);
        assert.equal(isSequenceHeaderPayload(p.type, body), isSequenceHeader(p), where);
        if (isKeyframe(p)) keys++;
        if (isSequenceHeader(p)) headers++;
      }
    }
    assert.ok(parsed > 5000 && keys > 500 && headers > 500, `${parsed} ${keys} ${headers}`);
  });
});
