/**
 * `serve --push-config FILE`: per-key restream destinations, re-read on each publish so a
 * running server picks up changes. One rule per line: a key pattern and a URL.
 *
 * ```text
 * # app/name   destination ({app} and {name} are replaced)
 * live/cam1    rtmps://a.rtmps.youtube.com/live2/YT-KEY
 * live/*       rtmp://backup.example.com/live/{name}
 * ```
 *
 * `*` in a pattern matches any run of characters except `/`.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { RtmpError } from "../errors.ts";
import { parseRtmpUrl } from "../protocol/url.ts";

/**
 * One rule of a push config.
 *
 * @example
 * ```ts
 * import type { PushRule } from "./push_config.ts";
 * const r: PushRule = { pattern: "live/*", url: "rtmp://b.example/live/{name}" };
 * ```
 */
export interface PushRule {
  /** `app/name`, with `*` wildcards. */
  pattern: string;
  /** Destination URL template. */
  url: string;
}

/**
 * Parses a push config.
 *
 * @example
 * ```ts
 * import { parsePushConfig } from "./push_config.ts";
 * console.log(parsePushConfig("live/* rtmp://h/live/{name}\n").length); // 1
 * ```
 *
 * @param text The file's text.
 * @param file The file name, for messages.
 * @returns The rules in file order.
 * @throws {RtmpError} `INVALID_ARGUMENT` naming the line that is wrong.
 */
export function parsePushConfig(text: string, file = "push config"): PushRule[] {
  const rules: PushRule[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, "").trim();
    if (line === "") return;
    const parts = line.split(/\s+/);
    if (parts.length !== 2 || !parts[0].includes("/")) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `${file}:${i + 1}: expected "APP/NAME URL", got "${raw.trim()}"`,
      );
    }
    try {
      parseRtmpUrl(parts[1].replaceAll("{app}", "app").replaceAll("{name}", "name"));
    } catch (e) {
      throw new RtmpError("INVALID_ARGUMENT", `${file}:${i + 1}: ${(e as Error).message}`);
    }
    rules.push({ pattern: parts[0], url: parts[1] });
  });
  return rules;
}

/**
 * The destination templates whose pattern matches a key.
 *
 * @example
 * ```ts
 * import { matchPushRules } from "./push_config.ts";
 * console.log(matchPushRules([{ pattern: "live/*", url: "u" }], "live/cam")); // ["u"]
 * ```
 *
 * @param rules Rules.
 * @param key `app/name`.
 * @returns URL templates.
 */
export function matchPushRules(rules: readonly PushRule[], key: string): string[] {
  return rules.filter((r) => globMatch(r.pattern, key)).map((r) => r.url);
}

function globMatch(pattern: string, key: string): boolean {
  const re = new RegExp(
    "^" + pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*") +
      "$",
  );
  return re.test(key);
}

/**
 * Reads and parses a push config file.
 *
 * @example
 * ```ts ignore
 * import { loadPushConfig } from "./push_config.ts";
 * const rules = await loadPushConfig("push.conf");
 * ```
 *
 * @param file Path.
 * @returns The rules.
 */
export async function loadPushConfig(file: string): Promise<PushRule[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new RtmpError("IO", `--push-config: cannot read "${file}": ${(e as Error).message}`);
  }
  return parsePushConfig(text, file);
}
