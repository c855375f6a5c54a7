/**
 * Status info objects: the `{ level, code, description, … }` object of `onStatus` (RTMP 1.0
 * §7.2.2) and of the `_result` / `_error` replies (§7.2.1). This module is the one place that
 * reads them ({@linkcode parseStatus}, {@linkcode statusOf}) and lays them out for sending
 * ({@linkcode buildStatus}).
 *
 * Servers do not agree on the object's AMF form. Most send an anonymous AMF0 object; Flash Media
 * Server and its kin answer an AMF3 client (type-17 commands) with AMF3 typed objects; some send
 * AMF0 typed objects (0x10) or ECMA arrays. All of them are the same status here.
 *
 * @module
 */

import { AmfArray3, type AmfObject, AmfTypedObject, type AmfValue } from "./amf.ts";
import type { Command } from "./command.ts";

/**
 * The `level` of a status (RTMP 1.0 §7.2.2): `status`, `warning` or `error`.
 *
 * @example
 * ```ts
 * import type { StatusLevel } from "./status.ts";
 * const l: StatusLevel = "error";
 * ```
 */
export type StatusLevel = "status" | "warning" | "error";

/**
 * A status `code`. The codes this library sends or acts on are listed; any other string is
 * allowed, since servers and hooks use their own.
 *
 * @example
 * ```ts
 * import type { StatusCode } from "./status.ts";
 * const c: StatusCode = "NetStream.Publish.Unauthorized";
 * ```
 */
export type StatusCode =
  | "NetConnection.Connect.Success"
  | "NetConnection.Connect.Rejected"
  | "NetConnection.Connect.Failed"
  | "NetConnection.Connect.Closed"
  | "NetConnection.Connect.InvalidApp"
  | "NetConnection.Connect.ReconnectRequest"
  | "NetConnection.Call.Failed"
  | "NetStream.Publish.Start"
  | "NetStream.Publish.BadName"
  | "NetStream.Publish.Idle"
  | "NetStream.Publish.Unauthorized"
  | "NetStream.Unpublish.Success"
  | "NetStream.Play.Start"
  | "NetStream.Play.Stop"
  | "NetStream.Play.Reset"
  | "NetStream.Play.StreamNotFound"
  | "NetStream.Play.PublishNotify"
  | "NetStream.Play.UnpublishNotify"
  | "NetStream.Failed"
  | (string & Record<never, never>);

/**
 * A status as read from the wire.
 *
 * @example
 * ```ts
 * import type { StatusObject } from "./status.ts";
 * const s: StatusObject = {
 *   level: "status", code: "NetStream.Publish.Start", description: "", raw: {},
 * };
 * ```
 */
export interface StatusObject {
  /**
   * `status`, `warning` or `error`, read case-insensitively; `status` for a missing or other
   * `level` (the value as sent stays in `raw`).
   */
  level: StatusLevel;
  /** E.g. `NetStream.Publish.Start`. */
  code: StatusCode;
  /** Human-readable text; `""` when absent. */
  description: string;
  /** Every property the peer sent (`level`, `code`, `tcUrl`, `details`, …), unwrapped. */
  raw: AmfObject;
}

/**
 * A status to send: the `level`, `code` and (optional) `description` of a
 * {@linkcode StatusObject}, plus any further properties (`details`, `clientid`, `tcUrl`, …),
 * which are written after them.
 *
 * @example
 * ```ts
 * import type { StatusInfo } from "./status.ts";
 * const s: StatusInfo = { level: "status", code: "NetStream.Publish.Start", details: "key" };
 * ```
 */
export type StatusInfo =
  & Pick<StatusObject, "level" | "code">
  & Partial<Pick<StatusObject, "description">>
  & { [extra: string]: AmfValue };

/** The properties of an object-like AMF value, whatever its AMF form; `null` for the rest. */
function propertiesOf(value: AmfValue): AmfObject | null {
  if (value instanceof AmfTypedObject) return value.properties;
  if (value instanceof AmfArray3) return value.associative;
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  // Anonymous objects (AMF0 0x03, AMF3 without a class name) and AMF0 ECMA arrays (0x08) are
  // plain objects; Date, Uint8Array and the other Amf* classes are not status objects.
  return Object.getPrototypeOf(value) === Object.prototype ? value as AmfObject : null;
}

/**
 * Reads a status info object: an anonymous object, an AMF0 or AMF3 typed object, an ECMA array
 * or an AMF3 array with named keys, with a string `code`.
 *
 * @example
 * ```ts
 * import { AmfTypedObject } from "./amf.ts";
 * import { parseStatus } from "./status.ts";
 * const s = parseStatus(new AmfTypedObject("StatusInfo", { level: "status", code: "NetStream.Publish.Start" }));
 * console.log(s?.code, s?.description === ""); // NetStream.Publish.Start true
 * ```
 * @param value Any decoded AMF value.
 * @returns The status, or `null` when `value` is not an object with a string `code`.
 */
export function parseStatus(value: AmfValue): StatusObject | null {
  const raw = propertiesOf(value);
  if (raw === null || typeof raw.code !== "string") return null;
  const level = typeof raw.level === "string" ? raw.level.toLowerCase() : "";
  return {
    level: level === "error" || level === "warning" ? level : "status",
    code: raw.code,
    description: typeof raw.description === "string" ? raw.description : "",
    raw,
  };
}

/**
 * Finds the status of an `onStatus`, `_result` or `_error` command: the first argument that
 * {@linkcode parseStatus} reads, or failing that the command object (a few servers put it
 * there).
 *
 * @example
 * ```ts
 * import { statusCommand } from "./command.ts";
 * import { statusOf } from "./status.ts";
 * const c = statusCommand({ level: "error", code: "NetStream.Publish.BadName" });
 * console.log(statusOf(c)?.level); // error
 * ```
 * @param command A decoded command.
 * @returns The status, or `null` when the command carries none.
 */
export function statusOf(command: Command): StatusObject | null {
  for (const v of command.args) {
    const s = parseStatus(v);
    if (s !== null) return s;
  }
  return parseStatus(command.commandObject);
}

/**
 * Lays a status out as the anonymous object to send, in the conventional order (Flash Media
 * Server, nginx-rtmp): `level`, `code`, `description`, then the extra properties.
 *
 * @example
 * ```ts
 * import { buildStatus } from "./status.ts";
 * console.log(Object.keys(buildStatus({ details: "k", code: "NetStream.Publish.Start", level: "status" })));
 * // ["level", "code", "details"]
 * ```
 * @param info The status.
 * @returns A new object.
 */
export function buildStatus(info: StatusInfo): AmfObject {
  const out: AmfObject = { level: info.level, code: info.code };
  if (info.description !== undefined) out.description = info.description;
  for (const key of Object.keys(info)) {
    if (key !== "level" && key !== "code" && key !== "description") out[key] = info[key];
  }
  return out;
}
