import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseRtmpUrl, splitStreamName } from "../protocol/url.ts";
import { throwsCode } from "./support/util.ts";

describe("parseRtmpUrl", () => {
  it("parses a plain rtmp URL with the default port", () => {
    const u = parseRtmpUrl("rtmp://example.com/live/key");
    assert.deepEqual(u, {
      protocol: "rtmp",
      secure: false,
      hostname: "example.com",
      port: 1935,
      app: "live",
      streamName: "key",
      tcUrl: "rtmp://example.com/live",
    });
  });

  it("uses port 443 for rtmps and keeps an explicit port in tcUrl", () => {
    assert.equal(parseRtmpUrl("rtmps://a.rtmps.youtube.com/live2/k").port, 443);
    const u = parseRtmpUrl("RTMPS://host:8443/app/k");
    assert.equal(u.port, 8443);
    assert.equal(u.secure, true);
    assert.equal(u.tcUrl, "rtmps://host:8443/app");
  });

  it("keeps the query string on the stream name", () => {
    const u = parseRtmpUrl("rtmp://h/live/key?token=abc&x=1");
    assert.equal(u.app, "live");
    assert.equal(u.streamName, "key?token=abc&x=1");
  });

  it("takes app/instance when there are three or more segments", () => {
    const u = parseRtmpUrl("rtmp://h/app/inst/stream");
    assert.equal(u.app, "app/inst");
    assert.equal(u.streamName, "stream");
    assert.equal(u.tcUrl, "rtmp://h/app/inst");
    assert.equal(parseRtmpUrl("rtmp://h/a/b/c/d").streamName, "c/d");
  });

  it("parses IPv6 literals", () => {
    const u = parseRtmpUrl("rtmp://[::1]:1936/live/key");
    assert.equal(u.hostname, "::1");
    assert.equal(u.port, 1936);
    assert.equal(u.tcUrl, "rtmp://[::1]:1936/live");
    assert.equal(parseRtmpUrl("rtmp://[fe80::1]/a/b").port, 1935);
  });

  it("accepts an app without stream name", () => {
    const u = parseRtmpUrl("rtmp://h/live");
    assert.equal(u.app, "live");
    assert.equal(u.streamName, "");
    assert.equal(parseRtmpUrl("rtmp://h/live/").streamName, "");
  });

  it("ignores a trailing slash (a paste slip) when the meaning is clear", () => {
    const u = parseRtmpUrl("rtmp://host/live/key/");
    assert.equal(u.app, "live");
    assert.equal(u.streamName, "key");
    assert.equal(u.tcUrl, "rtmp://host/live");
    assert.deepEqual(
      [parseRtmpUrl("rtmp://h/live/key//").app, parseRtmpUrl("rtmp://h/live/key//").streamName],
      ["live", "key"],
    );
    const q = parseRtmpUrl("rtmp://h/live/key/?token=abc");
    assert.deepEqual([q.app, q.streamName], ["live", "key?token=abc"]);
    const inst = parseRtmpUrl("rtmps://h/app/inst/key/");
    assert.deepEqual([inst.app, inst.streamName], ["app/inst", "key"]);
  });

  it("an empty segment inside the path names the URL to use instead", () => {
    throwsCode(
      () => parseRtmpUrl("rtmp://h/live//key"),
      "INVALID_URL",
      /empty path segment \("\/\/"\) in "rtmp:\/\/h\/live\/\/key".*remove the doubled "\/" \(e\.g\. "rtmp:\/\/h\/live\/key"\)/,
    );
    throwsCode(
      () => parseRtmpUrl("rtmp://h:1936/a/b//c?x=1"),
      "INVALID_URL",
      /e\.g\. "rtmp:\/\/h:1936\/a\/b\/c\?x=1"/,
    );
    throwsCode(() => parseRtmpUrl("rtmp://h//live/key"), "INVALID_URL", /remove the extra "\/"/);
  });

  for (
    const [bad, fragment] of [
      ["http://h/live/key", "unsupported scheme"],
      ["rtmp://", "missing"],
      ["rtmp:///live/key", "missing host"],
      ["rtmp://h", "missing application"],
      ["rtmp://h/", "missing application"],
      ["rtmp://h:0/live/k", "invalid port"],
      ["rtmp://h:70000/live/k", "invalid port"],
      ["rtmp://h:abc/live/k", "invalid port"],
      ["rtmp://::1/live/k", "brackets"],
      ["rtmp://[::1/live/k", "unclosed"],
      ["rtmp://:p@h/live/k", "empty user name"],
      ["not a url", "expected rtmp://"],
      ["rtmp://h//k", "empty application"],
      ["rtmp://h//", "empty application"],
      ["rtmp://h/?vhost=x", "empty application"],
    ] as const
  ) {
    it(`rejects ${JSON.stringify(bad)} with INVALID_URL`, () => {
      throwsCode(() => parseRtmpUrl(bad), "INVALID_URL", new RegExp(fragment));
    });
  }
});

describe("splitStreamName", () => {
  it("splits key and query", () => {
    const { name, query } = splitStreamName("key?token=a%20b&x=1");
    assert.equal(name, "key");
    assert.equal(query.get("token"), "a b");
    assert.equal(query.get("x"), "1");
  });
  it("returns an empty query without '?'", () => {
    const { name, query } = splitStreamName("plain");
    assert.equal(name, "plain");
    assert.equal([...query].length, 0);
  });
});
