/**
 * Data messages (RTMP 1.0 §7.1.2): type 18 carries AMF0 values, type 15 a format byte `0x00`
 * followed by AMF0 values in which `0x11` switches a value to AMF3. The first value names the
 * handler (`@setDataFrame`, `onMetaData`, `onTextData`, `onCuePoint`, …) and is kept as sent.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { AmfDecodeOptions, AmfObject, AmfValue } from "./amf.ts";
import {
  checkMessageOptions,
  decodeMessageValues,
  type EncodeMessageOptions,
  encodeMessageValues,
} from "./command.ts";
import { encodeAmf0 } from "./amf0.ts";
import { MessageType, type RtmpMessage } from "./message.ts";

/**
 * A decoded data message.
 *
 * @example
 * ```ts
 * import type { DataMessage } from "./data.ts";
 * const d: DataMessage = { handler: "@setDataFrame", values: ["onMetaData", { width: 1280 }] };
 * ```
 */
export interface DataMessage {
  /** The handler name, exactly as sent. */
  handler: string;
  /** The values after the handler name. */
  values: AmfValue[];
}

/**
 * Decodes a data message (type 18, or type 15 with its `0x00` format byte).
 *
 * @example
 * ```ts
 * import { decodeData, encodeData } from "./data.ts";
 * const m = encodeData({ handler: "onTextData", values: [{ text: "hi" }] }, { streamId: 1 });
 * console.log(decodeData(m).handler); // onTextData
 * ```
 * @param message The message.
 * @param options Nesting bound.
 * @returns Handler name and values.
 * @throws {RtmpError} `MALFORMED` when the body is not AMF or does not start with a string;
 * `INVALID_ARGUMENT` for a message of another type.
 */
export function decodeData(message: RtmpMessage, options?: AmfDecodeOptions): DataMessage {
  const values = decodeMessageValues(message, "data", options);
  const handler = values[0];
  if (typeof handler !== "string") {
    throw new RtmpError(
      "MALFORMED",
      `data message: expected a string handler name first, got ${
        values.length === 0 ? "an empty body" : handler === null ? "null" : typeof handler
      }`,
    );
  }
  return { handler, values: values.slice(1) };
}

/**
 * Encodes a data message: type 18, or type 15 (`0x00` format byte, complex values switched to
 * AMF3) when `amf3` is set.
 *
 * @example
 * ```ts
 * import { encodeData } from "./data.ts";
 * import { ecmaArray } from "./amf.ts";
 * const m = encodeData(
 *   { handler: "@setDataFrame", values: ["onMetaData", ecmaArray({ duration: 0 })] },
 *   { streamId: 1 },
 * );
 * console.log(m.type); // 18
 * ```
 * @param data Handler name and values.
 * @param options Message stream id, AMF3 form, timestamp.
 * @returns The message.
 * @throws {RtmpError} `INVALID_ARGUMENT` for a bad handler, stream id or value.
 */
export function encodeData(data: DataMessage, options: EncodeMessageOptions): RtmpMessage {
  const [streamId, timestamp] = checkMessageOptions(options, "encodeData");
  if (typeof data.handler !== "string") {
    throw new RtmpError("INVALID_ARGUMENT", "encodeData: expected a string handler name");
  }
  const amf3 = options.amf3 === true;
  return {
    type: amf3 ? MessageType.DataAmf3 : MessageType.DataAmf0,
    streamId,
    timestamp,
    payload: encodeMessageValues([data.handler, ...data.values], amf3),
  };
}

/**
 * The handler name publishers (FFmpeg, OBS) put before `onMetaData`, asking the server to store
 * the metadata for players. Servers and recorders remove it again: players and FLV files carry
 * plain `onMetaData`.
 */
/**
 * The handler name publishers put in front of `onMetaData` (FLV 10.1 E.5), defined once.
 *
 * @example
 * ```ts
 * import { SET_DATA_FRAME } from "./data.ts";
 * console.log(SET_DATA_FRAME); // @setDataFrame
 * ```
 */
export const SET_DATA_FRAME = "@setDataFrame";
/** `SET_DATA_FRAME` as an AMF0 String value: marker 0x02, UI16 length, UTF-8 bytes. */
const SET_DATA_FRAME_AMF0 = encodeAmf0([SET_DATA_FRAME]);

/**
 * Options of {@linkcode wrapSetDataFrame} and {@linkcode unwrapSetDataFrame}.
 *
 * @example
 * ```ts
 * import type { DataFrameOptions } from "./data.ts";
 * const o: DataFrameOptions = { amf3: true };
 * ```
 */
export interface DataFrameOptions {
  /** The body is an AMF3 data message (type 15): values start after its `0x00` format byte. */
  amf3?: boolean;
}

/**
 * Puts `@setDataFrame` in front of a data message body, as publishers send metadata: an
 * `onMetaData, {…}` body becomes `@setDataFrame, onMetaData, {…}`. The other bytes are kept as
 * they are.
 *
 * @example
 * ```ts
 * import { unwrapSetDataFrame, wrapSetDataFrame } from "./data.ts";
 * import { encodeAmf0 } from "./amf0.ts";
 * const body = encodeAmf0(["onMetaData", { width: 640 }]);
 * const wrapped = wrapSetDataFrame(body);
 * console.log(wrapped.length - body.length, unwrapSetDataFrame(wrapped).length === body.length); // 16 true
 * ```
 * @param body A data message body (AMF0 values, or the type-15 form with `amf3`).
 * @param options Body form.
 * @returns A new body.
 */
export function wrapSetDataFrame(body: Uint8Array, options: DataFrameOptions = {}): Uint8Array {
  const skip = options.amf3 === true ? 1 : 0;
  const out = new Uint8Array(body.length + SET_DATA_FRAME_AMF0.length);
  out.set(body.subarray(0, skip));
  out.set(SET_DATA_FRAME_AMF0, skip);
  out.set(body.subarray(skip), skip + SET_DATA_FRAME_AMF0.length);
  return out;
}

/**
 * Removes a leading `@setDataFrame` from a data message body, leaving `onMetaData, {…}` byte for
 * byte (FLV 10.1 E.5: files and players carry plain `onMetaData`). A body without it comes back
 * as is.
 *
 * @example
 * ```ts
 * import { unwrapSetDataFrame } from "./data.ts";
 * import { encodeAmf0 } from "./amf0.ts";
 * const body = encodeAmf0(["@setDataFrame", "onMetaData", { width: 640 }]);
 * console.log(unwrapSetDataFrame(body)[3]); // 111 ("o" of onMetaData)
 * ```
 * @param body A data message body (AMF0 values, or the type-15 form with `amf3`).
 * @param options Body form.
 * @returns The body without the handler name: a view for AMF0, a copy for AMF3 (which keeps its
 * format byte); `body` itself when it does not start with `@setDataFrame`.
 */
export function unwrapSetDataFrame(body: Uint8Array, options: DataFrameOptions = {}): Uint8Array {
  const skip = options.amf3 === true ? 1 : 0;
  const n = SET_DATA_FRAME_AMF0.length;
  if (body.length < skip + n) return body;
  for (let i = 0; i < n; i++) if (body[skip + i] !== SET_DATA_FRAME_AMF0[i]) return body;
  if (skip === 0) return body.subarray(n);
  const out = new Uint8Array(body.length - n);
  out.set(body.subarray(0, skip));
  out.set(body.subarray(skip + n), skip);
  return out;
}

function metadataObject(v: AmfValue): AmfObject | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  return Object.getPrototypeOf(v) === Object.prototype ? v as AmfObject : null;
}

/**
 * The `onMetaData` object of a data message, from either form encoders use:
 * `"@setDataFrame", "onMetaData", {…}` (what publishers send) or `"onMetaData", {…}` (what
 * servers forward to players).
 *
 * @example
 * ```ts
 * import { metadataOf } from "./data.ts";
 * const data = { handler: "@setDataFrame", values: ["onMetaData", { width: 640 }] };
 * console.log(metadataOf(data)); // { width: 640 }
 * ```
 * @param data A decoded data message.
 * @returns The metadata object (plain or ECMA array), or `null` when this is not metadata.
 */
export function metadataOf(data: DataMessage): AmfObject | null {
  if (data.handler === "onMetaData") return metadataObject(data.values[0]);
  if (data.handler === SET_DATA_FRAME && data.values[0] === "onMetaData") {
    return metadataObject(data.values[1]);
  }
  return null;
}
