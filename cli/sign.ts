/**
 * `rtmp sign`: signs a stream URL for a server run with `serve --url-secret`.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import process from "node:process";
import { RtmpError } from "../errors.ts";
import { signStreamUrl } from "../auth/signed_url.ts";
import { parseCommandLine, UsageError } from "./usage.ts";

/** Help text of `rtmp sign`. */
export const SIGN_USAGE: string = `Usage: rtmp sign [options] URL

Print URL signed for a server run with "rtmp serve --url-secret SECRET": expires=<Unix
seconds> and sig=<signature> are added to the stream name's query, other parameters are kept.
Publishers and players use the printed URL as it is.

Options:
  --secret SECRET       the server's --url-secret (at least 16 bytes)
  --secret-file FILE    read the secret from the first line of FILE (keeps it out of "ps")
  --expires WHEN        how long the URL is valid: 90s, 30m, 1h, 7d, or until a date such as
                        2030-01-01T00:00:00Z (default 1h)
  -h, --help            show this help

Example:
  rtmp sign --secret "$SECRET" --expires 2h rtmp://ingest.example.com/live/cam1

The signature is base64url(HMAC-SHA256(SECRET, APP + "\\n" + NAME + "\\n" + EXPIRES)) without
padding, over the application, the stream name without its query and the expiry, so a backend
in any language can sign URLs the same way.`;

const OPTIONS = {
  secret: { type: "string" },
  "secret-file": { type: "string" },
  expires: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses `--expires`: a duration from `now` (`90s`, `30m`, `1h`, `7d`) or a date.
 *
 * @example
 * ```ts
 * import { parseExpires } from "./sign.ts";
 * console.log(parseExpires("1h", 0)); // 3600000
 * console.log(parseExpires("2030-01-01T00:00:00Z", 0)); // 1893456000000
 * ```
 *
 * @param text The flag value.
 * @param now Current time in milliseconds.
 * @returns The expiry in milliseconds since the epoch.
 */
export function parseExpires(text: string, now: number): number {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (m) return now + Number(m[1]) * UNIT_MS[m[2]];
  const at = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(at) || at <= 0) {
    throw new UsageError(
      `--expires expects a duration (90s, 30m, 1h, 7d) or a date (2030-01-01T00:00:00Z), got "${text}"`,
    );
  }
  return at;
}

/**
 * Reads a secret from the first line of a file (for `--secret-file` / `--url-secret-file`).
 *
 * @example
 * ```ts
 * import { readSecretFile } from "./sign.ts";
 * // const secret = await readSecretFile("/etc/rtmp/url-secret", "--url-secret-file");
 * console.log(typeof readSecretFile); // function
 * ```
 *
 * @param file Path.
 * @param flag The flag, for messages.
 * @returns The first line, without surrounding whitespace.
 */
export async function readSecretFile(file: string, flag: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new RtmpError("IO", `${flag}: cannot read "${file}": ${(e as Error).message}`);
  }
  const secret = text.split(/\r?\n/)[0].trim();
  if (secret === "") throw new UsageError(`${flag}: the first line of "${file}" is empty`);
  return secret;
}

/**
 * Runs `rtmp sign`: prints the signed URL on stdout.
 *
 * @example
 * ```ts
 * import { runSign } from "./sign.ts";
 * // await runSign(["--secret", "0123456789abcdef", "rtmp://h/live/cam"]);
 * console.log(typeof runSign); // function
 * ```
 *
 * @param args Arguments after `sign`.
 * @returns The exit code.
 */
export async function runSign(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0 ? "missing URL" : `unexpected argument "${positionals[1]}"`,
    );
  }
  const inline = values.secret as string | undefined;
  const file = values["secret-file"] as string | undefined;
  if ((inline === undefined) === (file === undefined)) {
    throw new UsageError("give exactly one of --secret and --secret-file");
  }
  const secret = inline ?? await readSecretFile(file!, "--secret-file");
  const now = Date.now();
  const expires = parseExpires((values.expires as string | undefined) ?? "1h", now);
  // Credentials (rtmp://user:pass@host/…) are not signed; take them out and put them back, so
  // the password never reaches a parser that might quote it in an error.
  const m = /^(rtmps?:\/\/)([^/@]*@)?(.*)$/is.exec(positionals[0]);
  const credentials = m?.[2] ?? "";
  const bare = m && credentials ? m[1] + m[3] : positionals[0];
  let url: string;
  try {
    url = signStreamUrl(bare, { secret, expires });
    if (credentials) url = url.replace(/^(rtmps?:\/\/)/i, `$1${credentials}`);
  } catch (e) {
    // A short secret or a bad URL: say which flag, as a usage mistake.
    if (e instanceof RtmpError && e.code === "INVALID_ARGUMENT" && /secret/.test(e.message)) {
      throw new UsageError(`--secret: ${e.message}`);
    }
    throw e;
  }
  const until = new Date(Math.floor(expires / 1000) * 1000).toISOString();
  process.stderr.write(
    expires <= now ? `warning: this URL expired at ${until}\n` : `valid until ${until}\n`,
  );
  process.stdout.write(`${url}\n`);
  return 0;
}
