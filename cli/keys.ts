/**
 * Stream keys for `serve`: from `--key` flags and a keys file (one key per line, `#` comments),
 * compared in constant time so response timing does not leak how much of a key matched.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { RtmpError } from "../errors.ts";

const encoder = new TextEncoder();

/**
 * Compares two strings in time that depends only on their lengths, not on where they differ.
 *
 * @example
 * ```ts
 * import { constantTimeEqual } from "./keys.ts";
 * console.log(constantTimeEqual("abc", "abc"), constantTimeEqual("abc", "abd")); // true false
 * ```
 *
 * @param a First string.
 * @param b Second string.
 * @returns Whether they are equal.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.max(x.length, y.length);
  let diff = x.length ^ y.length;
  for (let i = 0; i < n; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * Parses a keys file's text: one key per line; blank lines and `#` comments ignored.
 *
 * @example
 * ```ts
 * import { parseKeysFile } from "./keys.ts";
 * console.log(parseKeysFile("# keys\nalpha\n  beta  # studio\n")); // ["alpha", "beta"]
 * ```
 *
 * @param text File contents.
 * @returns The keys.
 */
export function parseKeysFile(text: string): string[] {
  const keys: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const hash = line.indexOf("#");
    const key = (hash >= 0 ? line.slice(0, hash) : line).trim();
    if (key) keys.push(key);
  }
  return keys;
}

/**
 * The set of accepted keys: fixed ones plus a keys file re-read when a publisher arrives, so
 * keys can be added or revoked without a restart.
 *
 * @example
 * ```ts
 * import { KeyStore } from "./keys.ts";
 * const store = new KeyStore(["alpha"], null);
 * console.log(await store.check("alpha"), await store.check("beta")); // true false
 * ```
 */
export class KeyStore {
  readonly #fixed: string[];
  readonly #file: string | null;

  /**
   * @param keys Keys from the command line.
   * @param file Path of a keys file, or `null`.
   */
  constructor(keys: string[], file: string | null) {
    this.#fixed = keys;
    this.#file = file;
  }

  /** Whether any key source was configured. */
  get enabled(): boolean {
    return this.#fixed.length > 0 || this.#file !== null;
  }

  /**
   * Loads the keys file once to validate it. Throws `IO` when it cannot be read.
   * @returns The number of keys known now.
   */
  async load(): Promise<number> {
    return (await this.#keys()).length;
  }

  async #keys(): Promise<string[]> {
    if (!this.#file) return this.#fixed;
    let text: string;
    try {
      text = await readFile(this.#file, "utf8");
    } catch (e) {
      throw new RtmpError("IO", `cannot read keys file "${this.#file}": ${(e as Error).message}`, {
        cause: e,
      });
    }
    return [...this.#fixed, ...parseKeysFile(text)];
  }

  /**
   * Checks a key against every known key (all compared, in constant time each).
   * @param key The stream name without query.
   * @returns Whether it is accepted.
   */
  async check(key: string): Promise<boolean> {
    let ok = false;
    for (const k of await this.#keys()) ok = constantTimeEqual(k, key) || ok;
    return ok;
  }
}
