/**
 * Publisher logins for `serve`: `--user NAME:PASSWORD` flags and a users file of
 * `NAME:PASSWORD` lines, re-read at every login so users can be added or removed without a
 * restart. Nothing here ever puts a password (or a whole line of the file) in a message.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { RtmpError } from "../errors.ts";
import { UsageError } from "./usage.ts";

/**
 * A user name `authmod` can carry: no separators of the query it travels in, no spaces or
 * control characters, at most 64 characters (what the server echoes back to the encoder).
 */
// deno-lint-ignore no-control-regex
const NAME = /^[^\u0000-\u0020\u007f:&#?]{1,64}$/;

/**
 * Splits one `NAME:PASSWORD` (at the first `:`, so the password may contain `:`).
 *
 * @example
 * ```ts
 * import { parseUserSpec } from "./users.ts";
 * console.log(parseUserSpec("studio:a:b")); // [ "studio", "a:b" ]
 * console.log(parseUserSpec("no colon")); // null
 * ```
 *
 * @param text The text.
 * @returns `[name, password]`, or `null` when it is not of that form.
 */
export function parseUserSpec(text: string): [string, string] | null {
  const colon = text.indexOf(":");
  if (colon < 0) return null;
  const name = text.slice(0, colon);
  const password = text.slice(colon + 1);
  if (!NAME.test(name) || password === "") return null;
  return [name, password];
}

/**
 * Parses a users file: one `NAME:PASSWORD` per line; blank lines and lines starting with `#`
 * are ignored (a `#` later in a line is part of the password). Surrounding whitespace of a
 * line is dropped.
 *
 * @example
 * ```ts
 * import { parseUsersFile } from "./users.ts";
 * const { users, bad } = parseUsersFile("# studio\nalice:pa#ss\nbroken\n");
 * console.log(users.get("alice"), bad); // pa#ss [ 3 ]
 * ```
 *
 * @param text File contents.
 * @returns The users (a later line for the same name wins) and the numbers of bad lines.
 */
export function parseUsersFile(text: string): { users: Map<string, string>; bad: number[] } {
  const users = new Map<string, string>();
  const bad: number[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const spec = parseUserSpec(line);
    if (spec) users.set(spec[0], spec[1]);
    else bad.push(i + 1);
  });
  return { users, bad };
}

/**
 * The users who may log in: `--user` flags (which win over the file) plus a users file read
 * at every lookup.
 *
 * @example
 * ```ts
 * import { UserStore } from "./users.ts";
 * const store = new UserStore(["studio:pw"], null);
 * console.log(await store.lookup("studio"), await store.lookup("nobody")); // pw null
 * ```
 */
export class UserStore {
  readonly #fixed = new Map<string, string>();
  readonly #file: string | null;

  /**
   * Checks the `--user` values; the file is read later.
   *
   * @param specs `NAME:PASSWORD` values of `--user`; a malformed one is a {@linkcode UsageError}
   *   that does not quote it.
   * @param file Path of a users file, or `null`.
   */
  constructor(specs: string[], file: string | null) {
    specs.forEach((text, i) => {
      const spec = parseUserSpec(text);
      if (!spec) {
        throw new UsageError(
          `--user #${i + 1} expects NAME:PASSWORD (a name without spaces, ":", "&", "#" or "?", ` +
            `and a non-empty password)`,
        );
      }
      if (this.#fixed.has(spec[0])) {
        throw new UsageError(`--user: user "${spec[0]}" is given twice`);
      }
      this.#fixed.set(spec[0], spec[1]);
    });
    this.#file = file;
  }

  /** Whether any user source was configured. */
  get enabled(): boolean {
    return this.#fixed.size > 0 || this.#file !== null;
  }

  /**
   * Reads the users file once to validate it. Throws `IO` when it cannot be read.
   * @returns How many users are known now and the numbers of the file's malformed lines.
   */
  async load(): Promise<{ users: number; bad: number[] }> {
    const { users, bad } = await this.#read();
    for (const name of this.#fixed.keys()) users.set(name, "");
    return { users: users.size, bad };
  }

  /**
   * The password of a user, or `null` when unknown.
   * @param name User name as the client sent it (decoded).
   * @returns The password or `null`.
   */
  async lookup(name: string): Promise<string | null> {
    const fixed = this.#fixed.get(name);
    if (fixed !== undefined) return fixed;
    if (this.#file === null) return null;
    return (await this.#read()).users.get(name) ?? null;
  }

  async #read(): Promise<{ users: Map<string, string>; bad: number[] }> {
    if (this.#file === null) return { users: new Map(), bad: [] };
    let text: string;
    try {
      text = await readFile(this.#file, "utf8");
    } catch (e) {
      throw new RtmpError(
        "IO",
        `cannot read users file "${this.#file}": ${(e as Error).message}`,
        { cause: e },
      );
    }
    return parseUsersFile(text);
  }
}
