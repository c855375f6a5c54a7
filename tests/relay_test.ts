// Pull relays: a stream of one server fed from another server's stream (on demand when a viewer
// asks, or kept up for good with reconnects), read here by players as if it were published here.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RtmpClient } from "../client.ts";
import { RtmpServer } from "../server.ts";
import { isKeyframe, isSequenceHeader, type MediaPacket } from "../protocol/packet.ts";
import { within } from "./support/media.ts";
import { waitFor } from "./support/peers.ts";

const quiet = { log: null } as const;
const AVC_C = new Uint8Array([1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f]);
const ASC = new Uint8Array([0x12, 0x10]);

/** Publishes headers, then `frames` frames 40 ms apart (keyframe every 10) while `live()`. */
async function publish(url: string, frames: number, gapMs = 5): Promise<RtmpClient> {
  const client = await RtmpClient.connect(url);
  await client.sendMetadata({ width: 64, height: 64, videocodecid: 7, audiocodecid: 10 });
  await client.sendVideoSequenceHeader(0, AVC_C);
  await client.sendAudioSequenceHeader(0, ASC);
  for (let i = 0; i < frames; i++) {
    await client.sendVideo(i * 40, new Uint8Array([0, 0, 0, 2, 0x65, i & 0xff]), {
      keyframe: i % 10 === 0,
    });
    await client.sendAudio(i * 40, new Uint8Array([0x21, i & 0xff]));
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
  }
  return client;
}

describe("pull relays", () => {
  it("on demand: a player of a key that is not live here gets the origin's stream, from a keyframe", async () => {
    await using origin = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, ...quiet });
    const lines: string[] = [];
    await using edge = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: (l) => lines.push(l),
      pull: { "live/*": `rtmp://127.0.0.1:${origin.addr.port}/live/{name}` },
      pullIdleStop: 500,
    });
    const publisher = publish(`rtmp://127.0.0.1:${origin.addr.port}/live/cam`, 200);
    await waitFor(() => origin.streamCount === 1, { timeoutMs: 5000, what: "origin live" });
    const player = await RtmpClient.play(`rtmp://127.0.0.1:${edge.addr.port}/live/cam`);
    assert.equal(edge.relays().length, 1, "the play started a relay");
    const got: MediaPacket[] = [];
    for await (const p of player) {
      got.push(p);
      if (got.filter((x) => x.type === "video").length >= 40) break;
    }
    await player.close();
    await (await publisher).close();
    const firstVideo = got.find((p) => p.type === "video" && !isSequenceHeader(p));
    assert.ok(firstVideo && isKeyframe(firstVideo), "the first frame is a keyframe");
    assert.ok(got.some((p) => p.type === "video" && isSequenceHeader(p)), "headers came first");
    assert.ok(got.some((p) => p.type === "data"), "metadata came");
    // Timestamps pass through the relay unchanged: consecutive frames stay 40 ms apart.
    const ts = got.filter((p) => p.type === "video" && !isSequenceHeader(p)).map((p) =>
      p.timestamp
    );
    for (let i = 1; i < ts.length; i++) assert.equal(ts[i] - ts[i - 1], 40);
    // With nobody watching, the on-demand relay stops.
    await waitFor(() => edge.relays().length === 0, { timeoutMs: 10_000, what: "relay stop" });
    assert.ok(lines.some((l) => l.includes("relay") && l.includes("live")), lines.join("\n"));
  });

  it("kept up for good: the relay reconnects when the origin comes back, players see both publishes", async () => {
    await using origin = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, ...quiet });
    await using edge = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, ...quiet });
    const relay = edge.relay("live/x", `rtmp://127.0.0.1:${origin.addr.port}/live/x`, {
      backoff: { initial: 100, max: 300 },
    });
    // The edge's player waits for the key (it is not live until the origin publishes).
    const playing = RtmpClient.play(`rtmp://127.0.0.1:${edge.addr.port}/live/x`, {
      endOnUnpublish: false,
    });
    const first = await publish(`rtmp://127.0.0.1:${origin.addr.port}/live/x`, 30, 20);
    const player = await within(playing, 10_000, "play through the relay");
    const got: MediaPacket[] = [];
    const reading = (async () => {
      for await (const p of player) got.push(p);
    })();
    await waitFor(() => got.length > 20, { timeoutMs: 10_000, what: "first publish relayed" });
    await first.close();
    const before = got.length;
    const second = await publish(`rtmp://127.0.0.1:${origin.addr.port}/live/x`, 30, 20);
    await waitFor(() => relay.stats().reconnects >= 1 && relay.stats().state === "live", {
      timeoutMs: 10_000,
      what: "relay reconnected",
    });
    await waitFor(() => got.length > before + 20, { timeoutMs: 10_000, what: "second relayed" });
    await second.close();
    await player.close();
    await reading;
    await relay.stop();
    assert.equal(relay.stats().state, "stopped");
    assert.ok(relay.stats().packets > 60, `${relay.stats().packets} packets relayed`);
  });
});
