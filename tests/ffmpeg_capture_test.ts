// Replays the bytes a real FFmpeg 5.1 sent while publishing (tests/fixtures/ffmpeg_publish.bin,
// made by capture_ffmpeg_publish.ts) through the server-side core, in random read splits, and
// checks the messages that come out against the FLV it published.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ServerSession, type ServerSessionEvent } from "../session/server_session.ts";
import { decodeData } from "../protocol/data.ts";
import { parseVideoTag } from "../protocol/video_tag.ts";
import { parseAudioTag } from "../protocol/audio_tag.ts";
import { fixturePath } from "./support/fixtures.ts";
import { mediaOfTags, readFlvTags } from "./support/media.ts";
import { mixSeed, prng, testSeed } from "./support/util.ts";

const SEED = testSeed("ffmpeg_capture_test");

const capture = new Uint8Array(readFileSync(fixturePath("ffmpeg_publish.bin")));

function replay(seed: number): ServerSessionEvent[] {
  const rand = prng(mixSeed(SEED, seed));
  const session = new ServerSession();
  const events: ServerSessionEvent[] = [];
  for (let i = 0; i < capture.length;) {
    const n = 1 + Math.floor(rand() * 3000);
    const queue = session.receive(capture.subarray(i, i + n));
    while (queue.length > 0) {
      const e = queue.shift()!;
      events.push(e);
      // A decision releases the messages held while it was pending.
      if (e.type === "connect-request") queue.unshift(...session.accept(e.id));
      if (e.type === "publish-request") queue.unshift(...session.accept(e.id));
    }
    i += n;
  }
  return events;
}

describe("replaying a captured FFmpeg publish through the server core", () => {
  for (const seed of [1, 2, 3]) {
    it(`produces the expected command flow and the source's media (split seed ${seed})`, async () => {
      const events = replay(seed);
      const kinds = events.filter((e) => e.type !== "media").map((e) => e.type);
      assert.deepEqual(kinds, ["handshake", "connect-request", "publish-request", "unpublish"]);
      const handshake = events[0];
      assert.ok(
        handshake.type === "handshake" && handshake.digest,
        "FFmpeg uses the digest handshake",
      );
      const connect = events[1];
      assert.ok(connect.type === "connect-request");
      assert.equal(connect.request.app, "live");
      assert.match(String(connect.request.flashVer), /^FMLE\/3\.0 \(compatible; Lavf/);
      assert.equal(connect.request.tcUrl?.endsWith("/live"), true);
      const publish = events[2];
      assert.ok(publish.type === "publish-request");
      assert.equal(publish.streamName, "capture-key");
      assert.equal(publish.publishType, "live");

      const media = events.filter((e) => e.type === "media").map((e) =>
        e.type === "media" ? e.message : null!
      );
      const first = decodeData(media[0]);
      assert.equal(first.handler, "@setDataFrame");
      assert.equal(first.values[0], "onMetaData");
      const av = media.filter((m) => m.type === 8 || m.type === 9);
      const expected = mediaOfTags(await readFlvTags(fixturePath("ffmpeg_publish_source.flv")));
      assert.equal(av.length, expected.length);
      av.forEach((m, i) => {
        assert.equal(m.type, expected[i].type, `message ${i}`);
        assert.equal(m.timestamp, expected[i].timestamp, `message ${i}`);
        assert.deepEqual(m.payload, expected[i].data, `message ${i}`);
      });
      const seq = parseVideoTag(av.find((m) => m.type === 9)!.payload);
      assert.ok(
        !seq.enhanced && seq.codecId === 7 && seq.avcPacketType === 0,
        "AVC sequence header first",
      );
      const aac = parseAudioTag(av.find((m) => m.type === 8)!.payload);
      assert.ok(
        !aac.enhanced && aac.soundFormat === 10 && aac.aacPacketType === 0,
        "AAC sequence header first",
      );
      const bframes = av.filter((m) => m.type === 9).map((m) => parseVideoTag(m.payload))
        .filter((t) => !t.enhanced && (t.compositionTime ?? 0) > 0);
      assert.ok(bframes.length > 0, "the clip has B-frames: composition times survive");
    });
  }
});
