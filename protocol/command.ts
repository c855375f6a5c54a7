/**
 * Command messages (RTMP 1.0 §7.1.1, §7.2): type 20 carries AMF0 values, type 17 a format
 * byte `0x00` followed by AMF0 values in which `0x11` switches a value to AMF3. A command is
 * `name, transaction id, command object, ...arguments`.
 *
 * Besides the generic codec this module builds and parses the commands of the publish and play
 * flows, including the Enhanced RTMP v2 `connect` capability fields.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { AmfDecodeOptions, AmfObject, AmfValue } from "./amf.ts";
import { AmfTypedObject } from "./amf.ts";
import { Amf0Decoder, Amf0Encoder, isAmfComplex } from "./amf0.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";
import { MessageType, type RtmpMessage } from "./message.ts";
import { buildStatus, type StatusInfo } from "./status.ts";

/**
 * A decoded command message.
 *
 * @example
 * ```ts
 * import type { Command } from "./command.ts";
 * const c: Command = { name: "createStream", transactionId: 4, commandObject: null, args: [] };
 * ```
 */
export interface Command {
  /** Command or procedure name, e.g. `connect`, `_result`, `onStatus`. */
  name: string;
  /** Transaction id (0 when no response is expected). */
  transactionId: number;
  /** The command object, `null` when absent. */
  commandObject: AmfValue;
  /** The values after the command object. */
  args: AmfValue[];
}

/**
 * Options for {@linkcode encodeCommand} and {@linkcode encodeData}.
 *
 * @example
 * ```ts
 * import type { EncodeMessageOptions } from "./command.ts";
 * const o: EncodeMessageOptions = { streamId: 1, amf3: false };
 * ```
 */
export interface EncodeMessageOptions {
  /** Message stream id (0 for NetConnection commands). */
  streamId: number;
  /** Write an AMF3 message (type 17 / 15) instead of AMF0 (type 20 / 18). */
  amf3?: boolean;
  /** Message timestamp (default 0). */
  timestamp?: number;
}

/**
 * The `connect` command object fields (RTMP 1.0 §7.2.1.1, Enhanced RTMP v2 "Enhancing
 * NetConnection connect Command").
 *
 * @example
 * ```ts
 * import type { ConnectParams } from "./command.ts";
 * const p: ConnectParams = { app: "live", tcUrl: "rtmp://127.0.0.1/live", fourCcList: ["hvc1"] };
 * ```
 */
export interface ConnectParams {
  /** Server application name. */
  app: string;
  /** Server URL, `protocol://server[:port]/app[/instance]`. */
  tcUrl?: string;
  /** Client version string, e.g. `FMLE/3.0 (compatible; FMSc/1.0)`. */
  flashVer?: string;
  /** URL of the SWF making the connection. */
  swfUrl?: string;
  /** URL of the page the SWF was loaded from. */
  pageUrl?: string;
  /** `nonprivate` from publishers such as FFmpeg and OBS. */
  type?: string;
  /** Whether a proxy is used. */
  fpad?: boolean;
  /** Capability bits (FFmpeg sends 15). */
  capabilities?: number;
  /** `SUPPORT_SND_*` bits. */
  audioCodecs?: number;
  /** `SUPPORT_VID_*` bits. */
  videoCodecs?: number;
  /** `SUPPORT_VID_CLIENT_SEEK` etc. */
  videoFunction?: number;
  /** 0 for AMF0, 3 for AMF3. */
  objectEncoding?: number;
  /** Enhanced RTMP FourCCs the client handles, e.g. `["av01", "hvc1", "Opus"]`, or `["*"]`. */
  fourCcList?: string[];
  /** Enhanced RTMP v2: video FourCC → {@linkcode FourCcInfoMask} bits. */
  videoFourCcInfoMap?: Record<string, number>;
  /** Enhanced RTMP v2: audio FourCC → {@linkcode FourCcInfoMask} bits. */
  audioFourCcInfoMap?: Record<string, number>;
  /** Enhanced RTMP v2: {@linkcode CapsExMask} bits. */
  capsEx?: number;
  /** Further properties, written after the known ones. */
  extra?: AmfObject;
}

/**
 * Reads the AMF0 values of a command or data message body: the whole payload for types 20/18,
 * the payload after the `0x00` format byte for types 17/15 (RTMP 1.0 §7.1.1–§7.1.2).
 *
 * @example
 * ```ts
 * import { decodeMessageValues } from "./command.ts";
 * const m = { type: 17, streamId: 0, timestamp: 0, payload: new Uint8Array([0, 5]) };
 * console.log(decodeMessageValues(m, "command")); // [null]
 * ```
 * @param message A message of type 20, 17, 18 or 15.
 * @param what `command` or `data`, for error messages.
 * @param options Nesting bound.
 * @returns The values.
 * @throws {RtmpError} `MALFORMED` for bad bytes; `INVALID_ARGUMENT` for another message type.
 */
export function decodeMessageValues(
  message: RtmpMessage,
  what: "command" | "data",
  options?: AmfDecodeOptions,
): AmfValue[] {
  const amf0Type = what === "command" ? MessageType.CommandAmf0 : MessageType.DataAmf0;
  const amf3Type = what === "command" ? MessageType.CommandAmf3 : MessageType.DataAmf3;
  const payload = message.payload;
  let start = 0;
  if (message.type === amf3Type) {
    if (payload.length === 0 || payload[0] !== 0x00) {
      throw new RtmpError(
        "MALFORMED",
        `AMF3 ${what} message (type ${amf3Type}): expected format byte 0x00, got ${
          payload.length === 0
            ? "an empty payload"
            : `0x${payload[0].toString(16).padStart(2, "0")}`
        }`,
      );
    }
    start = 1;
  } else if (message.type !== amf0Type) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `decode ${what}: expected a message of type ${amf0Type} or ${amf3Type}, got ${message.type}`,
    );
  }
  const r = new ByteReader(payload, start);
  const d = new Amf0Decoder(r, options);
  const values: AmfValue[] = [];
  while (r.remaining > 0) values.push(d.readValue());
  return values;
}

/**
 * Encodes values as a command or data message body. For AMF3 messages the body starts with the
 * `0x00` format byte and complex values go behind an `0x11` switch, as Flash Player does with
 * `objectEncoding = 3`; scalars stay AMF0.
 *
 * @example
 * ```ts
 * import { encodeMessageValues } from "./command.ts";
 * console.log(encodeMessageValues([null], true)); // Uint8Array [0, 5]
 * ```
 * @param values Values in order.
 * @param amf3 Whether to write the AMF3 message form.
 * @returns The payload bytes.
 * @throws {RtmpError} `INVALID_ARGUMENT` for values with no AMF form.
 */
export function encodeMessageValues(values: readonly AmfValue[], amf3: boolean): Uint8Array {
  const w = new ByteWriter(128);
  if (amf3) w.u8(0x00);
  const e = new Amf0Encoder(w);
  for (const v of values) {
    if (amf3 && isAmfComplex(v)) e.writeAmf3Value(v);
    else e.writeValue(v);
  }
  return w.finish();
}

/**
 * Checks message options and returns `[streamId, timestamp]`.
 *
 * @example
 * ```ts
 * import { checkMessageOptions } from "./command.ts";
 * console.log(checkMessageOptions({ streamId: 1 }, "encodeCommand")); // [1, 0]
 * ```
 * @param options Options to check.
 * @param what Caller name, for error messages.
 * @returns Stream id and timestamp.
 * @throws {RtmpError} `INVALID_ARGUMENT` when either is not a uint32.
 */
export function checkMessageOptions(
  options: EncodeMessageOptions,
  what: string,
): [number, number] {
  const streamId = options.streamId;
  const timestamp = options.timestamp ?? 0;
  for (const [name, v] of [["streamId", streamId], ["timestamp", timestamp]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `${what}: expected ${name} to be an integer 0..4294967295, got ${String(v)}`,
      );
    }
  }
  return [streamId, timestamp];
}

/**
 * Decodes a command message (type 20, or type 17 with its `0x00` format byte).
 *
 * @example
 * ```ts
 * import { decodeCommand, encodeCommand, createStreamCommand } from "./command.ts";
 * const c = decodeCommand(encodeCommand(createStreamCommand(4), { streamId: 0 }));
 * console.log(c.name, c.transactionId); // createStream 4
 * ```
 * @param message The message.
 * @param options Nesting bound.
 * @returns The command; `commandObject` is `null` when the message stops after the
 * transaction id.
 * @throws {RtmpError} `MALFORMED` when the body is not AMF, does not start with a string name,
 * or has a transaction id that is not a number (a missing one reads as 0);
 * `INVALID_ARGUMENT` for a message of another type.
 */
export function decodeCommand(message: RtmpMessage, options?: AmfDecodeOptions): Command {
  const values = decodeMessageValues(message, "command", options);
  const name = values[0];
  if (typeof name !== "string") {
    throw new RtmpError(
      "MALFORMED",
      `command: expected a string command name first, got ${
        values.length === 0 ? "an empty body" : describe(name)
      }`,
    );
  }
  // FFmpeg's `-listen` server sends `onFCPublish` as a bare name: a command that stops after its
  // name is a notification (transaction id 0, RTMP 1.0 §7.2), not an error.
  const transactionId = values.length < 2 ? 0 : values[1];
  if (typeof transactionId !== "number") {
    throw new RtmpError(
      "MALFORMED",
      `command "${name}": expected a number transaction id, got ${
        values.length < 2 ? "nothing" : describe(transactionId)
      }`,
    );
  }
  return {
    name,
    transactionId,
    commandObject: values.length > 2 ? values[2] : null,
    args: values.slice(3),
  };
}

/**
 * Encodes a command as a message: type 20, or type 17 (`0x00` format byte, complex values
 * switched to AMF3) when `amf3` is set.
 *
 * @example
 * ```ts
 * import { encodeCommand, createStreamCommand } from "./command.ts";
 * const m = encodeCommand(createStreamCommand(2), { streamId: 0 });
 * console.log(m.type, m.streamId); // 20 0
 * ```
 * @param command The command.
 * @param options Message stream id, AMF3 form, timestamp.
 * @returns The message.
 * @throws {RtmpError} `INVALID_ARGUMENT` for a bad name, transaction id, stream id or value.
 */
export function encodeCommand(command: Command, options: EncodeMessageOptions): RtmpMessage {
  const [streamId, timestamp] = checkMessageOptions(options, "encodeCommand");
  if (typeof command.name !== "string" || command.name === "") {
    throw new RtmpError("INVALID_ARGUMENT", "encodeCommand: expected a non-empty command name");
  }
  if (typeof command.transactionId !== "number") {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `encodeCommand "${command.name}": expected a number transaction id, got ${
        describe(command.transactionId)
      }`,
    );
  }
  const amf3 = options.amf3 === true;
  const payload = encodeMessageValues(
    [command.name, command.transactionId, command.commandObject, ...command.args],
    amf3,
  );
  return {
    type: amf3 ? MessageType.CommandAmf3 : MessageType.CommandAmf0,
    streamId,
    timestamp,
    payload,
  };
}

function describe(v: AmfValue): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `the string ${JSON.stringify(v.slice(0, 64))}`;
  return `${typeof v} ${String(v)}`;
}

/**
 * Builds `onStatus(transactionId, null, info)`.
 *
 * @example
 * ```ts
 * import { statusCommand } from "./command.ts";
 * const c = statusCommand({ level: "status", code: "NetStream.Publish.Start", description: "ok" });
 * console.log(c.name, c.transactionId, c.commandObject); // onStatus 0 null
 * ```
 * @param info The info object.
 * @param transactionId Transaction id (default 0).
 * @returns The command.
 */
export function statusCommand(info: StatusInfo, transactionId = 0): Command {
  return { name: "onStatus", transactionId, commandObject: null, args: [buildStatus(info)] };
}

/**
 * Builds a `_result` reply.
 *
 * @example
 * ```ts
 * import { resultCommand } from "./command.ts";
 * console.log(resultCommand(4, null, 1).args); // [1]
 * ```
 * @param transactionId The transaction being answered.
 * @param commandObject Properties object (or `null`).
 * @param args Further values (an info object, a stream id…).
 * @returns The command.
 */
export function resultCommand(
  transactionId: number,
  commandObject: AmfValue,
  ...args: AmfValue[]
): Command {
  return { name: "_result", transactionId, commandObject, args };
}

/**
 * Builds an `_error` reply.
 *
 * @example
 * ```ts
 * import { errorCommand } from "./command.ts";
 * const c = errorCommand(1, null, { level: "error", code: "NetConnection.Connect.Rejected" });
 * console.log(c.name); // _error
 * ```
 * @param transactionId The transaction being answered.
 * @param commandObject Properties object (or `null`).
 * @param args Further values (usually an info object).
 * @returns The command.
 */
export function errorCommand(
  transactionId: number,
  commandObject: AmfValue,
  ...args: AmfValue[]
): Command {
  return { name: "_error", transactionId, commandObject, args };
}

/**
 * Builds `connect(transactionId, commandObject)`. Only the fields given are written, in the
 * order FFmpeg uses (`app`, `type`, `flashVer`, `swfUrl`, `tcUrl`, `fpad`, `capabilities`,
 * `audioCodecs`, `videoCodecs`, `videoFunction`, `pageUrl`, `objectEncoding`), then the
 * Enhanced RTMP fields, then `extra`.
 *
 * @example
 * ```ts
 * import { connectCommand } from "./command.ts";
 * const c = connectCommand({ app: "live", tcUrl: "rtmp://127.0.0.1/live" });
 * console.log(c.commandObject); // { app: "live", tcUrl: "rtmp://127.0.0.1/live" }
 * ```
 * @param params Command object fields.
 * @param transactionId Transaction id (default 1, RTMP 1.0 §7.2.1.1).
 * @returns The command.
 */
export function connectCommand(params: ConnectParams, transactionId = 1): Command {
  const o: AmfObject = { app: params.app };
  const scalar = [
    "type",
    "flashVer",
    "swfUrl",
    "tcUrl",
    "fpad",
    "capabilities",
    "audioCodecs",
    "videoCodecs",
    "videoFunction",
    "pageUrl",
    "objectEncoding",
  ] as const;
  for (const key of scalar) {
    const v = params[key];
    if (v !== undefined) o[key] = v;
  }
  if (params.fourCcList !== undefined) o.fourCcList = [...params.fourCcList];
  if (params.videoFourCcInfoMap !== undefined) {
    o.videoFourCcInfoMap = { ...params.videoFourCcInfoMap };
  }
  if (params.audioFourCcInfoMap !== undefined) {
    o.audioFourCcInfoMap = { ...params.audioFourCcInfoMap };
  }
  if (params.capsEx !== undefined) o.capsEx = params.capsEx;
  if (params.extra !== undefined) {
    for (const key of Object.keys(params.extra)) o[key] = params.extra[key];
  }
  return { name: "connect", transactionId, commandObject: o, args: [] };
}

const CONNECT_STRINGS = ["tcUrl", "flashVer", "swfUrl", "pageUrl", "type"] as const;
const CONNECT_NUMBERS = [
  "capabilities",
  "audioCodecs",
  "videoCodecs",
  "videoFunction",
  "objectEncoding",
  "capsEx",
] as const;
const CONNECT_KNOWN = new Set<string>([
  "app",
  "fpad",
  "fourCcList",
  "videoFourCcInfoMap",
  "audioFourCcInfoMap",
  ...CONNECT_STRINGS,
  ...CONNECT_NUMBERS,
]);

function plainObject(v: AmfValue): AmfObject | null {
  if (v instanceof AmfTypedObject) return v.properties;
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  return Object.getPrototypeOf(v) === Object.prototype ? v as AmfObject : null;
}

function infoMap(v: AmfValue): Record<string, number> | undefined {
  const o = plainObject(v);
  if (o === null) return undefined;
  const out: Record<string, number> = {};
  for (const key of Object.keys(o)) {
    const flags = o[key];
    if (typeof flags === "number") out[key] = flags;
  }
  return out;
}

/**
 * Reads the `connect` command object into typed fields. Fields of the wrong type are left out
 * of the typed view (they stay in `raw`); properties this library does not know go to `extra`.
 *
 * @example
 * ```ts
 * import { connectCommand, parseConnect } from "./command.ts";
 * const p = parseConnect(connectCommand({ app: "live", capsEx: 1 }));
 * console.log(p.app, p.capsEx); // live 1
 * ```
 * @param command A `connect` command.
 * @returns The typed fields plus the raw command object.
 * @throws {RtmpError} `MALFORMED` when the command object is not an object or `app` is not a
 * string.
 */
export function parseConnect(command: Command): ConnectParams & { raw: AmfObject } {
  const raw = plainObject(command.commandObject);
  if (raw === null) {
    throw new RtmpError(
      "MALFORMED",
      `connect: expected a command object, got ${describe(command.commandObject)}`,
    );
  }
  const app = raw.app;
  if (typeof app !== "string") {
    throw new RtmpError(
      "MALFORMED",
      `connect: expected a string "app" in the command object, got ${
        app === undefined ? "none" : describe(app)
      }`,
    );
  }
  const out: ConnectParams & { raw: AmfObject } = { app, raw };
  for (const key of CONNECT_STRINGS) {
    const v = raw[key];
    if (typeof v === "string") out[key] = v;
  }
  for (const key of CONNECT_NUMBERS) {
    const v = raw[key];
    if (typeof v === "number") out[key] = v;
  }
  if (typeof raw.fpad === "boolean") out.fpad = raw.fpad;
  const list = raw.fourCcList;
  if (Array.isArray(list)) out.fourCcList = list.filter((x): x is string => typeof x === "string");
  const video = infoMap(raw.videoFourCcInfoMap);
  if (video !== undefined) out.videoFourCcInfoMap = video;
  const audio = infoMap(raw.audioFourCcInfoMap);
  if (audio !== undefined) out.audioFourCcInfoMap = audio;
  let extra: AmfObject | undefined;
  for (const key of Object.keys(raw)) {
    if (CONNECT_KNOWN.has(key)) continue;
    extra ??= {};
    extra[key] = raw[key];
  }
  if (extra !== undefined) out.extra = extra;
  return out;
}

/**
 * Reads `publish(tx, null, name, type)` (RTMP 1.0 §7.2.2.6). A missing or non-string type
 * reads as `live`.
 *
 * @example
 * ```ts
 * import { parsePublish, publishCommand } from "./command.ts";
 * console.log(parsePublish(publishCommand(5, "key"))); // { name: "key", type: "live" }
 * ```
 * @param command A `publish` command.
 * @returns Publishing name (possibly with a `?query`) and type.
 * @throws {RtmpError} `MALFORMED` when the name is not a string.
 */
export function parsePublish(command: Command): { name: string; type: string } {
  const name = command.args[0];
  if (typeof name !== "string") {
    throw new RtmpError(
      "MALFORMED",
      `publish: expected a string publishing name, got ${
        command.args.length === 0 ? "none" : describe(name)
      }`,
    );
  }
  const type = command.args[1];
  return { name, type: typeof type === "string" ? type : "live" };
}

/**
 * Reads `play(tx, null, name, start, duration, reset)` (RTMP 1.0 §7.2.2.1) with the spec's
 * defaults: start −2, duration −1, reset `true`. A numeric reset (legacy clients) is true when
 * non-zero.
 *
 * @example
 * ```ts
 * import { parsePlay, playCommand } from "./command.ts";
 * console.log(parsePlay(playCommand(0, "cam")));
 * // { name: "cam", start: -2, duration: -1, reset: true }
 * ```
 * @param command A `play` command.
 * @returns Stream name, start, duration, reset flag.
 * @throws {RtmpError} `MALFORMED` when the name is not a string.
 */
export function parsePlay(
  command: Command,
): { name: string; start: number; duration: number; reset: boolean } {
  const [name, start, duration, reset] = command.args;
  if (typeof name !== "string") {
    throw new RtmpError(
      "MALFORMED",
      `play: expected a string stream name, got ${
        command.args.length === 0 ? "none" : describe(name)
      }`,
    );
  }
  return {
    name,
    start: typeof start === "number" ? start : -2,
    duration: typeof duration === "number" ? duration : -1,
    reset: typeof reset === "boolean" ? reset : typeof reset === "number" ? reset !== 0 : true,
  };
}

function nameArg(what: string, name: string): string {
  if (typeof name !== "string") {
    throw new RtmpError("INVALID_ARGUMENT", `${what}: expected a string stream name`);
  }
  return name;
}

/**
 * Builds `releaseStream(tx, null, name)` (sent by FFmpeg and OBS before publishing).
 *
 * @example
 * ```ts
 * import { releaseStreamCommand } from "./command.ts";
 * console.log(releaseStreamCommand(2, "key").args); // ["key"]
 * ```
 * @param transactionId Transaction id.
 * @param name Stream name.
 * @returns The command.
 */
export function releaseStreamCommand(transactionId: number, name: string): Command {
  return {
    name: "releaseStream",
    transactionId,
    commandObject: null,
    args: [nameArg("releaseStreamCommand", name)],
  };
}

/**
 * Builds `FCPublish(tx, null, name)`.
 *
 * @example
 * ```ts
 * import { fcPublishCommand } from "./command.ts";
 * console.log(fcPublishCommand(3, "key").name); // FCPublish
 * ```
 * @param transactionId Transaction id.
 * @param name Stream name.
 * @returns The command.
 */
export function fcPublishCommand(transactionId: number, name: string): Command {
  return {
    name: "FCPublish",
    transactionId,
    commandObject: null,
    args: [nameArg("fcPublishCommand", name)],
  };
}

/**
 * Builds `FCUnpublish(tx, null, name)`.
 *
 * @example
 * ```ts
 * import { fcUnpublishCommand } from "./command.ts";
 * console.log(fcUnpublishCommand(6, "key").name); // FCUnpublish
 * ```
 * @param transactionId Transaction id.
 * @param name Stream name.
 * @returns The command.
 */
export function fcUnpublishCommand(transactionId: number, name: string): Command {
  return {
    name: "FCUnpublish",
    transactionId,
    commandObject: null,
    args: [nameArg("fcUnpublishCommand", name)],
  };
}

/**
 * Builds `createStream(tx, null)` (RTMP 1.0 §7.2.1.3).
 *
 * @example
 * ```ts
 * import { createStreamCommand } from "./command.ts";
 * console.log(createStreamCommand(4).args); // []
 * ```
 * @param transactionId Transaction id.
 * @returns The command.
 */
export function createStreamCommand(transactionId: number): Command {
  return { name: "createStream", transactionId, commandObject: null, args: [] };
}

/**
 * Builds `publish(tx, null, name, type)` (RTMP 1.0 §7.2.2.6).
 *
 * @example
 * ```ts
 * import { publishCommand } from "./command.ts";
 * console.log(publishCommand(5, "key").args); // ["key", "live"]
 * ```
 * @param transactionId Transaction id (FFmpeg counts on; the spec says 0).
 * @param name Publishing name.
 * @param type `live` (default), `record` or `append`.
 * @returns The command.
 */
export function publishCommand(transactionId: number, name: string, type = "live"): Command {
  return {
    name: "publish",
    transactionId,
    commandObject: null,
    args: [nameArg("publishCommand", name), type],
  };
}

/**
 * Builds `deleteStream(tx, null, streamId)` (RTMP 1.0 §7.2.2.3).
 *
 * @example
 * ```ts
 * import { deleteStreamCommand } from "./command.ts";
 * console.log(deleteStreamCommand(7, 1).args); // [1]
 * ```
 * @param transactionId Transaction id.
 * @param streamId The message stream to delete.
 * @returns The command.
 */
export function deleteStreamCommand(transactionId: number, streamId: number): Command {
  return { name: "deleteStream", transactionId, commandObject: null, args: [streamId] };
}

/**
 * Builds `closeStream(tx, null)` (sent by Flash's `NetStream.close()`).
 *
 * @example
 * ```ts
 * import { closeStreamCommand } from "./command.ts";
 * console.log(closeStreamCommand().name); // closeStream
 * ```
 * @param transactionId Transaction id (default 0).
 * @returns The command.
 */
export function closeStreamCommand(transactionId = 0): Command {
  return { name: "closeStream", transactionId, commandObject: null, args: [] };
}

/**
 * Options of {@linkcode playCommand}.
 *
 * @example
 * ```ts
 * import type { PlayOptions } from "./command.ts";
 * const o: PlayOptions = { start: -1 };
 * ```
 */
export interface PlayOptions {
  /** Start in seconds: −2 live-then-recorded (default), −1 live only, ≥0 recorded offset. */
  start?: number;
  /** Duration in seconds (−1 = to the end); written only when given or when `reset` is. */
  duration?: number;
  /** Whether to flush the playlist; written only when given. */
  reset?: boolean;
}

/**
 * Builds `play(tx, null, name, start[, duration[, reset]])` (RTMP 1.0 §7.2.2.1).
 *
 * @example
 * ```ts
 * import { playCommand } from "./command.ts";
 * console.log(playCommand(0, "cam", { start: -1 }).args); // ["cam", -1]
 * ```
 * @param transactionId Transaction id.
 * @param name Stream name.
 * @param options Start, duration, reset.
 * @returns The command.
 */
export function playCommand(
  transactionId: number,
  name: string,
  options: PlayOptions = {},
): Command {
  const args: AmfValue[] = [nameArg("playCommand", name), options.start ?? -2];
  if (options.duration !== undefined || options.reset !== undefined) {
    args.push(options.duration ?? -1);
  }
  if (options.reset !== undefined) args.push(options.reset);
  return { name: "play", transactionId, commandObject: null, args };
}

/**
 * Builds `onFCPublish(0, null, info)`, the reply some encoders expect to `FCPublish`.
 *
 * @example
 * ```ts
 * import { onFcPublishCommand } from "./command.ts";
 * const c = onFcPublishCommand({ level: "status", code: "NetStream.Publish.Start" });
 * console.log(c.name); // onFCPublish
 * ```
 * @param info The info object.
 * @returns The command.
 */
export function onFcPublishCommand(info: StatusInfo): Command {
  return { name: "onFCPublish", transactionId: 0, commandObject: null, args: [buildStatus(info)] };
}

/**
 * Builds `FCSubscribe(tx, null, name)`, which some CDN edges (Akamai, Limelight) want before a
 * live `play`, as FFmpeg sends it with `-rtmp_subscribe` or `-rtmp_live live`.
 *
 * @example
 * ```ts
 * import { fcSubscribeCommand } from "./command.ts";
 * console.log(fcSubscribeCommand(4, "cam").args); // ["cam"]
 * ```
 * @param transactionId Transaction id.
 * @param name Stream name.
 * @returns The command.
 */
export function fcSubscribeCommand(transactionId: number, name: string): Command {
  return {
    name: "FCSubscribe",
    transactionId,
    commandObject: null,
    args: [nameArg("fcSubscribeCommand", name)],
  };
}

/**
 * Builds `pause(0, null, paused, milliseconds)` (RTMP 1.0 §7.2.2.8): the player pauses or
 * resumes; `milliseconds` is where the stream is paused or resumed (the last timestamp seen).
 *
 * @example
 * ```ts
 * import { pauseCommand } from "./command.ts";
 * console.log(pauseCommand(true, 4000).args); // [true, 4000]
 * ```
 * @param paused `true` to pause, `false` to resume.
 * @param milliseconds Stream time of the pause or resume point.
 * @returns The command.
 */
export function pauseCommand(paused: boolean, milliseconds: number): Command {
  return { name: "pause", transactionId: 0, commandObject: null, args: [paused, milliseconds] };
}
