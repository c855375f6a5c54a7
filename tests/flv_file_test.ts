/**
 * FlvFileReader / FlvFileWriter on real files, checked with FFmpeg's ffprobe.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { RtmpError } from "../errors.ts";
import { FlvFileReader, FlvFileWriter } from "../flv/file.ts";
import { encodeFlvHeader, encodeFlvTag, FlvDemuxer, type FlvTag } from "../protocol/flv.ts";
import { rejectsCode } from "./support/util.ts";

const run = promisify(execFile);

let dir = "";
let source = "";
let sourceTags: FlvTag[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "flv-file-test-"));
  source = join(dir, "src.flv");
  // H.264 + AAC, 2 s, GOP 25 (FFmpeg 5.1 writes legacy FLV).
  await run("ffmpeg", [
    "-v",
    "error",
    "-nostdin",
    "-y",
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=320x240:rate=25",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=48000",
    "-t",
    "2",
    "-c:v",
    "libx264",
    "-g",
    "25",
    "-c:a",
    "aac",
    "-f",
    "flv",
    source,
  ]);
  sourceTags = new FlvDemuxer().push(new Uint8Array(readFileSync(source)));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Probe {
  packets: Record<string, number>;
  duration: number;
}

async function probe(path: string): Promise<Probe> {
  const { stdout } = await run("ffprobe", [
    "-v",
    "error",
    "-count_packets",
    "-show_streams",
    "-show_format",
    "-of",
    "json",
    path,
  ]);
  const j = JSON.parse(stdout) as {
    streams: { codec_type: string; nb_read_packets: string }[];
    format: { duration: string };
  };
  const packets: Record<string, number> = {};
  for (const s of j.streams) packets[s.codec_type] = Number(s.nb_read_packets);
  return { packets, duration: Number(j.format.duration) };
}

/** Independent lookup of a top-level Number property: `<u16 len><name> 00 <f64>`. */
function numberAfter(data: Uint8Array, name: string): number | undefined {
  const k = new TextEncoder().encode(name);
  const needle = new Uint8Array([k.length >> 8, k.length & 0xff, ...k, 0]);
  outer: for (let i = 0; i + needle.length + 8 <= data.length; i++) {
    for (let j = 0; j < needle.length; j++) if (data[i + j] !== needle[j]) continue outer;
    return new DataView(data.buffer, data.byteOffset + i + needle.length, 8).getFloat64(0);
  }
  return undefined;
}

function expectedDuration(tags: FlvTag[]): number {
  const media = tags.filter((t) => t.type === 8 || t.type === 9).map((t) => t.timestamp);
  return (Math.max(...media) - media[0]) / 1000;
}

async function readAll(path: string): Promise<{ tags: FlvTag[]; reader: FlvFileReader }> {
  const reader = await FlvFileReader.open(path);
  const tags: FlvTag[] = [];
  for await (const t of reader) tags.push(t);
  await reader.close();
  return { tags, reader };
}

/** A hand-built onMetaData without duration or filesize. */
function bareMetadata(): Uint8Array {
  const enc = new TextEncoder();
  const str = (s: string) => {
    const b = enc.encode(s);
    return [b.length >> 8, b.length & 0xff, ...b];
  };
  const num = (v: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v);
    return [0, ...b];
  };
  return new Uint8Array([
    2,
    ...str("onMetaData"),
    8,
    0,
    0,
    0,
    2,
    ...str("width"),
    ...num(320),
    ...str("height"),
    ...num(240),
    0,
    0,
    9,
  ]);
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

describe("FlvFileWriter output read by ffprobe", () => {
  it("same packet counts per stream and a patched duration", async () => {
    assert.ok(sourceTags.length > 50, `ffmpeg produced ${sourceTags.length} tags`);
    const { tags, reader } = await readAll(source);
    assert.deepEqual(reader.eof, { truncatedBytes: 0, clean: true });
    assert.equal(tags.length, sourceTags.length);
    assert.deepEqual(tags, sourceTags);

    const out = join(dir, "rewritten.flv");
    const writer = await FlvFileWriter.create(out, {
      audio: reader.header.audio,
      video: reader.header.video,
    });
    for (const t of tags) await writer.writeTag(t);
    await writer.close();

    const [a, b] = await Promise.all([probe(source), probe(out)]);
    assert.ok(a.packets.video > 0 && a.packets.audio > 0, JSON.stringify(a));
    assert.deepEqual(b.packets, a.packets);
    assert.ok(Math.abs(b.duration - a.duration) < 0.1, `durations ${a.duration} / ${b.duration}`);

    const bytes = new Uint8Array(readFileSync(out));
    const meta = new FlvDemuxer().push(bytes)[0];
    assert.equal(numberAfter(meta.data, "duration"), expectedDuration(tags));
    assert.equal(numberAfter(meta.data, "filesize"), bytes.length);
  });

  it("adds duration/filesize to an onMetaData that lacks them, then patches them", async () => {
    const out = join(dir, "added.flv");
    const writer = await FlvFileWriter.create(out, { audio: true, video: true });
    const tags = sourceTags.filter((t) => t.type !== 18);
    await writer.writeTag({ type: 18, timestamp: 0, streamId: 0, data: bareMetadata() });
    for (const t of tags) await writer.writeTag(t);
    await writer.close();

    const bytes = new Uint8Array(readFileSync(out));
    const d = new FlvDemuxer({ strict: true });
    const back = d.push(bytes);
    assert.equal(d.end().clean, true);
    assert.equal(back.length, tags.length + 1);
    assert.equal(numberAfter(back[0].data, "width"), 320);
    assert.equal(numberAfter(back[0].data, "duration"), expectedDuration(tags));
    assert.equal(numberAfter(back[0].data, "filesize"), bytes.length);
    const p = await probe(out);
    assert.deepEqual(p.packets, (await probe(source)).packets);
    assert.ok(Math.abs(p.duration - expectedDuration(tags)) < 0.1, `duration ${p.duration}`);
  });
});

describe("FlvFileReader", () => {
  it("yields every complete tag of a file cut mid-tag and reports the cut", async () => {
    const file = new Uint8Array(readFileSync(source));
    // Cut in the middle of the data of a tag two-thirds in.
    let offset = 13;
    const ends: number[] = [];
    for (const t of sourceTags) {
      offset += 15 + t.data.length;
      ends.push(offset);
    }
    const k = Math.floor(sourceTags.length * 2 / 3);
    const cutAt = ends[k - 1] + 11 + Math.floor(sourceTags[k].data.length / 2);
    const cut = join(dir, "cut.flv");
    writeFileSync(cut, file.subarray(0, cutAt));
    const { tags, reader } = await readAll(cut);
    assert.equal(tags.length, k);
    assert.deepEqual(tags, sourceTags.slice(0, k));
    assert.ok(reader.eof !== null);
    assert.equal(reader.eof.clean, false);
    assert.equal(reader.eof.truncatedBytes, cutAt - ends[k - 1]);
  });

  it("rejects missing, non-FLV and too-short files", async () => {
    await rejectsCode(FlvFileReader.open(join(dir, "missing.flv")), "IO", /missing\.flv/);
    const text = join(dir, "text.flv");
    writeFileSync(text, "hello, this is not an FLV file");
    await rejectsCode(FlvFileReader.open(text), "MALFORMED", /signature/);
    const short = join(dir, "short.flv");
    writeFileSync(short, new Uint8Array([0x46, 0x4c, 0x56, 1, 5]));
    await rejectsCode(FlvFileReader.open(short), "MALFORMED", /ends inside the header/);
  });

  it("supports await using and reports LIMIT_EXCEEDED for oversized tags", async () => {
    {
      await using reader = await FlvFileReader.open(source, { maxTagSize: 64 });
      await assert.rejects(
        (async () => {
          for await (const _ of reader) { /* drain */ }
        })(),
        (e: unknown) => e instanceof RtmpError && e.code === "LIMIT_EXCEEDED",
      );
    }
  });
});

describe("FlvFileWriter buffering", () => {
  const tags: FlvTag[] = [
    { type: 8, timestamp: 0, streamId: 0, data: new Uint8Array([0xaf, 0, 0x12, 0x10]) },
    { type: 9, timestamp: 0, streamId: 0, data: new Uint8Array(100_000).fill(7) },
    { type: 8, timestamp: 21, streamId: 0, data: new Uint8Array(300).fill(1) },
    { type: 9, timestamp: 40, streamId: 0, data: new Uint8Array(40).fill(2) },
    { type: 8, timestamp: 42, streamId: 0, data: new Uint8Array(1000).fill(3) },
  ];
  const expected = new Uint8Array(
    [encodeFlvHeader({ version: 1, audio: true, video: true }), ...tags.map(encodeFlvTag)]
      .flatMap((b) => Array.from(b)),
  );

  it("un-awaited writes land in call order, with tags larger than the buffer", async () => {
    for (const flushBytes of [64, 256, 65536]) {
      const out = join(dir, `order-${flushBytes}.flv`);
      const writer = await FlvFileWriter.create(out, {
        audio: true,
        video: true,
        patchMetadata: false,
        flushBytes,
      });
      const pending = tags.map((t) => writer.writeTag(t));
      await Promise.all(pending);
      assert.equal(writer.bytesWritten, expected.length);
      await writer.close();
      assert.deepEqual(new Uint8Array(readFileSync(out)), expected, `flushBytes ${flushBytes}`);
    }
  });

  it("flushes whole tags on its own, so an unclosed file is readable", async () => {
    const out = join(dir, "live.flv");
    const writer = await FlvFileWriter.create(out, {
      audio: true,
      video: true,
      flushIntervalMs: 20,
      flushBytes: 65536,
    });
    try {
      await writer.writeTag(tags[0]);
      await writer.writeTag(tags[2]);
      await writer.writeTag(tags[3]);
      // Wait (bounded) for the interval flush; no timing is asserted, only the outcome.
      for (let i = 0; i < 500 && statSync(out).size < writer.bytesWritten; i++) await sleep(20);
      assert.equal(statSync(out).size, writer.bytesWritten);
      const { tags: back, reader } = await readAll(out);
      assert.deepEqual(back, [tags[0], tags[2], tags[3]]);
      assert.deepEqual(reader.eof, { truncatedBytes: 0, clean: true });
    } finally {
      await writer.close();
    }
  });

  it("flushIntervalMs 0 writes every tag before writeTag resolves", async () => {
    const out = join(dir, "sync.flv");
    const writer = await FlvFileWriter.create(out, {
      audio: true,
      video: true,
      flushIntervalMs: 0,
    });
    for (const t of tags) {
      await writer.writeTag(t);
      assert.equal(statSync(out).size, writer.bytesWritten);
    }
    await writer.close();
    assert.deepEqual(new Uint8Array(readFileSync(out)), expected);
  });

  it("rejects bad tags without breaking the file, and use after close", async () => {
    const out = join(dir, "errors.flv");
    const writer = await FlvFileWriter.create(out, { audio: true, video: false });
    await rejectsCode(
      writer.writeTag({ type: 8, timestamp: -5, streamId: 0, data: new Uint8Array(1) }),
      "INVALID_ARGUMENT",
      /timestamp/,
    );
    await writer.writeTag(tags[0]);
    await writer.close();
    await writer.close();
    await rejectsCode(writer.writeTag(tags[0]), "CLOSED");
    await rejectsCode(writer.flush(), "CLOSED");
    const back = new FlvDemuxer({ strict: true }).push(new Uint8Array(readFileSync(out)));
    assert.deepEqual(back, [tags[0]]);
    await rejectsCode(
      FlvFileWriter.create(join(dir, "no-such-dir", "x.flv"), { audio: true, video: true }),
      "IO",
    );
    await rejectsCode(
      FlvFileWriter.create(join(dir, "bad.flv"), { audio: true, video: true, flushBytes: 1 }),
      "INVALID_ARGUMENT",
    );
  });
});
