import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  AvcPacketType,
  AvMultitrackType,
  buildVideoTag,
  type ExVideoTag,
  FourCc,
  isVideoKeyframe,
  isVideoSequenceHeader,
  type LegacyVideoTag,
  parseVideoTag,
  VideoCodecId,
  VideoCommand,
  VideoFrameType,
  VideoPacketType,
  type VideoTag,
} from "../protocol/video_tag.ts";
import { asc, cat, hex, throwsCode } from "./support/util.ts";

function roundTrip(body: Uint8Array): VideoTag {
  const tag = parseVideoTag(body);
  assert.deepEqual(buildVideoTag(tag), body, "build(parse(x)) must equal x");
  return tag;
}

describe("legacy video tags (FLV 10.1 E.4.3)", () => {
  it("AVC sequence header", () => {
    const body = hex("17 00 000000 01 64 00 1f ff e1");
    const t = roundTrip(body) as LegacyVideoTag;
    assert.equal(t.enhanced, false);
    assert.equal(t.frameType, VideoFrameType.KeyFrame);
    assert.equal(t.codecId, VideoCodecId.Avc);
    assert.equal(t.avcPacketType, AvcPacketType.SequenceHeader);
    assert.equal(t.compositionTime, 0);
    assert.deepEqual(t.data, hex("01 64 00 1f ff e1"));
    assert.equal(isVideoSequenceHeader(t), true);
    // Frame type 1, but a header, not a picture: a GOP cache must not start here.
    assert.equal(isVideoKeyframe(t), false);
  });

  it("AVC NALU with a negative composition time", () => {
    const body = hex("27 01 ffffd8 00000005 41 9a 02 03 04");
    const t = roundTrip(body) as LegacyVideoTag;
    assert.equal(t.frameType, VideoFrameType.InterFrame);
    assert.equal(t.avcPacketType, AvcPacketType.Nalu);
    assert.equal(t.compositionTime, -40);
    assert.deepEqual(t.data, hex("00000005 41 9a 02 03 04"));
    assert.equal(isVideoKeyframe(t), false);
    assert.equal(isVideoSequenceHeader(t), false);
    // Built from a literal, not from a parse result.
    const built = buildVideoTag({
      enhanced: false,
      frameType: 2,
      codecId: 7,
      avcPacketType: 1,
      compositionTime: -40,
      data: hex("00000005 41 9a 02 03 04"),
    });
    assert.deepEqual(built, body);
  });

  it("AVC composition time extremes", () => {
    const max = roundTrip(hex("27 01 7fffff aa")) as LegacyVideoTag;
    assert.equal(max.compositionTime, 0x7fffff);
    const min = roundTrip(hex("27 01 800000 aa")) as LegacyVideoTag;
    assert.equal(min.compositionTime, -0x800000);
  });

  it("AVC end of sequence", () => {
    const t = roundTrip(hex("17 02 000000")) as LegacyVideoTag;
    assert.equal(t.avcPacketType, AvcPacketType.EndOfSequence);
    assert.equal(t.data.length, 0);
  });

  it("HEVC with the de-facto codec id 12 uses the AVC layout", () => {
    const t = roundTrip(hex("1c 00 000000 01 02")) as LegacyVideoTag;
    assert.equal(t.codecId, VideoCodecId.Hevc);
    assert.equal(t.avcPacketType, 0);
    assert.equal(isVideoSequenceHeader(t), true);
  });

  it("command frame carries a UI8 command", () => {
    const t = roundTrip(hex("52 01")) as LegacyVideoTag;
    assert.equal(t.frameType, VideoFrameType.Command);
    assert.equal(t.codecId, VideoCodecId.SorensonH263);
    assert.equal(t.command, VideoCommand.EndSeek);
    assert.equal(t.avcPacketType, undefined);
    assert.equal(t.data.length, 0);
    assert.equal(isVideoKeyframe(t), false);
    assert.equal(isVideoSequenceHeader(t), false);
    // Trailing bytes after the command are kept, so rebuilding stays exact.
    const trailing = roundTrip(hex("57 00 aa bb")) as LegacyVideoTag;
    assert.equal(trailing.command, VideoCommand.StartSeek);
    assert.deepEqual(trailing.data, hex("aa bb"));
  });

  it("other codecs keep their payload opaque", () => {
    const h263 = roundTrip(hex("12 00 00 84 00")) as LegacyVideoTag;
    assert.equal(h263.codecId, 2);
    assert.equal(h263.avcPacketType, undefined);
    assert.deepEqual(h263.data, hex("00 00 84 00"));
    const vp6 = roundTrip(hex("24 00 aa")) as LegacyVideoTag;
    assert.equal(vp6.frameType, 2);
    assert.equal(vp6.codecId, 4);
    const gen = roundTrip(hex("47 01 000000 00")) as LegacyVideoTag;
    assert.equal(gen.frameType, VideoFrameType.GeneratedKeyFrame);
    assert.equal(isVideoKeyframe(gen), false);
  });

  it("rejects short and empty bodies with MALFORMED", () => {
    throwsCode(() => parseVideoTag(new Uint8Array(0)), "MALFORMED", /video tag header/);
    throwsCode(() => parseVideoTag(hex("17")), "MALFORMED", /AVC packet type/);
    throwsCode(() => parseVideoTag(hex("17 01 00")), "MALFORMED", /composition time/);
    throwsCode(() => parseVideoTag(hex("52")), "MALFORMED", /video command/);
  });

  it("build rejects inconsistent legacy tags", () => {
    const base: LegacyVideoTag = { enhanced: false, frameType: 1, codecId: 7, data: hex("00") };
    throwsCode(() => buildVideoTag(base), "INVALID_ARGUMENT", /avcPacketType/);
    throwsCode(
      () => buildVideoTag({ ...base, frameType: 8, avcPacketType: 1 }),
      "INVALID_ARGUMENT",
      /frame type/,
    );
    throwsCode(
      () => buildVideoTag({ ...base, avcPacketType: 1, compositionTime: 0x800000 }),
      "INVALID_ARGUMENT",
    );
    throwsCode(() => buildVideoTag({ ...base, frameType: 5 }), "INVALID_ARGUMENT", /command/);
    throwsCode(
      () => buildVideoTag({ ...base, codecId: 2, command: 1 }),
      "INVALID_ARGUMENT",
      /frame type 5/,
    );
  });
});

describe("enhanced video tags (E-RTMP v2)", () => {
  it("hvc1 CodedFrames carry an SI24 composition time", () => {
    const body = cat(hex("91"), asc("hvc1"), hex("000021"), hex("00000002 2601"));
    const t = roundTrip(body) as ExVideoTag;
    assert.equal(t.enhanced, true);
    assert.equal(t.frameType, VideoFrameType.KeyFrame);
    assert.equal(t.packetType, VideoPacketType.CodedFrames);
    assert.equal(t.fourCc, FourCc.Hevc);
    assert.equal(t.compositionTime, 0x21);
    assert.deepEqual(t.data, hex("00000002 2601"));
    assert.equal(isVideoKeyframe(t), true);
    assert.equal(isVideoSequenceHeader(t), false);
  });

  it("avc1 and vvc1 CodedFrames also carry one, negative values included", () => {
    const avc = roundTrip(cat(hex("a1"), asc("avc1"), hex("ffffff 65"))) as ExVideoTag;
    assert.equal(avc.frameType, VideoFrameType.InterFrame);
    assert.equal(avc.compositionTime, -1);
    assert.deepEqual(avc.data, hex("65"));
    const vvc = roundTrip(cat(hex("91"), asc("vvc1"), hex("000001 aa"))) as ExVideoTag;
    assert.equal(vvc.compositionTime, 1);
  });

  it("CodedFramesX has no composition time", () => {
    const t = roundTrip(cat(hex("a3"), asc("hvc1"), hex("00000002 0201"))) as ExVideoTag;
    assert.equal(t.packetType, VideoPacketType.CodedFramesX);
    assert.equal(t.compositionTime, undefined);
    assert.deepEqual(t.data, hex("00000002 0201"));
  });

  it("av01 and vp09 CodedFrames have no composition time", () => {
    const av1 = roundTrip(cat(hex("a1"), asc("av01"), hex("12 00 0a"))) as ExVideoTag;
    assert.equal(av1.compositionTime, undefined);
    assert.deepEqual(av1.data, hex("12 00 0a"));
    const vp9 = roundTrip(cat(hex("91"), asc("vp09"), hex("82 49 83"))) as ExVideoTag;
    assert.equal(vp9.fourCc, FourCc.Vp9);
    assert.equal(vp9.compositionTime, undefined);
    assert.deepEqual(vp9.data, hex("82 49 83"));
  });

  it("av01 SequenceStart is a sequence header", () => {
    const t = roundTrip(cat(hex("90"), asc("av01"), hex("81 00 0c 00"))) as ExVideoTag;
    assert.equal(t.packetType, VideoPacketType.SequenceStart);
    assert.equal(t.fourCc, FourCc.Av1);
    assert.deepEqual(t.data, hex("81 00 0c 00"));
    assert.equal(isVideoSequenceHeader(t), true);
    const vp9 = roundTrip(cat(hex("90"), asc("vp09"), hex("01 00"))) as ExVideoTag;
    assert.equal(isVideoSequenceHeader(vp9), true);
    const ts = roundTrip(cat(hex("95"), asc("av01"), hex("80"))) as ExVideoTag;
    assert.equal(ts.packetType, VideoPacketType.Mpeg2TsSequenceStart);
    assert.equal(isVideoSequenceHeader(ts), true);
  });

  it("SequenceEnd has an empty payload", () => {
    const t = roundTrip(cat(hex("92"), asc("av01"))) as ExVideoTag;
    assert.equal(t.packetType, VideoPacketType.SequenceEnd);
    assert.equal(t.data?.length, 0);
    assert.equal(isVideoSequenceHeader(t), false);
  });

  it("Metadata ignores the frame type, even the command frame type", () => {
    const amf = hex("02 0009 636f6c6f72496e666f 03 000009");
    const t = roundTrip(cat(hex("d4"), asc("av01"), amf)) as ExVideoTag;
    assert.equal(t.frameType, VideoFrameType.Command);
    assert.equal(t.packetType, VideoPacketType.Metadata);
    assert.equal(t.command, undefined);
    assert.equal(t.fourCc, FourCc.Av1);
    assert.deepEqual(t.data, amf);
    const kf = roundTrip(cat(hex("94"), asc("av01"), amf)) as ExVideoTag;
    assert.equal(isVideoKeyframe(kf), false);
  });

  it("command frame: UI8 command and no FourCC", () => {
    const t = roundTrip(hex("d1 00")) as ExVideoTag;
    assert.equal(t.frameType, VideoFrameType.Command);
    assert.equal(t.command, VideoCommand.StartSeek);
    assert.equal(t.fourCc, undefined);
    assert.equal(t.data?.length, 0);
    assert.equal(isVideoKeyframe(t), false);
    assert.equal(isVideoSequenceHeader(t), false);
    const built = buildVideoTag({ enhanced: true, frameType: 5, packetType: 0, command: 1 });
    assert.deepEqual(built, hex("d0 01"));
    // Frame type 5 with the Multitrack code is still a command frame (checked first).
    const mt = roundTrip(hex("d6 01")) as ExVideoTag;
    assert.equal(mt.command, 1);
    assert.equal(mt.multitrack, undefined);
  });

  it("Multitrack OneTrack: shared FourCC, one track, no size", () => {
    const body = cat(hex("96 01"), asc("avc1"), hex("00"), hex("000010"), hex("00000001 65"));
    const t = roundTrip(body) as ExVideoTag;
    assert.equal(t.packetType, VideoPacketType.CodedFrames);
    assert.equal(t.fourCc, undefined);
    assert.equal(t.multitrack?.type, AvMultitrackType.OneTrack);
    assert.equal(t.multitrack?.fourCc, FourCc.Avc);
    assert.equal(t.multitrack?.tracks.length, 1);
    const tr = t.multitrack!.tracks[0];
    assert.equal(tr.trackId, 0);
    assert.equal(tr.fourCc, FourCc.Avc);
    assert.equal(tr.compositionTime, 16);
    assert.deepEqual(tr.data, hex("00000001 65"));
    assert.equal(isVideoKeyframe(t), true);
  });

  it("Multitrack ManyTracks: shared FourCC, UI24 size per track", () => {
    const body = cat(
      hex("96 10"),
      asc("hvc1"),
      hex("00 000003 010203"),
      hex("01 000002 0405"),
    );
    const t = roundTrip(body) as ExVideoTag;
    assert.equal(t.packetType, VideoPacketType.SequenceStart);
    assert.equal(isVideoSequenceHeader(t), true);
    assert.equal(t.multitrack?.type, AvMultitrackType.ManyTracks);
    assert.deepEqual(
      t.multitrack?.tracks.map((x) => [x.trackId, x.fourCc, Array.from(x.data)]),
      [[0, "hvc1", [1, 2, 3]], [1, "hvc1", [4, 5]]],
    );
    // Building without the shared FourCC takes the tracks' one.
    const built = buildVideoTag({
      enhanced: true,
      frameType: 1,
      packetType: 0,
      multitrack: {
        type: 1,
        tracks: [
          { trackId: 0, fourCc: "hvc1", data: hex("010203") },
          { trackId: 1, fourCc: "hvc1", data: hex("0405") },
        ],
      },
    });
    assert.deepEqual(built, body);
  });

  it("Multitrack ManyTracksManyCodecs: FourCC per track, CT only where the codec has one", () => {
    const body = cat(
      hex("a6 21"),
      asc("avc1"),
      hex("00 000005 000001 aabb"),
      asc("av01"),
      hex("02 000001 cc"),
    );
    const t = roundTrip(body) as ExVideoTag;
    assert.equal(t.frameType, VideoFrameType.InterFrame);
    assert.equal(t.multitrack?.type, AvMultitrackType.ManyTracksManyCodecs);
    assert.equal(t.multitrack?.fourCc, undefined);
    const [a, b] = t.multitrack!.tracks;
    assert.equal(a.fourCc, "avc1");
    assert.equal(a.compositionTime, 1);
    assert.deepEqual(a.data, hex("aabb"));
    assert.equal(b.fourCc, "av01");
    assert.equal(b.trackId, 2);
    assert.equal(b.compositionTime, undefined);
    assert.deepEqual(b.data, hex("cc"));
  });

  it("ModEx with TimestampOffsetNano", () => {
    const body = cat(hex("97 02 0001f4 01"), asc("avc1"), hex("000000 65"));
    const t = roundTrip(body) as ExVideoTag;
    assert.equal(t.frameType, VideoFrameType.KeyFrame);
    assert.equal(t.packetType, VideoPacketType.CodedFrames);
    assert.equal(t.timestampOffsetNano, 500);
    assert.equal(t.modEx?.length, 1);
    assert.equal(t.modEx?.[0].type, 0);
    assert.equal(t.fourCc, "avc1");
    assert.equal(t.compositionTime, 0);
    // The convenience field alone builds the same chain.
    const built = buildVideoTag({
      enhanced: true,
      frameType: 1,
      packetType: 1,
      timestampOffsetNano: 500,
      fourCc: "avc1",
      compositionTime: 0,
      data: hex("65"),
    });
    assert.deepEqual(built, body);
  });

  it("ModEx chains, 16-bit sizes and the non-canonical escape survive a rebuild", () => {
    const big = new Uint8Array(300).fill(7);
    const body = cat(
      hex("a7"),
      hex("ff 012b"),
      big,
      hex("57"), // unknown ModEx type 5, then ModEx again
      hex("ff 0002 0f4240"), // 3 bytes written with the 16-bit escape
      hex("03"), // TimestampOffsetNano, then CodedFramesX
      asc("av01"),
      hex("aa"),
    );
    const t = roundTrip(body) as ExVideoTag;
    assert.equal(t.packetType, VideoPacketType.CodedFramesX);
    assert.equal(t.modEx?.length, 2);
    assert.equal(t.modEx?.[0].type, 5);
    assert.equal(t.modEx?.[0].data.length, 300);
    assert.equal(t.modEx?.[1].size16, true);
    assert.equal(t.timestampOffsetNano, 1_000_000);
  });

  it("ModEx inside a multitrack message and ModEx on a command frame", () => {
    const mt = cat(hex("97 02 000064 06 01"), asc("vp09"), hex("03 aa"));
    const t = roundTrip(mt) as ExVideoTag;
    assert.equal(t.timestampOffsetNano, 100);
    assert.equal(t.multitrack?.tracks[0].trackId, 3);
    const cmd = roundTrip(hex("d7 02 000064 01 01")) as ExVideoTag;
    assert.equal(cmd.command, 1);
    assert.equal(cmd.packetType, 1);
  });

  it("unknown FourCCs and packet types stay opaque", () => {
    const unknown = roundTrip(cat(hex("91"), asc("xyz1"), hex("000001 02"))) as ExVideoTag;
    assert.equal(unknown.fourCc, "xyz1");
    assert.equal(unknown.compositionTime, undefined);
    assert.deepEqual(unknown.data, hex("000001 02"));
    const binary = roundTrip(hex("90 ff00807f 01")) as ExVideoTag;
    assert.equal(binary.fourCc, "\u00ff\u0000\u0080\u007f");
    const pt = roundTrip(cat(hex("9c"), asc("av01"), hex("0102"))) as ExVideoTag;
    assert.equal(pt.packetType, 12);
    assert.deepEqual(pt.data, hex("0102"));
    const reserved = roundTrip(hex("96 31 aabbccdd")) as ExVideoTag;
    assert.equal(reserved.multitrack?.type, 3);
    assert.equal(reserved.multitrack?.tracks.length, 0);
    assert.deepEqual(reserved.data, hex("aabbccdd"));
  });

  it("rejects malformed enhanced bodies", () => {
    throwsCode(() => parseVideoTag(hex("91 6176")), "MALFORMED", /FourCC/);
    throwsCode(() => parseVideoTag(cat(hex("91"), asc("hvc1"), hex("00"))), "MALFORMED");
    throwsCode(() => parseVideoTag(hex("96 16")), "MALFORMED", /Multitrack/);
    throwsCode(
      () => parseVideoTag(cat(hex("96 11"), asc("av01"), hex("00 000009 aa"))),
      "MALFORMED",
      /track body/,
    );
    throwsCode(() => parseVideoTag(hex("97 01 0001 01")), "MALFORMED", /TimestampOffsetNano/);
    throwsCode(() => parseVideoTag(hex("97 ff 01")), "MALFORMED", /ModEx/);
    throwsCode(() => parseVideoTag(hex("d1")), "MALFORMED", /command/);
  });

  it("build rejects inconsistent enhanced tags", () => {
    const ok: ExVideoTag = { enhanced: true, frameType: 1, packetType: 1, fourCc: "av01" };
    assert.deepEqual(buildVideoTag(ok), cat(hex("91"), asc("av01")));
    throwsCode(() => buildVideoTag({ ...ok, fourCc: "av1" }), "INVALID_ARGUMENT", /FourCC/);
    throwsCode(() => buildVideoTag({ ...ok, fourCc: undefined }), "INVALID_ARGUMENT", /fourCc/);
    throwsCode(() => buildVideoTag({ ...ok, packetType: 6 }), "INVALID_ARGUMENT", /Multitrack/);
    throwsCode(() => buildVideoTag({ ...ok, packetType: 7 }), "INVALID_ARGUMENT", /ModEx/);
    throwsCode(() => buildVideoTag({ ...ok, frameType: 5 }), "INVALID_ARGUMENT", /command/);
    throwsCode(() => buildVideoTag({ ...ok, command: 1 }), "INVALID_ARGUMENT", /frame type 5/);
    throwsCode(
      () => buildVideoTag({ ...ok, timestampOffsetNano: 0x1000000 }),
      "INVALID_ARGUMENT",
    );
    throwsCode(
      () => buildVideoTag({ ...ok, modEx: [{ type: 0, data: new Uint8Array(0) }] }),
      "INVALID_ARGUMENT",
      /ModEx data/,
    );
    const track = { trackId: 0, fourCc: "av01", data: hex("aa") };
    throwsCode(
      () => buildVideoTag({ ...ok, fourCc: undefined, multitrack: { type: 0, tracks: [] } }),
      "INVALID_ARGUMENT",
      /at least one track/,
    );
    throwsCode(
      () =>
        buildVideoTag({
          ...ok,
          fourCc: undefined,
          multitrack: { type: 0, tracks: [track, { ...track, trackId: 1 }] },
        }),
      "INVALID_ARGUMENT",
      /exactly 1/,
    );
    throwsCode(
      () =>
        buildVideoTag({
          ...ok,
          fourCc: undefined,
          multitrack: { type: 1, tracks: [track, { ...track, fourCc: "vp09" }] },
        }),
      "INVALID_ARGUMENT",
      /shares one FourCC/,
    );
    throwsCode(
      () => buildVideoTag({ ...ok, frameType: 5, multitrack: { type: 0, tracks: [track] } }),
      "INVALID_ARGUMENT",
      /command frame/,
    );
  });
});
