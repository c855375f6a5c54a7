// Enhanced RTMP capability bits (E-RTMP v2 "Enhancing NetConnection connect Command") and what
// each side announces, checked on the wire through the client and server sessions.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  CapsExMask,
  forwarderCapabilities,
  FourCcInfoMask,
  isEnhancedConnect,
  publisherCapabilities,
} from "../protocol/capabilities.ts";
import { connectCommand, parseConnect } from "../protocol/command.ts";
import { ClientSession, type ClientSessionEvent } from "../session/client_session.ts";
import { ServerSession, type ServerSessionEvent } from "../session/server_session.ts";
import { concat } from "./support/util.ts";

describe("capability bits", () => {
  it("match the E-RTMP v2 enums", () => {
    assert.deepEqual(FourCcInfoMask, { CanDecode: 1, CanEncode: 2, CanForward: 4 });
    assert.deepEqual(CapsExMask, { Reconnect: 1, Multitrack: 2, ModEx: 4, TimestampNanoOffset: 8 });
  });

  it("a publisher announces CanEncode per codec, multitrack and ModEx; nothing without codecs", () => {
    assert.deepEqual(publisherCapabilities({ video: ["hvc1", "av01"], audio: ["Opus"] }), {
      fourCcList: ["hvc1", "av01", "Opus"],
      videoFourCcInfoMap: { hvc1: 2, av01: 2 },
      audioFourCcInfoMap: { Opus: 2 },
      capsEx: 6,
    });
    assert.deepEqual(publisherCapabilities({ audio: ["fLaC"] }), {
      fourCcList: ["fLaC"],
      audioFourCcInfoMap: { fLaC: 2 },
      capsEx: 6,
    });
    assert.deepEqual(publisherCapabilities({}), {});
    assert.deepEqual(publisherCapabilities({ video: [], audio: [] }), {});
  });

  it("a forwarding server states any codec with CanForward and the extensions it parses", () => {
    assert.deepEqual(forwarderCapabilities(), {
      fourCcList: ["*"],
      videoFourCcInfoMap: { "*": 4 },
      audioFourCcInfoMap: { "*": 4 },
      capsEx: 14,
    });
    // A fresh object each time: callers may add to it.
    assert.notEqual(forwarderCapabilities(), forwarderCapabilities());
  });

  it("isEnhancedConnect looks at every E-RTMP field", () => {
    assert.equal(isEnhancedConnect({ app: "a" }), false);
    for (
      const extra of [{ fourCcList: [] }, { videoFourCcInfoMap: {} }, {
        audioFourCcInfoMap: {},
      }, { capsEx: 0 }]
    ) {
      const parsed = parseConnect(connectCommand({ app: "a", ...extra }));
      assert.equal(isEnhancedConnect(parsed), true, JSON.stringify(extra));
    }
  });
});

describe("capabilities on the wire", () => {
  function connect(
    fields: Record<string, unknown>,
  ): { request: Record<string, unknown>; properties: Record<string, unknown> } {
    const client = new ClientSession({
      connect: { app: "live", tcUrl: "rtmp://h/live", ...fields },
      streamName: "k",
    });
    const server = new ServerSession();
    let request: Record<string, unknown> = {};
    let properties: Record<string, unknown> = {};
    const onServer = (events: ServerSessionEvent[]): void => {
      for (const e of events) {
        if (e.type === "connect-request") {
          request = e.request as unknown as Record<string, unknown>;
          onServer(server.accept(e.id));
        }
      }
    };
    const onClient = (events: ClientSessionEvent[]): void => {
      for (const e of events) {
        if (e.type === "connected") properties = e.properties as Record<string, unknown>;
      }
    };
    for (let i = 0; i < 20; i++) {
      const c2s = concat(client.takeOutput());
      const s2c = concat(server.takeOutput());
      if (c2s.length === 0 && s2c.length === 0) break;
      onServer(server.receive(c2s));
      onClient(client.receive(s2c));
    }
    return { request, properties };
  }

  it("an enhanced client gets the forwarder's capabilities, a legacy one none", () => {
    const enhanced = connect(publisherCapabilities({ video: ["hvc1"] }));
    assert.deepEqual(enhanced.request.videoFourCcInfoMap, { hvc1: FourCcInfoMask.CanEncode });
    assert.equal(enhanced.request.capsEx, CapsExMask.Multitrack | CapsExMask.ModEx);
    for (const [k, v] of Object.entries(forwarderCapabilities())) {
      assert.deepEqual(enhanced.properties[k], v, k);
    }
    const legacy = connect({});
    assert.equal(legacy.properties.fmsVer !== undefined, true);
    for (const k of Object.keys(forwarderCapabilities())) {
      assert.equal(k in legacy.properties, false, k);
    }
  });
});
