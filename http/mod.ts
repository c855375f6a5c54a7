/**
 * Browser playback of live streams: HTTP-FLV (`GET /APP/NAME.flv`) and WebSocket-FLV at the same
 * path, as flv.js and mpegts.js play them, plus a small test page. Built on `node:http`, so the
 * same code runs on Deno, Bun and Node; no dependency.
 *
 * @example
 * ```ts ignore
 * import { startHttpFlvServer } from "./mod.ts";
 * const server = await startHttpFlvServer({
 *   port: 8000,
 *   open: ({ app, name }) => Promise.resolve(hub.subscribe(app, name)),
 * });
 * ```
 *
 * @module
 */

export type * from "../protocol/vocabulary.ts";
export { createHttpFlvHandler, type HttpFlvHandler, parseFlvPath } from "./flv_handler.ts";
export { type HttpFlvServer, type HttpFlvServerOptions, startHttpFlvServer } from "./server.ts";
export { testPageHtml, type TestPageHtmlOptions } from "./test_page.ts";
export type {
  HttpFlvOptions,
  LiveRequest,
  LiveSource,
  PacketBatches,
  TestPageOptions,
} from "./types.ts";
export {
  checkWebSocketUpgrade,
  encodeFrameHeader,
  ServerWebSocket,
  type ServerWebSocketOptions,
  type UpgradeCheck,
  webSocketAccept,
  WebSocketCloseCode,
  type WebSocketClosed,
  type WebSocketEvent,
  WebSocketFrameParser,
  type WebSocketFrameParserOptions,
  WebSocketOpcode,
} from "./websocket.ts";
