// The server's authmod login (server/auth.ts, the `auth` option): unit tests of ConnectAuth
// whose expected responses are computed here with node:crypto, following FFmpeg's
// do_adobe_auth / do_llnw_auth (not with the code under test), and FFmpeg logging in to an
// in-process RtmpServer.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type AuthCheckContext, type AuthVerdict, ConnectAuth } from "../server/auth.ts";
import { decide } from "../server/decide.ts";
import type { ConnectRequest } from "../session/server_session.ts";
import type { AuthLookupInfo, PublishInfo, ServerAuthOptions } from "../server/types.ts";
import { type PublishSession, RtmpServer } from "../server.ts";
import { countPackets, ffmpegPublish, makeTestFlv } from "./support/peers.ts";
import { requirePeer } from "./support/require_peer.ts";
import { throwsCode } from "./support/util.ts";

const PASSWORD = "c0rrect-h0rse";
const WRONG = "b4ttery-st4ple";

function md5(text: string, enc: "hex" | "base64"): string {
  return createHash("md5").update(text).digest(enc);
}

/** FFmpeg do_adobe_auth, with the server's opaque (equal to its challenge here). */
function refAdobe(user: string, password: string, salt: string, opaque: string, cc: string) {
  return md5(md5(user + salt + password, "base64") + opaque + cc, "base64");
}

/** FFmpeg do_llnw_auth (RFC 2617 digest, realm "live", method "publish", qop "auth"). */
function refLlnw(user: string, password: string, app: string, nonce: string, cnonce: string) {
  const ha1 = md5(`${user}:live:${password}`, "hex");
  const ha2 = md5(`publish:/${app}${app.includes("/") ? "" : "/_definst_"}`, "hex");
  return md5(`${ha1}:${nonce}:00000001:${cnonce}:auth:${ha2}`, "hex");
}

/** A parsed connect; `type: null` for a player (FFmpeg sends `nonprivate` only to publish). */
function connect(app: string, type: string | null = "nonprivate"): ConnectRequest {
  const tcUrl = `rtmp://127.0.0.1:1935/${app}`;
  const raw = { app, tcUrl, ...(type ? { type } : {}) };
  return { app, tcUrl, ...(type ? { type } : {}), raw };
}

function context(ip = "192.0.2.7", hookTimeout = 2_000): AuthCheckContext {
  return {
    label: `rtmp ${ip}:50000`,
    remoteAddr: { hostname: ip, port: 50000 },
    tls: false,
    decide: (run) => decide("connect", run, hookTimeout, new AbortController().signal),
  };
}

/** A ConnectAuth with a settable clock, its log lines and the lookups it made. */
function setup(options: Partial<ServerAuthOptions> = {}) {
  const lines: string[] = [];
  const lookups: Array<{ user: string; app: string; info: AuthLookupInfo }> = [];
  const clock = { now: 1_000_000 };
  const auth = new ConnectAuth({
    lookup: (user, app, info) => {
      lookups.push({ user, app, info });
      return user === "bob" ? PASSWORD : null;
    },
    ...options,
  }, { log: (l) => lines.push(l), now: () => clock.now });
  return { auth, lines, lookups, clock };
}

function refused(v: AuthVerdict): { code: string; description: string } {
  assert.equal(v.accept, false, `expected a refusal, got ${JSON.stringify(v)}`);
  return v as { accept: false; code: string; description: string };
}

/** The key=value pairs after `?reason=` in a description. */
function params(description: string): Map<string, string> {
  const at = description.indexOf("?reason=");
  assert.ok(at >= 0, `no ?reason= in ${description}`);
  return new Map(
    description.slice(at + 1).split("&").map((p) => {
      const eq = p.indexOf("=");
      return [p.slice(0, eq), p.slice(eq + 1)] as [string, string];
    }),
  );
}

/** Runs the three connects of an Adobe login as FFmpeg does; returns the last verdict. */
async function adobeLogin(
  auth: ConnectAuth,
  password: string,
  options: { ip?: string; user?: string; request?: (app: string) => ConnectRequest } = {},
): Promise<{ verdict: AuthVerdict; request: ConnectRequest; response: string; sent: string }> {
  const user = options.user ?? "bob";
  const make = options.request ?? ((app: string) => connect(app));
  const ctx = context(options.ip);
  const first = refused(await auth.check(make("live"), ctx));
  assert.match(first.description, /code=403 need auth; authmod=adobe/);
  const second = refused(await auth.check(make(`live?authmod=adobe&user=${user}`), ctx));
  const p = params(second.description);
  assert.equal(p.get("reason"), "needauth");
  const cc = "0a1b2c3d";
  const response = refAdobe(user, password, p.get("salt")!, p.get("opaque")!, cc);
  const app = `live?authmod=adobe&user=${user}&challenge=${cc}&response=${response}&opaque=${
    p.get("opaque")
  }`;
  const request = make(app);
  return { verdict: await auth.check(request, ctx), request, response, sent: app };
}

describe("ConnectAuth (server/auth.ts)", () => {
  it("an Adobe login: asks for the user, challenges, accepts the right response", async () => {
    const { auth, lines, lookups } = setup();
    const { verdict, request, response } = await adobeLogin(auth, PASSWORD);
    assert.deepEqual(verdict, { accept: true, user: "bob" });
    // The hooks, the session and the logs see the clean connect request.
    assert.equal(request.app, "live");
    assert.equal(request.tcUrl, "rtmp://127.0.0.1:1935/live");
    assert.equal(request.raw.app, "live");
    assert.equal(request.raw.tcUrl, "rtmp://127.0.0.1:1935/live");
    assert.equal(lookups.length, 1);
    assert.equal(lookups[0].user, "bob");
    assert.equal(lookups[0].app, "live");
    assert.equal(lookups[0].info.method, "adobe");
    assert.equal(lookups[0].info.tcUrl, "rtmp://127.0.0.1:1935/live");
    assert.ok(
      lines.some((l) => /user "bob" logged in \(authmod=adobe\)/.test(l)),
      lines.join("\n"),
    );
    const log = lines.join("\n");
    assert.ok(!log.includes(PASSWORD) && !log.includes(response), log);
  });

  it("a wrong password is refused with ?reason=authfailed and logged without secrets", async () => {
    const { auth, lines } = setup();
    const { verdict, response } = await adobeLogin(auth, WRONG);
    const r = refused(verdict);
    assert.equal(r.code, "NetConnection.Connect.Rejected");
    assert.match(
      r.description,
      /^\[ AccessManager\.Reject \] : \[ authmod=adobe \] : \?reason=authfailed/,
    );
    const log = lines.join("\n");
    assert.match(log, /login failed \(authfailed, authmod=adobe\) for user "bob": failure 1 of 10/);
    for (const secret of [PASSWORD, WRONG, response]) assert.ok(!log.includes(secret), log);
  });

  it("an unknown user gets the same answer as a wrong password", async () => {
    const { auth, lookups } = setup();
    const { verdict } = await adobeLogin(auth, PASSWORD, { user: "mallory" });
    assert.match(refused(verdict).description, /\?reason=authfailed/);
    assert.equal(lookups[0].user, "mallory");
  });

  it("a challenge answers once: replaying an accepted response fails", async () => {
    const { auth } = setup();
    const { verdict, sent } = await adobeLogin(auth, PASSWORD);
    assert.equal(verdict.accept, true);
    assert.match(refused(await auth.check(connect(sent), context())).description, /authfailed/);
  });

  it("Limelight only: offers authmod=llnw and checks the digest", async () => {
    const { auth, lookups } = setup({ methods: ["llnw"] });
    for (const app of ["live", "live/inst"]) {
      const ctx = context();
      assert.match(
        refused(await auth.check(connect(app), ctx)).description,
        /code=403 need auth; authmod=llnw/,
      );
      const ch = refused(await auth.check(connect(`${app}?authmod=llnw&user=bob`), ctx));
      assert.match(ch.description, /^\[ AccessManager\.Reject \] : \[ authmod=llnw \] : /);
      const nonce = params(ch.description).get("nonce")!;
      const cnonce = "c0ffee01";
      const response = refLlnw("bob", PASSWORD, app, nonce, cnonce);
      const req = connect(
        `${app}?authmod=llnw&user=bob&nonce=${nonce}&cnonce=${cnonce}&nc=00000001&response=${response}`,
      );
      assert.deepEqual(await auth.check(req, ctx), { accept: true, user: "bob" });
      assert.equal(req.app, app);
    }
    assert.equal(lookups[0].info.method, "llnw");
    // Adobe is not offered, so an Adobe answer is refused.
    const adobe = refused(await auth.check(connect("live?authmod=adobe&user=bob"), context()));
    assert.match(adobe.description, /reason=invalid_authmod/);
  });

  it("after maxFailures from one address it is refused at once, until the window passed", async () => {
    const { auth, lines, lookups, clock } = setup({ maxFailures: 3, window: 60_000 });
    for (let i = 0; i < 3; i++) {
      assert.equal((await adobeLogin(auth, WRONG)).verdict.accept, false);
      clock.now += 1000;
    }
    assert.match(
      lines.join("\n"),
      /failure 3 of 3 from 192\.0\.2\.7 within 60 s; 192\.0\.2\.7 is refused/,
    );
    const before = lookups.length;
    // Even the first step, even with the right password: nothing is checked.
    for (const app of ["live", "live?authmod=adobe&user=bob"]) {
      const r = refused(await auth.check(connect(app), context()));
      assert.equal(r.description, "Too many failed logins from this address; try again later.");
      assert.doesNotMatch(r.description, /authmod=/, "FFmpeg must not retry");
    }
    assert.equal(lookups.length, before, "no lookup while refused");
    assert.match(lines.join("\n"), /refused 192\.0\.2\.7 without checking: 3 failed logins/);
    // Another address is not affected.
    assert.equal((await adobeLogin(auth, PASSWORD, { ip: "192.0.2.8" })).verdict.accept, true);
    // Once the oldest failure is older than the window, logins work again.
    clock.now += 58_001;
    assert.equal((await adobeLogin(auth, PASSWORD)).verdict.accept, true);
  });

  it("bounds the challenges issued to one address", async () => {
    const { auth } = setup({ maxChallenges: 2 });
    const ask = () => auth.check(connect("live?authmod=adobe&user=bob"), context());
    assert.match(refused(await ask()).description, /reason=needauth/);
    assert.match(refused(await ask()).description, /reason=needauth/);
    assert.match(refused(await ask()).description, /Too many failed logins/);
  });

  it("a lookup that throws or times out is a server failure, not counted against the client", async () => {
    let mode: "throw" | "hang" | "ok" = "throw";
    const lines: string[] = [];
    const auth = new ConnectAuth({
      lookup: () => {
        if (mode === "throw") throw new Error("database down");
        if (mode === "hang") return new Promise<string>(() => {});
        return PASSWORD;
      },
      maxFailures: 1,
    }, { log: (l) => lines.push(l) });
    const login = async (timeout: number) => {
      const ctx = context("192.0.2.9", timeout);
      await auth.check(connect("live"), ctx);
      const p = params(
        refused(await auth.check(connect("live?authmod=adobe&user=bob"), ctx)).description,
      );
      const response = refAdobe("bob", PASSWORD, p.get("salt")!, p.get("opaque")!, "01020304");
      return await auth.check(
        connect(
          `live?authmod=adobe&user=bob&challenge=01020304&response=${response}&opaque=${
            p.get("opaque")
          }`,
        ),
        ctx,
      );
    };
    const thrown = refused(await login(2000));
    assert.equal(thrown.code, "NetConnection.Connect.Failed");
    assert.match(thrown.description, /could not check/);
    mode = "hang";
    const hung = refused(await login(50));
    assert.equal(hung.code, "NetConnection.Connect.Failed");
    assert.match(lines.join("\n"), /password lookup for user "bob" failed: .*database down/);
    assert.match(lines.join("\n"), /password lookup for user "bob" failed: .*timed out/);
    mode = "ok";
    assert.deepEqual(await login(2000), { accept: true, user: "bob" }, "not blocked");
  });

  it("anonymousPlayers: a player's connect passes as user null; a publish needs a login", async () => {
    const { auth, lookups } = setup({ anonymousPlayers: true });
    assert.deepEqual(await auth.check(connect("live", null), context()), {
      accept: true,
      user: null,
    });
    assert.match(
      refused(await auth.check(connect("live", "nonprivate"), context())).description,
      /need auth/,
    );
    // A player that brings credentials logs in.
    const { verdict } = await adobeLogin(auth, PASSWORD, {
      request: (app) => app === "live" ? connect(app) : connect(app, null),
    });
    assert.deepEqual(verdict, { accept: true, user: "bob" });
    assert.equal(lookups.length, 1);
    const seen: Array<string | null> = [];
    const guard = auth.guardPublish((info) => {
      seen.push(info.user);
      return true;
    });
    const info = (user: string | null) => ({ app: "live", name: "k", user }) as PublishInfo;
    const denied = await guard(info(null), new AbortController().signal);
    assert.deepEqual(
      typeof denied === "object" && !denied.accept ? denied.code : denied,
      "NetStream.Publish.Denied",
    );
    assert.equal(await guard(info("bob"), new AbortController().signal), true);
    assert.deepEqual(seen, ["bob"]);
  });

  it("user names are quoted safely in the log; unusable ones are refused unchecked", async () => {
    const { auth, lines, lookups } = setup();
    // Percent-encoded: echoed as sent, decoded (with its line break) for the lookup and the log.
    const r = refused(await auth.check(connect("live?authmod=adobe&user=a%0Ab"), context()));
    assert.match(r.description, /reason=needauth&user=a%0Ab&/);
    assert.ok(lines.some((l) => l.includes('user "a\\nb"')), lines.join("\n"));
    // Raw control characters cannot be echoed: refused before any lookup.
    const raw = refused(await auth.check(connect("live?authmod=adobe&user=a\nb"), context()));
    assert.match(raw.description, /reason=nosuchuser/);
    assert.equal(lookups.length, 0);
    assert.ok(lines.every((l) => !l.includes("\n")), "one line per entry");
  });

  it("rejects bad options", () => {
    const lookup = () => null;
    throwsCode(
      () => new ConnectAuth({ lookup, methods: [] }, { log: () => {} }),
      "INVALID_ARGUMENT",
    );
    throwsCode(
      () => new ConnectAuth({ lookup, methods: ["plain" as "adobe"] }, { log: () => {} }),
      "INVALID_ARGUMENT",
    );
    throwsCode(
      () => new ConnectAuth({ lookup, maxFailures: 0 }, { log: () => {} }),
      "INVALID_ARGUMENT",
    );
    throwsCode(
      () => new ConnectAuth({ lookup: "x" as unknown as typeof lookup }, { log: () => {} }),
      "INVALID_ARGUMENT",
    );
  });
});

const noFfmpeg = requirePeer("ffmpeg");

describe("RtmpServer auth with FFmpeg", { skip: noFfmpeg }, () => {
  it("info.user and the clean app reach onConnect, onPublish and the session", async () => {
    const source = await makeTestFlv({ seconds: 1 });
    const seen: Array<{ stage: string; app: string; tcUrl: string; user: string | null }> = [];
    const sessions: PublishSession[] = [];
    const lines: string[] = [];
    let packets = 0;
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: (l) => lines.push(l),
      auth: { lookup: (user) => (user === "bob" ? PASSWORD : null) },
      onConnect: ({ app, tcUrl, user }) => {
        seen.push({ stage: "connect", app, tcUrl, user });
        return true;
      },
      onPublish: ({ app, tcUrl, user, name }) => {
        seen.push({ stage: "publish", app, tcUrl, user });
        return user === "bob" && name === "cam";
      },
      onSession: async (s) => {
        sessions.push(s);
        for await (const _ of s) packets++;
      },
    });
    const port = server.addr.port;
    const r = await ffmpegPublish(source, `rtmp://bob:${PASSWORD}@127.0.0.1:${port}/live/cam`);
    assert.equal(r.code, 0, r.stderr);
    const tcUrl = `rtmp://127.0.0.1:${port}/live`;
    assert.deepEqual(seen, [
      { stage: "connect", app: "live", tcUrl, user: "bob" },
      { stage: "publish", app: "live", tcUrl, user: "bob" },
    ]);
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0].user, "bob");
    assert.equal(sessions[0].connect.app, "live");
    await sessions[0].ended;
    const want = await countPackets(source);
    assert.ok(packets >= want.video + want.audio, `${packets} packets`);
    assert.ok(!lines.join("\n").includes(PASSWORD));
  });

  it("the attempt limit: after maxFailures wrong passwords even the right one is refused", async () => {
    const source = await makeTestFlv({ seconds: 1 });
    const lines: string[] = [];
    let sessions = 0;
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      log: (l) => lines.push(l),
      auth: { lookup: (user) => (user === "bob" ? PASSWORD : null), maxFailures: 2 },
      onSession: () => {
        sessions++;
      },
    });
    const url = (pw: string) => `rtmp://bob:${pw}@127.0.0.1:${server.addr.port}/live/cam`;
    for (let i = 0; i < 2; i++) {
      const r = await ffmpegPublish(source, url(WRONG));
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Incorrect username\/password/);
      assert.match(
        r.stderr,
        /Server error: \[ AccessManager\.Reject \] : \[ authmod=adobe \] : \?reason=authfailed/,
      );
    }
    const blocked = await ffmpegPublish(source, url(PASSWORD));
    assert.notEqual(blocked.code, 0);
    assert.match(blocked.stderr, /Server error: Too many failed logins from this address/);
    assert.equal(sessions, 0, "nothing was published");
    const log = lines.join("\n");
    assert.match(log, /failure 2 of 2 from 127\.0\.0\.1/);
    assert.match(log, /refused 127\.0\.0\.1 without checking/);
    assert.ok(!log.includes(PASSWORD) && !log.includes(WRONG), log);
  });
});
