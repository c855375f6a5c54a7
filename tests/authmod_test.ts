// MD5 and the Adobe / Limelight authmod exchange. Expected hashes are computed here with
// node:crypto (not with the code under test), following the formulas of FFmpeg's
// libavformat/rtmpproto.c (do_adobe_auth, do_llnw_auth) and librtmp's PublisherAuth.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { createHash } from "node:crypto";
import { Md5, md5 } from "../protocol/md5.ts";
import {
  adobeResponse,
  AUTH_REJECTED_CODE,
  AuthmodClient,
  type AuthmodClientStep,
  AuthmodServer,
  type AuthmodServerOptions,
  constantTimeEqual,
  llnwResponse,
  type ServerAuthOutcome,
  stripAuthParams,
  withAuthQuery,
} from "../protocol/authmod.ts";
import { RtmpError } from "../errors.ts";
import { prng, throwsCode, toHex } from "./support/util.ts";

const SEED = process.env.RTMP_TEST_SEED !== undefined
  ? Number(process.env.RTMP_TEST_SEED) >>> 0
  : 1;
console.log(`authmod_test seed: ${SEED} (set RTMP_TEST_SEED=${SEED} to reproduce)`);

const te = new TextEncoder();

// ---- independent reference computations (node:crypto) ----

function refMd5(data: string | Uint8Array, enc: "hex" | "base64"): string {
  return createHash("md5").update(data).digest(enc);
}

/** FFmpeg do_adobe_auth: opaque if present, else challenge. */
function refAdobe(
  user: string,
  salt: string,
  password: string,
  serverPart: string,
  clientChallenge: string,
): string {
  const hash1 = refMd5(user + salt + password, "base64");
  return refMd5(hash1 + serverPart + clientChallenge, "base64");
}

/** FFmpeg do_llnw_auth. */
function refLlnw(
  user: string,
  password: string,
  app: string,
  nonce: string,
  nc: string,
  cnonce: string,
): string {
  const ha1 = refMd5(`${user}:live:${password}`, "hex");
  const ha2 = refMd5(`publish:/${app}${app.includes("/") ? "" : "/_definst_"}`, "hex");
  return refMd5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`, "hex");
}

/** Deterministic random bytes from the test seed. */
function seededRandom(seed: number): (n: number) => Uint8Array {
  const next = prng(seed);
  return (n) => Uint8Array.from({ length: n }, () => Math.floor(next() * 256));
}

/** A random() that returns 0, 1, 2, … so descriptions are predictable. */
function countingRandom(): (n: number) => Uint8Array {
  let c = 0;
  return (n) => Uint8Array.from({ length: n }, () => c++ & 0xff);
}

/** Query parameters of a description after `?reason=` (raw, not decoded). */
function descParams(description: string): Map<string, string> {
  const at = description.indexOf("?reason=");
  assert.ok(at >= 0, `no ?reason= in ${description}`);
  const m = new Map<string, string>();
  for (const piece of description.slice(at + 1).split("&")) {
    const eq = piece.indexOf("=");
    m.set(piece.slice(0, eq), piece.slice(eq + 1));
  }
  return m;
}

function expectKind<K extends ServerAuthOutcome["kind"]>(
  o: ServerAuthOutcome,
  kind: K,
): Extract<ServerAuthOutcome, { kind: K }> {
  assert.equal(o.kind, kind, `expected ${kind}, got ${JSON.stringify(o)}`);
  return o as Extract<ServerAuthOutcome, { kind: K }>;
}

function expectStep<K extends AuthmodClientStep["kind"]>(
  s: AuthmodClientStep,
  kind: K,
): Extract<AuthmodClientStep, { kind: K }> {
  assert.equal(s.kind, kind, `expected ${kind}, got ${JSON.stringify(s)}`);
  return s as Extract<AuthmodClientStep, { kind: K }>;
}

// ---- MD5 ----

describe("md5 (RFC 1321)", () => {
  // RFC 1321 appendix A.5, "test suite".
  const vectors: [string, string][] = [
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    [
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
      "d174ab98d277d9f5a5611c2c9f419d9f",
    ],
    ["1234567890".repeat(8), "57edf4a22be3c955ac49da2e2107b67a"],
  ];
  for (const [input, digest] of vectors) {
    it(`MD5("${input.length > 20 ? input.slice(0, 20) + "…" : input}") = ${digest}`, () => {
      assert.equal(toHex(md5(te.encode(input))), digest);
    });
  }

  it("matches node:crypto around the padding boundaries and for long inputs", () => {
    const rnd = seededRandom(SEED);
    for (const n of [1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 100_000]) {
      const data = rnd(n);
      assert.equal(toHex(md5(data)), refMd5(data, "hex"), `length ${n} (seed ${SEED})`);
    }
  });

  it("gives the same digest however the input is split", () => {
    const rnd = seededRandom(SEED ^ 0x9e3779b9);
    const data = rnd(300);
    const whole = toHex(md5(data));
    for (let cut = 0; cut <= data.length; cut += 7) {
      const h = new Md5().update(data.subarray(0, cut)).update(data.subarray(cut));
      assert.equal(toHex(h.digest()), whole, `cut at ${cut} (seed ${SEED})`);
    }
    assert.equal(toHex(md5(data.subarray(0, 10), data.subarray(10))), whole);
  });

  it("refuses to be used after digest()", () => {
    const h = new Md5();
    h.digest();
    throwsCode(() => h.update(new Uint8Array(1)), "INVALID_ARGUMENT", /after digest/);
    throwsCode(() => h.digest(), "INVALID_ARGUMENT", /twice/);
  });
});

// ---- the scheme formulas ----

describe("adobeResponse / llnwResponse", () => {
  it("adobe: uses opaque when the server sent one", () => {
    const got = adobeResponse({
      user: "alice",
      password: "s3cret",
      salt: "Zm9vYmFy",
      opaque: "0paqu3",
      challenge: "ch4ll",
      clientChallenge: "1a2b3c4d",
    });
    assert.equal(got, refAdobe("alice", "Zm9vYmFy", "s3cret", "0paqu3", "1a2b3c4d"));
    assert.notEqual(got, refAdobe("alice", "Zm9vYmFy", "s3cret", "ch4ll", "1a2b3c4d"));
  });

  it("adobe: falls back to the challenge without opaque, and to nothing without either", () => {
    const base = { user: "alice", password: "pw", salt: "s", clientChallenge: "cc" };
    assert.equal(
      adobeResponse({ ...base, challenge: "ch" }),
      refAdobe("alice", "s", "pw", "ch", "cc"),
    );
    assert.equal(adobeResponse(base), refAdobe("alice", "s", "pw", "", "cc"));
  });

  it("adobe: an empty opaque still takes precedence, as in FFmpeg", () => {
    const got = adobeResponse({
      user: "u",
      password: "p",
      salt: "s",
      opaque: "",
      challenge: "ch",
      clientChallenge: "cc",
    });
    assert.equal(got, refAdobe("u", "s", "p", "", "cc"));
  });

  it("adobe: hashes UTF-8 bytes of non-ASCII names and passwords", () => {
    const got = adobeResponse({
      user: "jürgen",
      password: "pässwörd✓",
      salt: "s",
      opaque: "o",
      clientChallenge: "cc",
    });
    assert.equal(got, refAdobe("jürgen", "s", "pässwörd✓", "o", "cc"));
  });

  it("llnw: adds /_definst_ to an app without instance", () => {
    const input = {
      user: "bob",
      password: "pw",
      app: "live",
      nonce: "n0nce",
      cnonce: "deadbeef",
      nc: "00000001",
    };
    assert.equal(
      llnwResponse(input),
      refLlnw("bob", "pw", "live", "n0nce", "00000001", "deadbeef"),
    );
    assert.match(llnwResponse(input), /^[0-9a-f]{32}$/);
  });

  it("llnw: keeps app/instance as it is", () => {
    const got = llnwResponse({
      user: "bob",
      password: "pw",
      app: "live/inst",
      nonce: "n",
      cnonce: "c",
      nc: "00000002",
    });
    assert.equal(got, refLlnw("bob", "pw", "live/inst", "n", "00000002", "c"));
  });
});

// ---- app / tcUrl parameters ----

describe("stripAuthParams / withAuthQuery", () => {
  it("leaves an app without authmod alone", () => {
    assert.deepEqual(stripAuthParams("live"), { clean: "live" });
    assert.deepEqual(stripAuthParams("live?user=x"), { clean: "live?user=x" });
  });

  it("takes every auth parameter off and decodes the user for lookups", () => {
    const s = stripAuthParams(
      "live?authmod=adobe&user=al%40ice&challenge=AbC+/9==&response=R+/==&opaque=op",
    );
    assert.equal(s.clean, "live");
    assert.equal(s.user, "al@ice");
    // Raw values: `+` and `=` untouched.
    assert.deepEqual(s.auth, {
      authmod: "adobe",
      user: "al%40ice",
      challenge: "AbC+/9==",
      response: "R+/==",
      opaque: "op",
    });
  });

  it("finds parameters appended after an existing query, with ? or &", () => {
    const a = stripAuthParams("live?vhost=x?authmod=adobe&user=u");
    assert.equal(a.clean, "live?vhost=x");
    assert.equal(a.auth?.user, "u");
    const b = stripAuthParams("rtmp://h:1935/live?vhost=x&authmod=llnw&user=u&nonce=n&nc=1");
    assert.equal(b.clean, "rtmp://h:1935/live?vhost=x");
    assert.equal(b.auth?.authmod, "llnw");
    assert.equal(b.auth?.nonce, "n");
  });

  it("keeps unrelated parameters that follow the auth ones, and the first of a repeated one", () => {
    const s = stripAuthParams("live?authmod=adobe&user=a&token=t&user=b");
    assert.equal(s.clean, "live?token=t");
    assert.equal(s.auth?.user, "a");
  });

  it("keeps an undecodable user name raw", () => {
    assert.equal(stripAuthParams("live?authmod=adobe&user=%E0%A4").user, "%E0%A4");
  });

  it("withAuthQuery joins with ? or &", () => {
    assert.equal(withAuthQuery("live", "?authmod=adobe&user=u"), "live?authmod=adobe&user=u");
    assert.equal(
      withAuthQuery("rtmp://h/live?a=1", "?authmod=adobe"),
      "rtmp://h/live?a=1&authmod=adobe",
    );
    assert.equal(withAuthQuery("live", ""), "live");
  });

  it("constantTimeEqual compares whole strings", () => {
    assert.equal(constantTimeEqual("abc", "abc"), true);
    assert.equal(constantTimeEqual("abc", "abd"), false);
    assert.equal(constantTimeEqual("abc", "abcd"), false);
    assert.equal(constantTimeEqual("", ""), true);
    assert.equal(constantTimeEqual("é", "e"), false);
  });
});

// ---- server ----

const NEED_AUTH_ADOBE = "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ";
const NEED_AUTH_LLNW = "[ AccessManager.Reject ] : [ code=403 need auth; authmod=llnw ] : ";

/** Server step 2 for `user`: returns the description's salt and challenge/opaque. */
function challengeFor(
  server: AuthmodServer,
  user: string,
  now = 0,
  random = countingRandom(),
): { salt: string; challenge: string; opaque: string; description: string } {
  const o = expectKind(
    server.authenticate(`live?authmod=adobe&user=${user}`, { now, random }),
    "challenge",
  );
  const p = descParams(o.description);
  return {
    salt: p.get("salt")!,
    challenge: p.get("challenge")!,
    opaque: p.get("opaque")!,
    description: o.description,
  };
}

/** Calls authenticate twice when it asks for the password, the way the session layer will. */
function decide(
  server: AuthmodServer,
  app: string,
  password: string | null,
  now = 0,
): ServerAuthOutcome {
  const random = countingRandom();
  const first = server.authenticate(app, { now, random });
  if (first.kind !== "need_password") return first;
  return server.authenticate(app, { now, random, password });
}

describe("AuthmodServer", () => {
  it("asks a client without authmod for its user name (adobe first, or the one configured)", () => {
    const o = expectKind(
      new AuthmodServer().authenticate("live", { now: 0, random: countingRandom() }),
      "challenge",
    );
    assert.equal(o.step, "need_user");
    assert.equal(o.authmod, "adobe");
    assert.equal(o.description, NEED_AUTH_ADOBE);
    const l = new AuthmodServer({ mods: ["llnw"] }).authenticate("live?x=1", {
      now: 0,
      random: countingRandom(),
    });
    assert.equal(expectKind(l, "challenge").description, NEED_AUTH_LLNW);
  });

  it("answers a user name with salt, challenge and opaque (opaque = challenge)", () => {
    const server = new AuthmodServer();
    const o = expectKind(
      server.authenticate("live?authmod=adobe&user=alice", { now: 0, random: countingRandom() }),
      "challenge",
    );
    assert.equal(o.step, "need_response");
    assert.equal(o.user, "alice");
    // Bytes 0..5 → salt "AAECAwQF", bytes 6..11 → challenge "BgcICQoL" (base64url).
    assert.equal(
      o.description,
      "[ AccessManager.Reject ] : [ authmod=adobe ] : " +
        "?reason=needauth&user=alice&salt=AAECAwQF&challenge=BgcICQoL&opaque=BgcICQoL",
    );
    assert.equal(server.pending, 1);
  });

  it("accepts the response FFmpeg computes (opaque), asking for the password once", () => {
    const server = new AuthmodServer();
    const { salt, opaque } = challengeFor(server, "alice");
    const response = refAdobe("alice", salt, "s3cret", opaque, "0a1b2c3d");
    const app =
      `live?authmod=adobe&user=alice&challenge=0a1b2c3d&response=${response}&opaque=${opaque}`;
    const random = countingRandom();
    const first = expectKind(server.authenticate(app, { now: 1000, random }), "need_password");
    assert.deepEqual(first, { kind: "need_password", authmod: "adobe", user: "alice" });
    assert.equal(server.pending, 1, "looking up the password does not consume the challenge");
    const done = server.authenticate(app, { now: 1000, random, password: "s3cret" });
    assert.deepEqual(done, { kind: "accepted", authmod: "adobe", user: "alice", app: "live" });
    assert.equal(server.pending, 0);
  });

  it("accepts librtmp's base64 client challenge (+, /, =) and keeps other app parameters", () => {
    const server = new AuthmodServer();
    const { salt, opaque } = challengeFor(server, "alice");
    const c2 = "+/8AAA==";
    const response = refAdobe("alice", salt, "pw", opaque, c2);
    const app =
      `live?vhost=v?authmod=adobe&user=alice&challenge=${c2}&response=${response}&opaque=${opaque}`;
    const o = expectKind(decide(server, app, "pw"), "accepted");
    assert.equal(o.app, "live?vhost=v");
  });

  it("accepts a client that answers the challenge and does not echo opaque", () => {
    const server = new AuthmodServer();
    const { salt, challenge } = challengeFor(server, "alice");
    const response = refAdobe("alice", salt, "pw", challenge, "cafebabe");
    const app = `live?authmod=adobe&user=alice&challenge=cafebabe&response=${response}`;
    expectKind(decide(server, app, "pw"), "accepted");
  });

  it("rejects a wrong password with authfailed, and the challenge is then used up", () => {
    const server = new AuthmodServer();
    const { salt, opaque } = challengeFor(server, "alice");
    const wrong = refAdobe("alice", salt, "guess", opaque, "0a1b2c3d");
    const app =
      `live?authmod=adobe&user=alice&challenge=0a1b2c3d&response=${wrong}&opaque=${opaque}`;
    const o = expectKind(decide(server, app, "s3cret"), "failed");
    assert.equal(o.reason, "authfailed");
    assert.equal(o.user, "alice");
    assert.equal(
      o.description,
      `[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed&opaque=${opaque}`,
    );
    assert.ok(!JSON.stringify(o).includes("s3cret"), "no password in the outcome");
    assert.ok(!JSON.stringify(o).includes(wrong), "no response in the outcome");
    // The right answer to the same challenge now fails too: single use.
    const right = refAdobe("alice", salt, "s3cret", opaque, "0a1b2c3d");
    const again =
      `live?authmod=adobe&user=alice&challenge=0a1b2c3d&response=${right}&opaque=${opaque}`;
    const r = server.authenticate(again, { now: 0, random: countingRandom() });
    assert.equal(expectKind(r, "failed").reason, "authfailed");
  });

  it("refuses a replayed successful answer", () => {
    const server = new AuthmodServer();
    const { salt, opaque } = challengeFor(server, "alice");
    const response = refAdobe("alice", salt, "pw", opaque, "11111111");
    const app =
      `live?authmod=adobe&user=alice&challenge=11111111&response=${response}&opaque=${opaque}`;
    expectKind(decide(server, app, "pw"), "accepted");
    assert.equal(expectKind(decide(server, app, "pw"), "failed").reason, "authfailed");
  });

  it("refuses an answer to an expired challenge without asking for the password", () => {
    const server = new AuthmodServer({ challengeTtl: 5000 });
    const { salt, opaque } = challengeFor(server, "alice", 0);
    const response = refAdobe("alice", salt, "pw", opaque, "11111111");
    const app =
      `live?authmod=adobe&user=alice&challenge=11111111&response=${response}&opaque=${opaque}`;
    const o = server.authenticate(app, { now: 5000, random: countingRandom() });
    assert.equal(expectKind(o, "failed").reason, "authfailed");
    assert.equal(server.pending, 0, "expired challenges are swept");
  });

  it("refuses an opaque it never issued, or one issued to another user", () => {
    const server = new AuthmodServer();
    const bogus = server.authenticate(
      "live?authmod=adobe&user=alice&challenge=1&response=x&opaque=nope",
      { now: 0, random: countingRandom() },
    );
    assert.equal(expectKind(bogus, "failed").reason, "authfailed");
    const { salt, opaque } = challengeFor(server, "alice");
    const response = refAdobe("mallory", salt, "mpw", opaque, "11111111");
    const app =
      `live?authmod=adobe&user=mallory&challenge=11111111&response=${response}&opaque=${opaque}`;
    assert.equal(expectKind(decide(server, app, "mpw"), "failed").reason, "authfailed");
  });

  it("answers an unknown user with authfailed, or nosuchuser when told to reveal it", () => {
    for (const reveal of [false, true]) {
      const server = new AuthmodServer({ revealUnknownUser: reveal });
      const { salt, opaque } = challengeFor(server, "ghost");
      const response = refAdobe("ghost", salt, "pw", opaque, "11111111");
      const app =
        `live?authmod=adobe&user=ghost&challenge=11111111&response=${response}&opaque=${opaque}`;
      const o = expectKind(decide(server, app, null), "failed");
      assert.equal(o.reason, reveal ? "nosuchuser" : "authfailed");
      assert.ok(o.description.includes(reveal ? "?reason=nosuchuser" : "?reason=authfailed"));
      assert.equal(server.pending, 0);
    }
  });

  it("answers an empty or unusable user name with nosuchuser", () => {
    const server = new AuthmodServer();
    for (
      const app of [
        "live?authmod=adobe",
        "live?authmod=adobe&user=",
        `live?authmod=adobe&user=${"x".repeat(65)}`,
        // Would end up inside the description, where encoders search for `?reason=…`.
        "live?authmod=adobe&user=x?reason=authfailed",
        "live?authmod=adobe&user=a b",
        "live?authmod=adobe&user=a\u0001",
      ]
    ) {
      const o = expectKind(
        server.authenticate(app, { now: 0, random: countingRandom() }),
        "failed",
      );
      assert.equal(o.reason, "nosuchuser");
      assert.equal(
        o.description,
        "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=nosuchuser&opaque=-",
      );
    }
    assert.equal(server.pending, 0);
    // 64 characters, percent-encoded specials: fine.
    const ok = server.authenticate(`live?authmod=adobe&user=${"x".repeat(61)}%20`, {
      now: 0,
      random: countingRandom(),
    });
    assert.equal(expectKind(ok, "challenge").user, "x".repeat(61) + " ");
  });

  it("refuses a scheme it does not offer", () => {
    const server = new AuthmodServer({ mods: ["adobe"] });
    for (const app of ["live?authmod=llnw&user=u", "live?authmod=red5&user=u"]) {
      const o = expectKind(
        server.authenticate(app, { now: 0, random: countingRandom() }),
        "failed",
      );
      assert.equal(o.reason, "invalid_authmod");
      assert.equal(
        o.description,
        "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=invalid_authmod&opaque=-",
      );
    }
  });

  it("keeps at most maxPending challenges, dropping the oldest", () => {
    const server = new AuthmodServer({ maxPending: 3 });
    const random = seededRandom(SEED);
    const first = challengeFor(server, "u0", 0, random);
    for (let i = 1; i <= 3; i++) challengeFor(server, `u${i}`, 0, random);
    assert.equal(server.pending, 3);
    const response = refAdobe("u0", first.salt, "pw", first.opaque, "11111111");
    const app =
      `live?authmod=adobe&user=u0&challenge=11111111&response=${response}&opaque=${first.opaque}`;
    assert.equal(expectKind(decide(server, app, "pw"), "failed").reason, "authfailed");
  });

  it("llnw: challenges with a nonce and accepts FFmpeg's digest", () => {
    const server = new AuthmodServer({ mods: ["llnw"] });
    const c = expectKind(
      server.authenticate("live?authmod=llnw&user=bob", { now: 0, random: countingRandom() }),
      "challenge",
    );
    // Bytes 0..8 → nonce "AAECAwQFBgcI".
    assert.equal(
      c.description,
      "[ AccessManager.Reject ] : [ authmod=llnw ] : ?reason=needauth&user=bob&nonce=AAECAwQFBgcI",
    );
    const nonce = descParams(c.description).get("nonce")!;
    const response = refLlnw("bob", "pw", "live", nonce, "00000001", "1234abcd");
    const app =
      `live?authmod=llnw&user=bob&nonce=${nonce}&cnonce=1234abcd&nc=00000001&response=${response}`;
    assert.deepEqual(decide(server, app, "pw"), {
      kind: "accepted",
      authmod: "llnw",
      user: "bob",
      app: "live",
    });
  });

  it("llnw: a wrong password fails with authfailed", () => {
    const server = new AuthmodServer({ mods: ["llnw"] });
    const c = expectKind(
      server.authenticate("live?authmod=llnw&user=bob", { now: 0, random: countingRandom() }),
      "challenge",
    );
    const nonce = descParams(c.description).get("nonce")!;
    const response = refLlnw("bob", "nope", "live", nonce, "00000001", "1234abcd");
    const app =
      `live?authmod=llnw&user=bob&nonce=${nonce}&cnonce=1234abcd&nc=00000001&response=${response}`;
    const o = expectKind(decide(server, app, "pw"), "failed");
    assert.equal(o.reason, "authfailed");
    assert.equal(o.description, "[ AccessManager.Reject ] : [ authmod=llnw ] : ?reason=authfailed");
  });

  it("validates its options and the random source", () => {
    const bad: AuthmodServerOptions[] = [
      { mods: [] },
      { mods: ["basic" as "adobe"] },
      { challengeTtl: 0 },
      { maxPending: 0 },
      { maxPending: 1.5 },
    ];
    for (const o of bad) throwsCode(() => new AuthmodServer(o), "INVALID_ARGUMENT");
    throwsCode(
      () =>
        new AuthmodServer().authenticate("live?authmod=adobe&user=u", {
          now: 0,
          random: () => new Uint8Array(2),
        }),
      "INVALID_ARGUMENT",
      /random\(6\)/,
    );
  });
});

// ---- client ----

const CHALLENGE_ADOBE = "[ AccessManager.Reject ] : [ authmod=adobe ] : " +
  "?reason=needauth&user=bob&salt=S4lt&challenge=Ch4l&opaque=0paq";

describe("AuthmodClient", () => {
  const random = () => new Uint8Array([0xde, 0xad, 0xbe, 0xef]);

  it("sends its user name after `code=403 need auth`, URL-encoded", () => {
    const c = new AuthmodClient({ user: "a b&c", password: "pw", app: "live", random });
    const s = expectStep(c.onConnectRejected(NEED_AUTH_ADOBE), "retry");
    assert.deepEqual(s, {
      kind: "retry",
      authmod: "adobe",
      query: "?authmod=adobe&user=a%20b%26c",
    });
  });

  it("answers the challenge like FFmpeg: opaque, client challenge, response", () => {
    const c = new AuthmodClient({ user: "bob", password: "pw", app: "live", random });
    expectStep(c.onConnectRejected(NEED_AUTH_ADOBE), "retry");
    const s = expectStep(c.onConnectRejected(CHALLENGE_ADOBE), "retry");
    const response = refAdobe("bob", "S4lt", "pw", "0paq", "deadbeef");
    assert.equal(
      s.query,
      `?authmod=adobe&user=bob&challenge=deadbeef&response=${response}&opaque=0paq`,
    );
  });

  it("uses the challenge when there is no opaque (gortmplib's wording too)", () => {
    const c = new AuthmodClient({ user: "bob", password: "pw", app: "live", random });
    expectStep(c.onConnectRejected("code=403 need auth; authmod=adobe"), "retry");
    const s = expectStep(
      c.onConnectRejected("authmod=adobe ?reason=needauth&user=bob&salt=salt123&challenge=srv456"),
      "retry",
    );
    const response = refAdobe("bob", "salt123", "pw", "srv456", "deadbeef");
    assert.equal(s.query, `?authmod=adobe&user=bob&challenge=deadbeef&response=${response}`);
  });

  it("hashes (and sends) the user name as the server echoed it", () => {
    // A server that normalises names answers for "ALICE"; FFmpeg and librtmp hash its echo.
    const c = new AuthmodClient({ user: "alice", password: "pw", app: "live", random });
    const s = expectStep(
      c.onConnectRejected(
        "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&user=ALICE&salt=s&challenge=c&opaque=o",
      ),
      "retry",
    );
    const response = refAdobe("ALICE", "s", "pw", "o", "deadbeef");
    assert.equal(
      s.query,
      `?authmod=adobe&user=ALICE&challenge=deadbeef&response=${response}&opaque=o`,
    );
  });

  it("hashes its own (encoded) user name when the server echoes none", () => {
    const c = new AuthmodClient({ user: "al@ice", password: "pw", app: "live", random });
    const s = expectStep(
      c.onConnectRejected(
        "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&salt=s&challenge=c",
      ),
      "retry",
    );
    const response = refAdobe("al%40ice", "s", "pw", "c", "deadbeef");
    assert.equal(s.query, `?authmod=adobe&user=al%40ice&challenge=deadbeef&response=${response}`);
  });

  it("llnw: answers with nonce, cnonce, nc and the digest over the app without query", () => {
    const c = new AuthmodClient({ user: "bob", password: "pw", app: "live?x=1", random });
    expectStep(c.onConnectRejected(NEED_AUTH_LLNW), "retry");
    const s = expectStep(
      c.onConnectRejected(
        "[ AccessManager.Reject ] : [ authmod=llnw ] : ?reason=needauth&user=bob&nonce=N0nce",
      ),
      "retry",
    );
    const response = refLlnw("bob", "pw", "live", "N0nce", "00000001", "deadbeef");
    assert.equal(
      s.query,
      `?authmod=llnw&user=bob&nonce=N0nce&cnonce=deadbeef&nc=00000001&response=${response}`,
    );
  });

  function failure(step: AuthmodClientStep, pattern: RegExp, password: string): RtmpError {
    const f = expectStep(step, "failed");
    assert.ok(f.error instanceof RtmpError);
    assert.equal(f.error.code, "REJECTED");
    assert.equal(f.error.status, AUTH_REJECTED_CODE);
    assert.match(f.error.message, pattern);
    for (const text of [f.error.message, f.error.description ?? "", String(f.error.stack)]) {
      assert.ok(!text.includes(password), `password leaked into "${text}"`);
    }
    return f.error;
  }

  it("reports authfailed and nosuchuser as final errors without the password", () => {
    const pw = "hunter2-very-secret";
    const c1 = new AuthmodClient({ user: "bob", password: pw, app: "live", random });
    failure(
      c1.onConnectRejected(
        "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed&opaque=x",
      ),
      /rejected the user name or password for user "bob" \(authmod=adobe\)/,
      pw,
    );
    const c2 = new AuthmodClient({ user: "bob", password: pw, app: "live", random });
    failure(
      c2.onConnectRejected("[ AccessManager.Reject ] : [ authmod=llnw ] : ?reason=nosuchuser"),
      /does not know user "bob" \(authmod=llnw\)/,
      pw,
    );
  });

  it("gives up after one answer, and when asked for the user name twice", () => {
    const pw = "hunter2-very-secret";
    const c = new AuthmodClient({ user: "bob", password: pw, app: "live", random });
    expectStep(c.onConnectRejected(NEED_AUTH_ADOBE), "retry");
    expectStep(c.onConnectRejected(CHALLENGE_ADOBE), "retry");
    failure(c.onConnectRejected(CHALLENGE_ADOBE), /did not accept our response/, pw);
    const d = new AuthmodClient({ user: "bob", password: pw, app: "live", random });
    expectStep(d.onConnectRejected(NEED_AUTH_ADOBE), "retry");
    failure(d.onConnectRejected(NEED_AUTH_ADOBE), /asked for credentials again/, pw);
  });

  it("says credentials are needed when it has none", () => {
    for (const opts of [{}, { user: "bob" }, { password: "pw" }, { user: "", password: "pw" }]) {
      const c = new AuthmodClient({ ...opts, app: "live", random });
      failure(
        c.onConnectRejected(NEED_AUTH_ADOBE),
        /requires authentication \(authmod=adobe\)/,
        "pw",
      );
    }
  });

  it("leaves rejections that are not about authmod to the caller", () => {
    const c = new AuthmodClient({ user: "bob", password: "pw", app: "live", random });
    assert.deepEqual(c.onConnectRejected("Connection rejected: app not found"), {
      kind: "unrelated",
    });
    failure(
      c.onConnectRejected(
        "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=invalid_authmod&opaque=-",
      ),
      /reply we do not understand/,
      "pw",
    );
  });

  it("llnw: a challenge without nonce is an error", () => {
    const c = new AuthmodClient({ user: "bob", password: "pw", app: "live", random });
    failure(
      c.onConnectRejected(
        "[ AccessManager.Reject ] : [ authmod=llnw ] : ?reason=needauth&user=bob",
      ),
      /no nonce/,
      "pw",
    );
  });
});

// ---- client ↔ server ----

interface RoundTrip {
  outcome: ServerAuthOutcome;
  client?: AuthmodClientStep;
  connects: number;
  lookups: string[];
}

/** Plays connect → _error → reconnect until the server accepts or the client gives up. */
function roundTrip(
  server: AuthmodServer,
  creds: { user?: string; password?: string },
  users: Record<string, string>,
  baseApp = "live",
): RoundTrip {
  const random = seededRandom(SEED ^ 0x51ed);
  const client = new AuthmodClient({ ...creds, app: baseApp, random });
  const lookups: string[] = [];
  let app = baseApp;
  for (let connects = 1; connects <= 5; connects++) {
    let outcome = server.authenticate(app, { now: connects * 100, random });
    if (outcome.kind === "need_password") {
      lookups.push(outcome.user);
      const password = Object.hasOwn(users, outcome.user) ? users[outcome.user] : null;
      outcome = server.authenticate(app, { now: connects * 100, random, password });
    }
    if (outcome.kind === "accepted") return { outcome, connects, lookups };
    assert.ok(outcome.kind === "challenge" || outcome.kind === "failed");
    const step = client.onConnectRejected(outcome.description);
    if (step.kind !== "retry") return { outcome, client: step, connects, lookups };
    app = withAuthQuery(baseApp, step.query);
  }
  assert.fail("the exchange did not end within 5 connects");
}

describe("AuthmodClient ↔ AuthmodServer", () => {
  const users = { alice: "correct horse", "ünï cødé@x y": "pä$$ &=?", bob: "b" };

  for (const mod of ["adobe", "llnw"] as const) {
    it(`${mod}: the right password is accepted on the third connect`, () => {
      const server = new AuthmodServer({ mods: [mod] });
      const r = roundTrip(server, { user: "alice", password: users.alice }, users);
      assert.equal(r.connects, 3);
      assert.deepEqual(r.outcome, { kind: "accepted", authmod: mod, user: "alice", app: "live" });
      assert.deepEqual(r.lookups, ["alice"]);
    });

    it(`${mod}: special characters in user and password, app with instance and query`, () => {
      const server = new AuthmodServer({ mods: [mod] });
      const user = "ünï cødé@x y";
      const r = roundTrip(server, { user, password: users[user] }, users, "app/inst?vhost=v");
      assert.deepEqual(r.outcome, {
        kind: "accepted",
        authmod: mod,
        user,
        app: "app/inst?vhost=v",
      });
    });

    it(`${mod}: a wrong password ends with the server's authfailed`, () => {
      const server = new AuthmodServer({ mods: [mod] });
      const r = roundTrip(server, { user: "alice", password: "wrong" }, users);
      const failed = expectKind(r.outcome, "failed");
      assert.equal(failed.reason, "authfailed");
      const err = expectStep(r.client!, "failed").error;
      assert.match(err.message, /rejected the user name or password for user "alice"/);
      assert.ok(!err.message.includes("wrong") && !(err.description ?? "").includes("wrong"));
      assert.equal(server.pending, 0);
    });

    it(`${mod}: an unknown user fails as authfailed, or nosuchuser when revealed`, () => {
      for (const reveal of [false, true]) {
        const server = new AuthmodServer({ mods: [mod], revealUnknownUser: reveal });
        const r = roundTrip(server, { user: "mallory", password: "x" }, users);
        assert.equal(expectKind(r.outcome, "failed").reason, reveal ? "nosuchuser" : "authfailed");
        assert.deepEqual(r.lookups, ["mallory"]);
        const err = expectStep(r.client!, "failed").error;
        assert.match(
          err.message,
          reveal ? /does not know user "mallory"/ : /rejected the user name or password/,
        );
      }
    });
  }

  it("a client without credentials stops at the first rejection", () => {
    const r = roundTrip(new AuthmodServer(), {}, users);
    assert.equal(r.connects, 1);
    assert.match(expectStep(r.client!, "failed").error.message, /no user name and password/);
  });

  it("two clients of the same user interleaving their exchanges both get in", () => {
    const server = new AuthmodServer();
    const random = seededRandom(SEED ^ 0xabc);
    const c1 = new AuthmodClient({ user: "bob", password: "b", app: "live", random });
    const c2 = new AuthmodClient({ user: "bob", password: "b", app: "live", random });
    const step = (c: AuthmodClient, app: string): string => {
      const o = server.authenticate(app, { now: 0, random });
      const s = expectStep(c.onConnectRejected(expectKind(o, "challenge").description), "retry");
      return withAuthQuery("live", s.query);
    };
    const a1 = step(c1, step(c1, "live"));
    const a2 = step(c2, step(c2, "live"));
    assert.equal(server.pending, 2);
    assert.equal(expectKind(decide(server, a2, "b"), "accepted").user, "bob");
    assert.equal(expectKind(decide(server, a1, "b"), "accepted").user, "bob");
  });
});
