// Hand-written AMF0 / AMF3 layouts (AMF0 §2, AMF3 §3) as number arrays, independent of the
// encoders under test.
import { f64, u16, utf8 } from "./util.ts";

/** AMF0 number (marker 0x00). */
export const num = (n: number): number[] => [0x00, ...f64(n)];
/** AMF0 string (marker 0x02, UI16 length). */
export const str = (s: string): number[] => [0x02, ...u16(utf8(s).length), ...utf8(s)];
/** AMF0 property name (UI16 length, no marker). */
export const key = (k: string): number[] => [...u16(utf8(k).length), ...utf8(k)];
/** AMF0 object end: empty name and marker 0x09. */
export const END = [0x00, 0x00, 0x09];
/** An inline AMF3 UTF-8-vr of a short ASCII string (length < 64, so the U29 is one byte). */
export const vr = (s: string): number[] => [(utf8(s).length << 1) | 1, ...utf8(s)];
