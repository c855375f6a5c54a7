/**
 * Publisher authentication helpers for @x/rtmp:
 *
 * - Signed, expiring stream URLs: {@linkcode signStreamUrl}, {@linkcode verifySignedStream},
 *   and {@linkcode signedUrlHook}, a ready-made `onPublish` / `onPlay` hook.
 * - Adobe / Limelight `authmod` challenge–response (what OBS's "Use authentication" and FFmpeg's
 *   `rtmp://user:pass@…` speak): {@linkcode AuthmodServer}, {@linkcode AuthmodClient},
 *   {@linkcode stripAuthParams}, {@linkcode withAuthQuery}.
 *
 * @example Check a signed URL in a publish hook
 * ```ts
 * import { signStreamUrl, verifySignedStream } from "./mod.ts";
 * const secret = "0123456789abcdef";
 * const url = signStreamUrl("rtmp://h/live/cam", { secret, expires: Date.now() + 60_000 });
 * const query = url.slice(url.indexOf("?"));
 * console.log(verifySignedStream({ app: "live", name: "cam", query }, { secret, now: Date.now() }).ok); // true
 * ```
 *
 * @module
 */

export { isRtmpError, RtmpError } from "../errors.ts";
export type { RtmpErrorCode, RtmpErrorOptions } from "../errors.ts";
export * from "./signed_url.ts";
export {
  adobeResponse,
  type AdobeResponseInput,
  AUTH_REJECTED_CODE,
  type AuthenticateOptions,
  type AuthFailure,
  type AuthMod,
  AuthmodClient,
  type AuthmodClientOptions,
  type AuthmodClientStep,
  AuthmodServer,
  type AuthmodServerOptions,
  type AuthParams,
  llnwResponse,
  type LlnwResponseInput,
  type RandomBytes,
  type ServerAuthOutcome,
  stripAuthParams,
  type StrippedAuth,
  withAuthQuery,
} from "../protocol/authmod.ts";
