import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  AacPacketType,
  AudioChannelOrder,
  AudioPacketType,
  type AudioTag,
  AvMultitrackType,
  buildAudioTag,
  type ExAudioTag,
  FourCc,
  isAudioSequenceHeader,
  type LegacyAudioTag,
  parseAudioTag,
  SoundFormat,
} from "../protocol/audio_tag.ts";
import { asc, cat, hex, throwsCode } from "./support/util.ts";

function roundTrip(body: Uint8Array): AudioTag {
  const tag = parseAudioTag(body);
  assert.deepEqual(buildAudioTag(tag), body, "build(parse(x)) must equal x");
  return tag;
}

describe("legacy audio tags (FLV 10.1 E.4.2)", () => {
  it("AAC sequence header (AudioSpecificConfig)", () => {
    const t = roundTrip(hex("af 00 1210")) as LegacyAudioTag;
    assert.equal(t.enhanced, false);
    assert.equal(t.soundFormat, SoundFormat.Aac);
    assert.equal(t.soundRate, 3);
    assert.equal(t.soundSize, 1);
    assert.equal(t.soundType, 1);
    assert.equal(t.aacPacketType, AacPacketType.SequenceHeader);
    assert.deepEqual(t.data, hex("1210"));
    assert.equal(isAudioSequenceHeader(t), true);
  });

  it("AAC raw frame", () => {
    const t = roundTrip(hex("ae 01 21 1a 4c")) as LegacyAudioTag;
    assert.equal(t.soundType, 0);
    assert.equal(t.aacPacketType, AacPacketType.Raw);
    assert.deepEqual(t.data, hex("21 1a 4c"));
    assert.equal(isAudioSequenceHeader(t), false);
    const built = buildAudioTag({
      enhanced: false,
      soundFormat: 10,
      soundRate: 3,
      soundSize: 1,
      soundType: 0,
      aacPacketType: 1,
      data: hex("21 1a 4c"),
    });
    assert.deepEqual(built, hex("ae 01 21 1a 4c"));
  });

  it("MP3 has no packet type byte", () => {
    const t = roundTrip(hex("2f fffb9064")) as LegacyAudioTag;
    assert.equal(t.soundFormat, SoundFormat.Mp3);
    assert.equal(t.aacPacketType, undefined);
    assert.deepEqual(t.data, hex("fffb9064"));
    assert.equal(isAudioSequenceHeader(t), false);
  });

  it("PCM, Speex and every rate / size / type bit", () => {
    const pcm = roundTrip(hex("3e 0102 0304")) as LegacyAudioTag;
    assert.equal(pcm.soundFormat, SoundFormat.LPcmLittleEndian);
    assert.deepEqual([pcm.soundRate, pcm.soundSize, pcm.soundType], [3, 1, 0]);
    const speex = roundTrip(hex("b2 aa")) as LegacyAudioTag;
    assert.equal(speex.soundFormat, SoundFormat.Speex);
    assert.deepEqual([speex.soundRate, speex.soundSize, speex.soundType], [0, 1, 0]);
    const g711 = roundTrip(hex("75 00")) as LegacyAudioTag;
    assert.equal(g711.soundFormat, SoundFormat.G711ALaw);
    assert.deepEqual([g711.soundRate, g711.soundSize, g711.soundType], [1, 0, 1]);
    // A header-only body is legal for non-AAC formats.
    const bare = roundTrip(hex("2a")) as LegacyAudioTag;
    assert.equal(bare.data.length, 0);
  });

  it("rejects empty and short bodies", () => {
    throwsCode(() => parseAudioTag(new Uint8Array(0)), "MALFORMED", /audio tag header/);
    throwsCode(() => parseAudioTag(hex("af")), "MALFORMED", /AAC packet type/);
  });

  it("build rejects inconsistent legacy tags", () => {
    const base: LegacyAudioTag = {
      enhanced: false,
      soundFormat: 2,
      soundRate: 3,
      soundSize: 1,
      soundType: 1,
      data: hex("00"),
    };
    throwsCode(() => buildAudioTag({ ...base, soundFormat: 9 }), "INVALID_ARGUMENT", /ExHeader/);
    throwsCode(() => buildAudioTag({ ...base, soundRate: 4 }), "INVALID_ARGUMENT", /sound rate/);
    throwsCode(() => buildAudioTag({ ...base, soundFormat: 10 }), "INVALID_ARGUMENT", /aacPacket/);
    throwsCode(() => buildAudioTag({ ...base, aacPacketType: 0 }), "INVALID_ARGUMENT", /format 10/);
  });
});

describe("enhanced audio tags (E-RTMP v2)", () => {
  it("Opus SequenceStart", () => {
    const head = cat(asc("OpusHead"), hex("01 02 3801 80bb0000 0000 00"));
    const t = roundTrip(cat(hex("90"), asc("Opus"), head)) as ExAudioTag;
    assert.equal(t.enhanced, true);
    assert.equal(t.packetType, AudioPacketType.SequenceStart);
    assert.equal(t.fourCc, FourCc.Opus);
    assert.deepEqual(t.data, head);
    assert.equal(isAudioSequenceHeader(t), true);
  });

  it("Opus CodedFrames", () => {
    const t = roundTrip(cat(hex("91"), asc("Opus"), hex("fc ff fe"))) as ExAudioTag;
    assert.equal(t.packetType, AudioPacketType.CodedFrames);
    assert.deepEqual(t.data, hex("fc ff fe"));
    assert.equal(isAudioSequenceHeader(t), false);
  });

  it("SequenceEnd and other FourCCs", () => {
    const end = roundTrip(cat(hex("92"), asc("mp4a"))) as ExAudioTag;
    assert.equal(end.packetType, AudioPacketType.SequenceEnd);
    assert.equal(end.fourCc, FourCc.Aac);
    assert.equal(end.data?.length, 0);
    for (const cc of [FourCc.Flac, FourCc.Ac3, FourCc.Eac3, FourCc.Mp3]) {
      const t = roundTrip(cat(hex("91"), asc(cc), hex("0102"))) as ExAudioTag;
      assert.equal(t.fourCc, cc);
    }
  });

  it("MultichannelConfig with the Unspecified order: count only", () => {
    const t = roundTrip(cat(hex("94"), asc("Opus"), hex("00 06"))) as ExAudioTag;
    assert.equal(t.packetType, AudioPacketType.MultichannelConfig);
    assert.deepEqual(t.multichannelConfig, { channelOrder: 0, channelCount: 6 });
    assert.equal(t.data?.length, 0);
  });

  it("MultichannelConfig with the Native order: UI32 channel flags", () => {
    const t = roundTrip(cat(hex("94"), asc("Opus"), hex("01 02 00000003"))) as ExAudioTag;
    assert.deepEqual(t.multichannelConfig, {
      channelOrder: AudioChannelOrder.Native,
      channelCount: 2,
      channelFlags: 3,
    });
  });

  it("MultichannelConfig with the Custom order: one UI8 per channel", () => {
    const t = roundTrip(cat(hex("94"), asc("Opus"), hex("02 03 000102"))) as ExAudioTag;
    assert.equal(t.multichannelConfig?.channelOrder, AudioChannelOrder.Custom);
    assert.equal(t.multichannelConfig?.channelCount, 3);
    assert.deepEqual(t.multichannelConfig?.channelMapping, hex("000102"));
    const built = buildAudioTag({
      enhanced: true,
      packetType: 4,
      fourCc: "Opus",
      multichannelConfig: { channelOrder: 2, channelCount: 3, channelMapping: hex("000102") },
    });
    assert.deepEqual(built, cat(hex("94"), asc("Opus"), hex("02 03 000102")));
  });

  it("MultichannelConfig with a reserved order has no extra fields", () => {
    const t = roundTrip(cat(hex("94"), asc("Opus"), hex("07 02 aa"))) as ExAudioTag;
    assert.deepEqual(t.multichannelConfig, { channelOrder: 7, channelCount: 2 });
    assert.deepEqual(t.data, hex("aa"));
  });

  it("Multitrack OneTrack", () => {
    const t = roundTrip(cat(hex("95 01"), asc("Opus"), hex("00 fcff"))) as ExAudioTag;
    assert.equal(t.packetType, AudioPacketType.CodedFrames);
    assert.equal(t.multitrack?.type, AvMultitrackType.OneTrack);
    assert.equal(t.multitrack?.fourCc, "Opus");
    assert.deepEqual(t.multitrack?.tracks.map((x) => [x.trackId, x.fourCc, Array.from(x.data)]), [
      [0, "Opus", [0xfc, 0xff]],
    ]);
  });

  it("Multitrack ManyTracks", () => {
    const body = cat(hex("95 11"), asc("Opus"), hex("00 000002 aabb"), hex("01 000001 cc"));
    const t = roundTrip(body) as ExAudioTag;
    assert.equal(t.multitrack?.type, AvMultitrackType.ManyTracks);
    assert.deepEqual(t.multitrack?.tracks.map((x) => [x.trackId, Array.from(x.data)]), [
      [0, [0xaa, 0xbb]],
      [1, [0xcc]],
    ]);
  });

  it("Multitrack ManyTracksManyCodecs with sequence starts", () => {
    const body = cat(
      hex("95 20"),
      asc("Opus"),
      hex("00 000001 01"),
      asc("mp4a"),
      hex("01 000002 1210"),
    );
    const t = roundTrip(body) as ExAudioTag;
    assert.equal(t.packetType, AudioPacketType.SequenceStart);
    assert.equal(isAudioSequenceHeader(t), true);
    assert.equal(t.multitrack?.type, AvMultitrackType.ManyTracksManyCodecs);
    assert.deepEqual(t.multitrack?.tracks.map((x) => x.fourCc), ["Opus", "mp4a"]);
  });

  it("Multitrack MultichannelConfig: a configuration per track", () => {
    const body = cat(
      hex("95 14"),
      asc("Opus"),
      hex("00 000006 01 02 00000003"),
      hex("01 000004 02 02 0100"),
    );
    const t = roundTrip(body) as ExAudioTag;
    const [a, b] = t.multitrack!.tracks;
    assert.deepEqual(a.multichannelConfig, { channelOrder: 1, channelCount: 2, channelFlags: 3 });
    assert.deepEqual(b.multichannelConfig?.channelMapping, hex("0100"));
    assert.equal(a.data.length + b.data.length, 0);
  });

  it("ModEx with TimestampOffsetNano", () => {
    const body = cat(hex("97 02 0001f4 01"), asc("Opus"), hex("fc"));
    const t = roundTrip(body) as ExAudioTag;
    assert.equal(t.packetType, AudioPacketType.CodedFrames);
    assert.equal(t.timestampOffsetNano, 500);
    assert.equal(t.modEx?.length, 1);
    const built = buildAudioTag({
      enhanced: true,
      packetType: 1,
      timestampOffsetNano: 500,
      fourCc: "Opus",
      data: hex("fc"),
    });
    assert.deepEqual(built, body);
    // ModEx followed by Multitrack.
    const mt = roundTrip(cat(hex("97 02 000001 05 01"), asc("Opus"), hex("00 fc"))) as ExAudioTag;
    assert.equal(mt.timestampOffsetNano, 1);
    assert.equal(mt.multitrack?.tracks.length, 1);
  });

  it("unknown FourCCs and packet types stay opaque", () => {
    const cc = roundTrip(cat(hex("91"), asc("zzzz"), hex("0102"))) as ExAudioTag;
    assert.equal(cc.fourCc, "zzzz");
    assert.deepEqual(cc.data, hex("0102"));
    const pt = roundTrip(cat(hex("9c"), asc("Opus"), hex("0102"))) as ExAudioTag;
    assert.equal(pt.packetType, 12);
    assert.deepEqual(pt.data, hex("0102"));
    const reserved = roundTrip(hex("95 f1 010203")) as ExAudioTag;
    assert.equal(reserved.multitrack?.type, 15);
    assert.deepEqual(reserved.data, hex("010203"));
  });

  it("rejects malformed enhanced bodies", () => {
    throwsCode(() => parseAudioTag(hex("91 4f70")), "MALFORMED", /FourCC/);
    throwsCode(
      () => parseAudioTag(cat(hex("94"), asc("Opus"), hex("02 03 00"))),
      "MALFORMED",
      /mapping/,
    );
    throwsCode(
      () => parseAudioTag(cat(hex("94"), asc("Opus"), hex("01 02 0000"))),
      "MALFORMED",
      /flags/,
    );
    throwsCode(() => parseAudioTag(hex("95 15")), "MALFORMED", /Multitrack/);
    throwsCode(
      () => parseAudioTag(cat(hex("95 11"), asc("Opus"), hex("00 000005 aa"))),
      "MALFORMED",
      /track body/,
    );
    throwsCode(() => parseAudioTag(hex("97 00 00 01")), "MALFORMED", /TimestampOffsetNano/);
  });

  it("build rejects inconsistent enhanced tags", () => {
    const ok: ExAudioTag = { enhanced: true, packetType: 1, fourCc: "Opus" };
    assert.deepEqual(buildAudioTag(ok), cat(hex("91"), asc("Opus")));
    throwsCode(() => buildAudioTag({ ...ok, fourCc: "Op" }), "INVALID_ARGUMENT", /FourCC/);
    throwsCode(() => buildAudioTag({ ...ok, packetType: 5 }), "INVALID_ARGUMENT", /Multitrack/);
    throwsCode(() => buildAudioTag({ ...ok, packetType: 7 }), "INVALID_ARGUMENT", /ModEx/);
    throwsCode(() => buildAudioTag({ ...ok, packetType: 4 }), "INVALID_ARGUMENT", /multichannel/);
    throwsCode(
      () => buildAudioTag({ ...ok, multichannelConfig: { channelOrder: 0, channelCount: 1 } }),
      "INVALID_ARGUMENT",
      /MultichannelConfig \(4\)/,
    );
    throwsCode(
      () =>
        buildAudioTag({
          ...ok,
          packetType: 4,
          multichannelConfig: { channelOrder: 2, channelCount: 2, channelMapping: hex("00") },
        }),
      "INVALID_ARGUMENT",
      /channelMapping/,
    );
    throwsCode(
      () =>
        buildAudioTag({
          ...ok,
          fourCc: undefined,
          multitrack: {
            type: 2,
            tracks: [{ trackId: 256, fourCc: "Opus", data: hex("00") }],
          },
        }),
      "INVALID_ARGUMENT",
      /track id/,
    );
  });
});
