// Signed expiring stream URLs. Expected signatures are computed here with node:crypto's HMAC,
// not with the code under test.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { signedUrlHook, signStreamUrl, verifySignedStream } from "../auth/signed_url.ts";
import { parseRtmpUrl, splitStreamName } from "../protocol/url.ts";
import { throwsCode } from "./support/util.ts";

const SECRET = "test secret, long enough";
const EXPIRES = Date.UTC(2030, 0, 1); // 1893456000 s
const EXP_S = 1893456000;

function refSig(secret: string | Uint8Array, app: string, name: string, expires: number): string {
  return createHmac("sha256", secret).update(`${app}\n${name}\n${expires}`).digest("base64url");
}

/** App, name and query as the server sees them after parsing the URL the client used. */
function asServerSees(url: string): { app: string; name: string; query: URLSearchParams } {
  const u = parseRtmpUrl(url);
  const { name, query } = splitStreamName(u.streamName);
  return { app: u.app, name, query };
}

describe("signStreamUrl", () => {
  it("appends expires (seconds) and the HMAC-SHA256 over app, name and expiry", () => {
    const url = signStreamUrl("rtmp://ingest.example.com/live/cam1", {
      secret: SECRET,
      expires: EXPIRES,
    });
    assert.equal(
      url,
      `rtmp://ingest.example.com/live/cam1?expires=${EXP_S}&sig=${
        refSig(SECRET, "live", "cam1", EXP_S)
      }`,
    );
  });

  it("takes a Date, rounds down to whole seconds, keeps port and app/instance", () => {
    const url = signStreamUrl("rtmps://[::1]:8443/app/inst/cam", {
      secret: SECRET,
      expires: new Date(EXPIRES + 999),
    });
    assert.equal(
      url,
      `rtmps://[::1]:8443/app/inst/cam?expires=${EXP_S}&sig=${
        refSig(SECRET, "app/inst", "cam", EXP_S)
      }`,
    );
  });

  it("keeps other query parameters as written and replaces an old signature", () => {
    const once = signStreamUrl("rtmp://h/live/cam?quality=hd&x=a%20b", {
      secret: SECRET,
      expires: EXPIRES,
    });
    assert.ok(once.startsWith(`rtmp://h/live/cam?quality=hd&x=a%20b&expires=${EXP_S}&sig=`));
    const again = signStreamUrl(once, { secret: SECRET, expires: EXPIRES + 60_000 });
    const query = new URLSearchParams(again.slice(again.indexOf("?") + 1));
    assert.deepEqual(query.getAll("expires"), [String(EXP_S + 60)]);
    assert.deepEqual(query.getAll("sig"), [refSig(SECRET, "live", "cam", EXP_S + 60)]);
    assert.equal(query.get("quality"), "hd");
  });

  it("accepts a byte secret", () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const url = signStreamUrl("rtmp://h/live/cam", { secret: key, expires: EXPIRES });
    assert.ok(url.endsWith(`&sig=${refSig(key, "live", "cam", EXP_S)}`));
  });

  it("refuses bad input with a clear error", () => {
    const ok = { secret: SECRET, expires: EXPIRES };
    throwsCode(() => signStreamUrl("rtmp://h/live", ok), "INVALID_URL", /needs a stream name/);
    throwsCode(() => signStreamUrl("http://h/live/cam", ok), "INVALID_URL");
    throwsCode(
      () => signStreamUrl("rtmp://h/live/cam", { secret: "short", expires: EXPIRES }),
      "INVALID_ARGUMENT",
      /at least 16 bytes, got 5/,
    );
    for (const expires of [NaN, 0, -1, new Date("nope")]) {
      throwsCode(
        () => signStreamUrl("rtmp://h/live/cam", { secret: SECRET, expires }),
        "INVALID_ARGUMENT",
        /expires must be/,
      );
    }
  });
});

describe("verifySignedStream", () => {
  const signed = signStreamUrl("rtmp://h/live/cam1?quality=hd", {
    secret: SECRET,
    expires: EXPIRES,
  });
  const before = EXPIRES - 3_600_000;

  it("accepts what signStreamUrl produced, as the server parses it", () => {
    assert.deepEqual(verifySignedStream(asServerSees(signed), { secret: SECRET, now: before }), {
      ok: true,
      expiresAt: EXPIRES,
    });
  });

  it("accepts a signature made independently with node:crypto, query as text", () => {
    const query = `?expires=${EXP_S}&sig=${refSig(SECRET, "live", "cam1", EXP_S)}`;
    const r = verifySignedStream({ app: "live", name: "cam1", query }, {
      secret: SECRET,
      now: before,
    });
    assert.equal(r.ok, true);
    const r2 = verifySignedStream(
      { app: "live", name: "cam1", query: query.slice(1) },
      { secret: SECRET, now: before },
    );
    assert.equal(r2.ok, true);
  });

  it("ignores extra, reordered query parameters and a query left on app or name", () => {
    const s = asServerSees(signed);
    const query = new URLSearchParams([
      ["token", "t"],
      ["sig", s.query.get("sig")!],
      ["a", "1"],
      ["expires", s.query.get("expires")!],
    ]);
    const r = verifySignedStream(
      { app: "live?vhost=x", name: "cam1?whatever", query },
      { secret: SECRET, now: before },
    );
    assert.equal(r.ok, true);
  });

  it("expires, with the skew as tolerance (default 30 s)", () => {
    const s = asServerSees(signed);
    const v = (now: number, skew?: number) =>
      verifySignedStream(s, { secret: SECRET, now, ...(skew !== undefined ? { skew } : {}) });
    assert.equal(v(EXPIRES).ok, true);
    assert.equal(v(EXPIRES + 30_000).ok, true);
    assert.deepEqual(v(EXPIRES + 30_001), { ok: false, reason: "expired" });
    assert.equal(v(EXPIRES + 1, 0).ok, false);
    assert.equal(v(EXPIRES, 0).ok, true);
    assert.equal(v(EXPIRES + 299_000, 300_000).ok, true);
  });

  it("refuses a tampered name, app or expiry", () => {
    const s = asServerSees(signed);
    const opts = { secret: SECRET, now: before };
    assert.deepEqual(verifySignedStream({ ...s, name: "cam2" }, opts), {
      ok: false,
      reason: "bad_signature",
    });
    assert.deepEqual(verifySignedStream({ ...s, app: "live2" }, opts), {
      ok: false,
      reason: "bad_signature",
    });
    const later = new URLSearchParams(s.query);
    later.set("expires", String(EXP_S + 86_400));
    assert.deepEqual(verifySignedStream({ ...s, query: later }, opts), {
      ok: false,
      reason: "bad_signature",
    });
    assert.deepEqual(
      verifySignedStream(s, { secret: "another secret, long enough", now: before }),
      {
        ok: false,
        reason: "bad_signature",
      },
    );
  });

  it("says `missing` or `malformed` for absent, repeated or ill-formed parameters", () => {
    const s = asServerSees(signed);
    const opts = { secret: SECRET, now: before };
    const sig = s.query.get("sig")!;
    const cases: [string, string][] = [
      ["", "missing"],
      [`expires=${EXP_S}`, "missing"],
      [`sig=${sig}`, "missing"],
      [`expires=${EXP_S}&sig=${sig}&sig=${sig}`, "malformed"],
      [`expires=${EXP_S}&expires=${EXP_S}&sig=${sig}`, "malformed"],
      [`expires=soon&sig=${sig}`, "malformed"],
      [`expires=-1&sig=${sig}`, "malformed"],
      [`expires=${EXP_S}&sig=${sig.slice(1)}`, "malformed"],
      [`expires=${EXP_S}&sig=${sig.slice(1)}=`, "malformed"],
    ];
    for (const [query, reason] of cases) {
      assert.deepEqual(
        verifySignedStream({ app: "live", name: "cam1", query }, opts),
        { ok: false, reason },
        query,
      );
    }
    assert.deepEqual(
      verifySignedStream({ app: "li\nve", name: "cam1", query: s.query }, opts),
      { ok: false, reason: "malformed" },
    );
  });

  it("accepts any of several secrets (rotation)", () => {
    const s = asServerSees(signed);
    const r = verifySignedStream(s, {
      secret: ["the new secret, long enough", SECRET],
      now: before,
    });
    assert.equal(r.ok, true);
    const none = verifySignedStream(s, {
      secret: ["the new secret, long enough", "yet another one, long"],
      now: before,
    });
    assert.deepEqual(none, { ok: false, reason: "bad_signature" });
  });

  it("refuses bad options", () => {
    const s = asServerSees(signed);
    throwsCode(
      () => verifySignedStream(s, { secret: SECRET, now: NaN }),
      "INVALID_ARGUMENT",
      /now/,
    );
    throwsCode(
      () => verifySignedStream(s, { secret: SECRET, now: 0, skew: -1 }),
      "INVALID_ARGUMENT",
      /skew/,
    );
    throwsCode(() => verifySignedStream(s, { secret: [], now: 0 }), "INVALID_ARGUMENT", /secret/);
    throwsCode(() => verifySignedStream(s, { secret: "short", now: 0 }), "INVALID_ARGUMENT", /16/);
  });
});

describe("signedUrlHook", () => {
  const query = (name: string, expires: number, secret = SECRET) =>
    new URLSearchParams({ expires: String(expires), sig: refSig(secret, "live", name, expires) });

  it("accepts a stream signed over app, name and expiry (signature by node:crypto)", () => {
    const hook = signedUrlHook({ secret: SECRET, now: () => EXPIRES - 1000 });
    assert.deepEqual(hook({ app: "live", name: "cam1", query: query("cam1", EXP_S) }), {
      accept: true,
    });
  });

  it("refuses expired (beyond the skew), tampered and unsigned streams with a reason", () => {
    const hook = signedUrlHook({ secret: SECRET, skew: 5_000, now: () => EXPIRES + 5_001 });
    assert.deepEqual(hook({ app: "live", name: "cam1", query: query("cam1", EXP_S) }), {
      accept: false,
      reason: "signed URL expired",
      description: "The signed URL has expired.",
    });
    const lenient = signedUrlHook({ secret: SECRET, skew: 5_000, now: () => EXPIRES + 5_000 });
    assert.equal(lenient({ app: "live", name: "cam1", query: query("cam1", EXP_S) }).accept, true);
    const other = lenient({ app: "live", name: "cam2", query: query("cam1", EXP_S) });
    assert.equal(other.accept ? "" : other.reason, "signed URL bad signature");
    const wrongKey = lenient({
      app: "live",
      name: "cam1",
      query: query("cam1", EXP_S, "another secret, long enough"),
    });
    assert.equal(wrongKey.accept, false);
    const none = lenient({ app: "live", name: "cam1", query: new URLSearchParams("x=1") });
    assert.equal(none.accept ? "" : none.reason, "signed URL missing");
  });

  it("accepts any of several secrets (rotation) and checks them when made", () => {
    const hook = signedUrlHook({
      secret: ["the new secret, long enough", SECRET],
      now: () => EXPIRES - 1,
    });
    assert.equal(hook({ app: "live", name: "c", query: query("c", EXP_S) }).accept, true);
    throwsCode(() => signedUrlHook({ secret: "short" }), "INVALID_ARGUMENT");
    throwsCode(() => signedUrlHook({ secret: [] }), "INVALID_ARGUMENT");
    throwsCode(() => signedUrlHook({ secret: SECRET, skew: -1 }), "INVALID_ARGUMENT");
  });
});
