/**
 * FLV files: a streaming reader (tolerant of a truncated tail), a writer that patches
 * `duration`/`filesize`, and a recorder that writes a stream's packets to a file.
 *
 * @example
 * ```ts
 * import { FlvFileReader } from "./mod.ts";
 * // for await (const tag of await FlvFileReader.open("in.flv")) console.log(tag.type);
 * console.log(typeof FlvFileReader); // function
 * ```
 *
 * @module
 */

export * from "./file.ts";
export * from "./recorder.ts";
