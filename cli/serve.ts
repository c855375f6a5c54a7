/**
 * `rtmp serve`: an ingest server with stream-key checks, optional RTMPS and FLV recording.
 *
 * @module
 */

import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { RtmpError } from "../errors.ts";
import { RtmpServer } from "../server.ts";
import type { PublishSession } from "../server/publish_session.ts";
import type { AuthMethod, HookDecision, PlayInfo, PublishInfo } from "../server/types.ts";
import { recordPackets } from "../flv/recorder.ts";
import { signedUrlHook } from "../auth/signed_url.ts";
import { KeyStore } from "./keys.ts";
import { parseRtmpUrl } from "../protocol/url.ts";
import { loadPushConfig, matchPushRules } from "./push_config.ts";
import { readSecretFile } from "./sign.ts";
import { UserStore } from "./users.ts";
import { parseCommandLine, parseHostPort, UsageError } from "./usage.ts";
import {
  makeLog,
  OPS_OPTIONS,
  OPS_USAGE,
  parseOpsFlags,
  watchStopSignals,
  writeEvents,
} from "./serve_ops.ts";

/** Help text of `rtmp serve`. */
export const SERVE_USAGE: string = `Usage: rtmp serve [options]

Run an RTMP/RTMPS ingest server. Publishers use rtmp://HOST:PORT/APP/KEY.

Options:
  --listen HOST:PORT      plain RTMP address (default 0.0.0.0:1935); "none" to disable
  --key KEY               accepted stream key (repeatable)
  --keys-file FILE        file of accepted keys, one per line, # comments (re-read per publish)
  --record DIR            record each publish to DIR/APP/KEY-<UTC start>-<id>.flv
                          (<id>: the server's session number, so no publish overwrites
                          another; e.g. live/secret-20250101T120000-123Z-1.flv)
  --tls-cert FILE         certificate (PEM) for RTMPS; clients trust the CA that signed it
  --tls-key FILE          private key (PEM) for RTMPS
  --tls-listen HOST:PORT  RTMPS address (default 0.0.0.0:1936)
  --user NAME:PASSWORD    publishers must log in as one of these users (repeatable): OBS
                          "Use authentication", ffmpeg rtmp://NAME:PASSWORD@HOST:PORT/APP/KEY
                          (authmod=adobe/llnw challenge-response; the password never travels)
  --users-file FILE       NAME:PASSWORD lines, # comment lines (re-read at every login; keeps
                          passwords out of "ps", unlike --user)
  --authmod LIST          login schemes, the first offered: adobe,llnw (default), adobe or llnw
  --url-secret SECRET     publishers and players need a URL signed with SECRET (16+ bytes;
                          repeatable, for rotation): sign with "rtmp sign --secret SECRET URL"
  --url-secret-file FILE  the same, secret read from the first line of FILE
  --play-key KEY          key players must give as ?key=KEY, or the stream name (repeatable)
  --play-keys-file FILE   file of accepted play keys, one per line (re-read per play)
  --no-play               refuse every play request (ingest only)
  --http-listen HOST:PORT serve HTTP-FLV and WebSocket-FLV at http://HOST:PORT/APP/KEY.flv
                          (off by default; HOST defaults to 127.0.0.1 when only :PORT is given)
  --http-player FILE      mpegts.js (or flv.js) file served at /mpegts.js for the test page at /
  --cors ORIGINS          comma-separated origins allowed to play over HTTP (default *)
  --http-merge-ms MS      with many HTTP viewers, gather what each gets within MS into one
                          write (default 100; 0 never: lower latency, twice the CPU or more)
  --http-merge-from N     viewers from which writes are merged (default 100)
  --push URL              restream every accepted stream to URL (repeatable; {app} and {name}
                          are replaced, e.g. rtmps://a.rtmps.youtube.com/live2/{name})
  --push-config FILE      per-key destinations, "APP/NAME URL" per line (* matches within a
                          segment), re-read on each publish
  --push-backoff MS       longest wait between reconnects of a destination (default 30000)
  --pull APP/NAME=URL     pull a stream from URL when a viewer asks for a matching key that is
                          not live here (* within a segment; {app}/{name} in URL); repeatable
  --relay APP/NAME=URL    keep APP/NAME fed from URL for good (reconnecting); repeatable
  --replace               a new publisher on a live key always replaces the old one (default:
                          only one silent for 2.5 s, e.g. an encoder whose network died)
  --hook-timeout MS       key check timeout (default 10000)
  --idle-timeout MS       end a stream after MS without data (default 30000)
${OPS_USAGE}
  -h, --help              show this help

Without --key or --keys-file every key is accepted (a warning says so). Every check given
applies: with --user and --key, a publisher must log in and use a known key. Players do not
log in (use --play-key or --url-secret for them). At most 10 failed logins per address and
minute are checked; further attempts are refused at once. Failures are logged, passwords and
responses never.`;

const OPTIONS = {
  listen: { type: "string" },
  key: { type: "string", multiple: true },
  "keys-file": { type: "string" },
  record: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-listen": { type: "string" },
  replace: { type: "boolean" },
  user: { type: "string", multiple: true },
  "users-file": { type: "string" },
  authmod: { type: "string" },
  "url-secret": { type: "string", multiple: true },
  "url-secret-file": { type: "string" },
  "play-key": { type: "string", multiple: true },
  "play-keys-file": { type: "string" },
  "no-play": { type: "boolean" },
  "http-listen": { type: "string" },
  push: { type: "string", multiple: true },
  pull: { type: "string", multiple: true },
  relay: { type: "string", multiple: true },
  "push-config": { type: "string" },
  "push-backoff": { type: "string" },
  "http-player": { type: "string" },
  cors: { type: "string" },
  "http-merge-ms": { type: "string" },
  "http-merge-from": { type: "string" },
  "hook-timeout": { type: "string" },
  "idle-timeout": { type: "string" },
  ...OPS_OPTIONS,
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Runs `rtmp serve` until SIGINT/SIGTERM.
 *
 * @example
 * ```ts
 * import { runServe } from "./serve.ts";
 * // await runServe(["--listen", "127.0.0.1:1935", "--key", "secret"]);
 * console.log(typeof runServe); // function
 * ```
 *
 * @param args Arguments after `serve`.
 * @param options `signal` stops the server (tests); `onReady` receives the bound addresses.
 * @returns The exit code.
 */
export async function runServe(
  args: string[],
  options: { signal?: AbortSignal; onReady?: (addrs: string[]) => void } = {},
): Promise<number> {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const listenText = (values.listen as string | undefined) ?? "0.0.0.0:1935";
  const plain = listenText === "none" ? null : parseHostPort(listenText, "--listen");
  const certFile = values["tls-cert"] as string | undefined;
  const keyFile = values["tls-key"] as string | undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError("--tls-cert and --tls-key must be given together");
  }
  const tlsListenText = values["tls-listen"] as string | undefined;
  if (tlsListenText !== undefined && certFile === undefined) {
    throw new UsageError("--tls-listen needs --tls-cert and --tls-key");
  }
  const secure = certFile ? parseHostPort(tlsListenText ?? "0.0.0.0:1936", "--tls-listen") : null;
  if (!plain && !secure) throw new UsageError("nothing to listen on: --listen none without TLS");
  const hookTimeout = positiveInt(values["hook-timeout"], "--hook-timeout", 10_000);
  const idleTimeout = positiveInt(values["idle-timeout"], "--idle-timeout", 30_000);
  const pushBackoff = positiveInt(values["push-backoff"], "--push-backoff", 30_000);
  const keys = new KeyStore(
    (values.key as string[] | undefined) ?? [],
    (values["keys-file"] as string | undefined) ?? null,
  );
  const recordDir = values.record as string | undefined;
  const playKeys = new KeyStore(
    (values["play-key"] as string[] | undefined) ?? [],
    (values["play-keys-file"] as string | undefined) ?? null,
  );
  const users = new UserStore(
    (values.user as string[] | undefined) ?? [],
    (values["users-file"] as string | undefined) ?? null,
  );
  const authText = values.authmod as string | undefined;
  if (authText !== undefined && !users.enabled) {
    throw new UsageError("--authmod needs --user or --users-file");
  }
  const methods = parseMethods(authText ?? "adobe,llnw");
  const secrets = (values["url-secret"] as string[] | undefined) ?? [];
  const secretFile = values["url-secret-file"] as string | undefined;
  if (secretFile !== undefined) secrets.push(await readSecretFile(secretFile, "--url-secret-file"));
  let signed: ReturnType<typeof signedUrlHook> | null = null;
  if (secrets.length > 0) {
    try {
      signed = signedUrlHook({ secret: secrets });
    } catch (e) {
      throw new UsageError(`--url-secret: ${(e as Error).message}`);
    }
  }
  const playback = !values["no-play"];
  if (!playback && playKeys.enabled) {
    throw new UsageError("--no-play cannot be combined with --play-key or --play-keys-file");
  }

  const ops = parseOpsFlags(values);
  const log = makeLog(ops.logFormat);
  if (keys.enabled) {
    const n = await keys.load();
    log(`${n} stream key(s) loaded`);
  } else if (users.enabled || signed) {
    log(
      `note: no --key given: any stream key is accepted ${
        users.enabled ? "from a logged-in publisher" : "with a valid signed URL"
      }`,
    );
  } else {
    log("warning: no --key or --keys-file given: EVERY stream key is accepted");
  }
  if (users.enabled) {
    const loaded = await users.load();
    for (const line of loaded.bad) {
      log(`warning: ${values["users-file"]}:${line} is not NAME:PASSWORD; ignored`);
    }
    log(`${loaded.users} user(s) loaded: publishers must log in (authmod=${methods.join(",")})`);
  }
  if (signed) log(`${secrets.length} URL secret(s): publishers and players need a signed URL`);
  if (!playback) {
    log("playback is off (--no-play): play requests are refused");
  } else if (playKeys.enabled) {
    const n = await playKeys.load();
    log(`${n} play key(s) loaded`);
  } else if (!signed) {
    log("note: no --play-key given: anyone may play any live stream");
  }
  let tls: { cert: string; key: string } | undefined;
  if (certFile && keyFile) {
    tls = {
      cert: await readText(certFile, "--tls-cert"),
      key: await readText(keyFile, "--tls-key"),
    };
  }
  if (recordDir) {
    try {
      await mkdir(recordDir, { recursive: true });
    } catch (e) {
      throw new RtmpError(
        "IO",
        `cannot create recording folder "${recordDir}": ${(e as Error).message}`,
      );
    }
  }

  const pushUrls = (values.push as string[] | undefined) ?? [];
  for (const u of pushUrls) {
    try {
      parseRtmpUrl(u.replaceAll("{app}", "app").replaceAll("{name}", "name"));
    } catch (e) {
      throw new UsageError(`--push: ${(e as Error).message}`);
    }
  }
  const pushConfig = values["push-config"] as string | undefined;
  if (pushConfig !== undefined) await loadPushConfig(pushConfig); // fail at start, not per publish
  const pullRules = keyUrlPairs((values.pull as string[] | undefined) ?? [], "--pull");
  const relays = keyUrlPairs((values.relay as string[] | undefined) ?? [], "--relay");
  const server = new RtmpServer({
    log,
    proxyProtocol: ops.proxyProtocol,
    duplicatePublish: values.replace ? "replace" : "reject",
    limits: { hookTimeout, idleTimeout },
    // Players need not log in: --play-key and --url-secret are for them.
    auth: users.enabled
      ? { lookup: (user) => users.lookup(user), methods, anonymousPlayers: true }
      : undefined,
    onPublish: allOf<PublishInfo>([
      keys.enabled
        ? async ({ name }) =>
          (await keys.check(name)) ? true : {
            accept: false,
            reason: "unknown stream key",
            description: "unknown stream key",
            code: "NetStream.Publish.BadName",
          }
        : null,
      signed,
    ]),
    playback,
    pull: Object.keys(pullRules).length > 0 ? pullRules : undefined,
    restream: { backoff: { max: pushBackoff } },
    push: pushUrls.length === 0 && pushConfig === undefined ? undefined : async (info) => {
      let urls = [...pushUrls];
      if (pushConfig !== undefined) {
        try {
          urls = urls.concat(
            matchPushRules(await loadPushConfig(pushConfig), `${info.app}/${info.name}`),
          );
        } catch (e) {
          log(`push config not applied: ${(e as Error).message}`);
        }
      }
      return urls;
    },
    onPlay: allOf<PlayInfo>([
      playKeys.enabled
        ? async ({ name, query }) =>
          (await playKeys.check(query.get("key") ?? name)) ? true : {
            accept: false,
            reason: "unknown play key",
            description: "this stream needs a valid play key",
            code: "NetStream.Play.Failed",
          }
        : null,
      signed,
    ]),
    // Streams are read through the hub (players); the recorder attaches its own queue.
    sessionQueue: "lazy",
    onSession: (session) => consume(session, recordDir, log),
  });
  const httpText = values["http-listen"] as string | undefined;
  const httpAt = httpText === undefined
    ? null
    : parseHostPort(httpText.startsWith(":") ? `127.0.0.1${httpText}` : httpText, "--http-listen");
  if (ops.httpApi && !httpAt) throw new UsageError("--http-api needs --http-listen");
  if (
    !httpAt &&
    (values["http-player"] !== undefined || values.cors !== undefined ||
      values["http-merge-ms"] !== undefined || values["http-merge-from"] !== undefined)
  ) {
    throw new UsageError("--http-player, --cors and --http-merge-* need --http-listen");
  }
  const mergeText = values["http-merge-ms"] as string | undefined;
  const mergeWriteMs = mergeText === undefined ? undefined : Number(mergeText);
  if (
    mergeWriteMs !== undefined &&
    !(/^\d+$/.test(mergeText!) && mergeWriteMs >= 0 && mergeWriteMs <= 1000)
  ) {
    throw new UsageError(`--http-merge-ms expects 0 to 1000 milliseconds, got "${mergeText}"`);
  }
  const fromText = values["http-merge-from"] as string | undefined;
  const mergeFromViewers = fromText === undefined ? undefined : Number(fromText);
  if (mergeFromViewers !== undefined && !(/^\d+$/.test(fromText!) && mergeFromViewers >= 1)) {
    throw new UsageError(
      `--http-merge-from expects a number of viewers (1 or more), got "${fromText}"`,
    );
  }
  const corsText = values.cors as string | undefined;
  const stop = watchStopSignals(server, ops.drainTimeout, log, options.signal);
  const events = ops.logFormat === "json" ? writeEvents(server) : null;
  const addrs: string[] = [];
  try {
    if (plain) {
      const a = await server.listenOn(plain);
      addrs.push(`rtmp://${fmt(a.hostname)}:${a.port}`);
    }
    if (secure && tls) {
      const a = await server.listenOn({ ...secure, tls });
      addrs.push(`rtmps://${fmt(a.hostname)}:${a.port}`);
    }
    if (httpAt) {
      const a = await server.listenHttp({
        ...httpAt,
        cors: corsText === undefined || corsText === "*"
          ? { origins: "*" }
          : { origins: corsText.split(",").map((o) => o.trim()).filter((o) => o) },
        testPage: {
          playerFile: values["http-player"] as string | undefined,
        },
        api: ops.httpApi,
        mergeWriteMs,
        mergeFromViewers,
      });
      addrs.push(`http://${fmt(a.hostname)}:${a.port}`);
    }
    if (ops.apiListen) {
      const a = await server.listenHttp({ ...ops.apiListen, api: true, flv: false });
      addrs.push(`http://${fmt(a.hostname)}:${a.port} (API)`);
    }
  } catch (e) {
    await server.close();
    throw e;
  }
  if (ops.proxyProtocol) {
    log(`PROXY protocol on: trusting ${(ops.proxyProtocol.trusted ?? ["loopback"]).join(", ")}`);
  }
  for (const [key, url] of Object.entries(relays)) server.relay(key, url);
  log(`listening on ${addrs.join(" and ")}${recordDir ? `, recording to ${recordDir}` : ""}`);
  options.onReady?.(addrs);

  await stop.requested;
  await server.drain({ timeout: ops.drainTimeout, tcUrl: ops.reconnectUrl });
  await events;
  log("stopped");
  return 0;
}

/** One hook made of several checks: the first refusal wins; `undefined` when there are none. */
function allOf<I>(
  checks: Array<((info: I) => HookDecision | Promise<HookDecision>) | null>,
): ((info: I) => Promise<HookDecision>) | undefined {
  const active = checks.filter((c) => c !== null);
  if (active.length === 0) return undefined;
  return async (info) => {
    for (const check of active) {
      const d = await check(info);
      if (d === false || (typeof d === "object" && !d.accept)) return d;
    }
    return true;
  };
}

function parseMethods(text: string): AuthMethod[] {
  const list = text.split(",").map((m) => m.trim());
  if (list.length === 0 || list.some((m) => m !== "adobe" && m !== "llnw")) {
    throw new UsageError(`--authmod expects adobe, llnw or adobe,llnw, got "${text}"`);
  }
  return [...new Set(list)] as AuthMethod[];
}

async function consume(
  session: PublishSession,
  recordDir: string | undefined,
  log: (l: string) => void,
): Promise<void> {
  if (!recordDir) return;
  // Before the first await: the recording starts with the publisher's first packet.
  session.attach();
  const dir = join(recordDir, safeName(session.app));
  // UTC start time to the millisecond plus the server's session id: two publishes of one key
  // within the same second never overwrite each other.
  const stamp = new Date(session.stats().startedAt).toISOString().replace(/[-:]/g, "").replace(
    ".",
    "-",
  );
  const path = join(dir, `${safeName(session.name)}-${stamp}-${session.id}.flv`);
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    log(`recording "${session.app}/${session.name}" failed: ${(e as Error).message}`);
    for await (const _ of session) { /* keep the publisher flowing */ }
    return;
  }
  log(`recording "${session.app}/${session.name}" to ${path}`);
  const result = await recordPackets(session, path);
  if (result.error) {
    log(`recording ${path} ended early: ${result.error.message}`);
  } else {
    log(`recorded ${path}: ${result.tags} tags, ${result.payloadBytes} payload bytes`);
  }
}

function safeName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_");
  return cleaned.slice(0, 128) || "_";
}

function fmt(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

async function readText(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    throw new RtmpError("IO", `${flag}: cannot read "${file}": ${(e as Error).message}`);
  }
}

function positiveInt(value: unknown, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== "string" || !/^\d+$/.test(value) || n <= 0) {
    throw new UsageError(
      `${flag} expects a positive number of milliseconds, got "${String(value)}"`,
    );
  }
  return n;
}

/** `APP/NAME=URL` arguments as a map, checked. */
function keyUrlPairs(args: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf("=");
    const key = eq > 0 ? arg.slice(0, eq) : "";
    const url = eq > 0 ? arg.slice(eq + 1) : "";
    if (!key.includes("/") || url === "") {
      throw new UsageError(`${flag} expects APP/NAME=URL, got "${arg}"`);
    }
    try {
      parseRtmpUrl(url.replaceAll("{app}", "app").replaceAll("{name}", "name"));
    } catch (e) {
      throw new UsageError(`${flag}: ${(e as Error).message}`);
    }
    out[key] = url;
  }
  return out;
}
