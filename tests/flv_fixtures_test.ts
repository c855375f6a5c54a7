/**
 * The Enhanced RTMP fixtures (AV1 + Opus FLV files from veovera/enhanced-rtmp) read tag by tag,
 * every tag parsed and rebuilt, and the whole files rewritten byte for byte.
 *
 * Fixtures: tests/fixtures/ (copied from the E-RTMP project, see its README).
 */
import { ERTMP_FIXTURES, fixturePath } from "./support/fixtures.ts";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { FlvFileReader, FlvFileWriter } from "../flv/file.ts";
import { AudioPacketType, buildAudioTag, parseAudioTag } from "../protocol/audio_tag.ts";
import {
  encodeFlvHeader,
  encodeFlvTag,
  FlvDemuxer,
  flvScriptName,
  type FlvTag,
} from "../protocol/flv.ts";
import {
  buildVideoTag,
  isVideoKeyframe,
  isVideoSequenceHeader,
  parseVideoTag,
  VideoPacketType,
} from "../protocol/video_tag.ts";
import { concat, mixSeed, prng, testSeed } from "./support/util.ts";

const SEED = testSeed("flv_fixtures_test");

const NAMES = ERTMP_FIXTURES;

function fixtureDir(): string {
  return dirname(fixturePath(NAMES[0]));
}

function load(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(fixtureDir(), name)));
}

for (const name of NAMES) {
  describe(`fixture ${name}`, () => {
    it("demuxes cleanly, in one push and in random splits", () => {
      const file = load(name);
      const d = new FlvDemuxer({ strict: true });
      const tags = d.push(file);
      assert.deepEqual(d.header, { version: 1, audio: true, video: true });
      assert.deepEqual(d.end(), { truncatedBytes: 0, clean: true });
      assert.ok(tags.length > 100, `expected many tags, got ${tags.length}`);
      const rnd = prng(mixSeed(SEED, name.length * 7919));
      for (let round = 0; round < 5; round++) {
        const s = new FlvDemuxer();
        const got: FlvTag[] = [];
        let i = 0;
        while (i < file.length) {
          const n = 1 + Math.floor(rnd() * (round === 0 ? 16 : 9000));
          for (const t of s.push(file.subarray(i, i + n))) got.push(t);
          i += n;
        }
        assert.equal(s.end().clean, true);
        assert.equal(got.length, tags.length);
        assert.deepEqual(got, tags);
      }
    });

    it("parses and rebuilds every audio and video tag byte for byte", () => {
      const tags = new FlvDemuxer().push(load(name));
      assert.equal(tags[0].type, 18);
      assert.equal(flvScriptName(tags[0].data), "onMetaData");
      const counts = {
        video: 0,
        audio: 0,
        keyframes: 0,
        videoFrames: 0,
        audioFrames: 0,
        metadata: 0,
        opusStart: 0,
        multichannel: 0,
        av1Start: 0,
      };
      let firstVideo = true;
      for (const t of tags) {
        if (t.type === 9) {
          const v = parseVideoTag(t.data);
          assert.deepEqual(buildVideoTag(v), t.data);
          assert.equal(v.enhanced, true);
          if (!v.enhanced) continue;
          assert.equal(v.fourCc, "av01");
          if (firstVideo) {
            assert.equal(v.packetType, VideoPacketType.SequenceStart, "first video tag");
            assert.equal(isVideoSequenceHeader(v), true);
            firstVideo = false;
          }
          counts.video++;
          if (isVideoKeyframe(v)) counts.keyframes++;
          if (v.packetType === VideoPacketType.CodedFrames) counts.videoFrames++;
          if (v.packetType === VideoPacketType.Metadata) counts.metadata++;
          if (v.packetType === VideoPacketType.SequenceStart) counts.av1Start++;
        } else if (t.type === 8) {
          const a = parseAudioTag(t.data);
          assert.deepEqual(buildAudioTag(a), t.data);
          assert.equal(a.enhanced, true);
          if (!a.enhanced) continue;
          assert.equal(a.fourCc, "Opus");
          counts.audio++;
          if (a.packetType === AudioPacketType.CodedFrames) counts.audioFrames++;
          if (a.packetType === AudioPacketType.SequenceStart) {
            counts.opusStart++;
            // RFC 7845 §5.1 ID header.
            assert.equal(new TextDecoder().decode(a.data!.subarray(0, 8)), "OpusHead");
          }
          if (a.packetType === AudioPacketType.MultichannelConfig) {
            counts.multichannel++;
            assert.ok(a.multichannelConfig !== undefined);
            assert.ok(a.multichannelConfig.channelCount >= 1);
          }
        }
      }
      assert.ok(counts.video > 0 && counts.audio > 0, JSON.stringify(counts));
      assert.ok(counts.keyframes > 0, "keyframes");
      assert.ok(counts.videoFrames > 0, "video CodedFrames");
      assert.ok(counts.audioFrames > 0, "audio CodedFrames");
      assert.equal(counts.metadata, 1, "one video Metadata packet (colorInfo)");
      assert.equal(counts.opusStart, 1, "one Opus SequenceStart");
      assert.equal(counts.multichannel, 1, "one MultichannelConfig");
      assert.ok(counts.av1Start >= 1, "AV1 SequenceStart");
    });

    it("re-encodes to identical bytes through encodeFlvHeader / encodeFlvTag", () => {
      const file = load(name);
      const d = new FlvDemuxer();
      const tags = d.push(file);
      const out = concat([encodeFlvHeader(d.header!), ...tags.map(encodeFlvTag)]);
      assert.equal(out.length, file.length);
      assert.deepEqual(out, file);
    });

    it("FlvFileReader → FlvFileWriter (patchMetadata: false) reproduces the file", async () => {
      const dir = mkdtempSync(join(tmpdir(), "flv-fixture-"));
      try {
        const src = join(fixtureDir(), name);
        const dst = join(dir, "copy.flv");
        const reader = await FlvFileReader.open(src, { readSize: 4096 });
        const writer = await FlvFileWriter.create(dst, {
          audio: reader.header.audio,
          video: reader.header.video,
          patchMetadata: false,
          flushBytes: 8192,
        });
        let n = 0;
        for await (const tag of reader) {
          await writer.writeTag(tag);
          n++;
        }
        await writer.close();
        await reader.close();
        assert.deepEqual(reader.eof, { truncatedBytes: 0, clean: true });
        assert.equal(n, new FlvDemuxer().push(load(name)).length);
        const copy = new Uint8Array(readFileSync(dst));
        assert.equal(copy.length, load(name).length);
        assert.deepEqual(copy, load(name));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
