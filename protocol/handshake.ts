/**
 * The RTMP handshake (RTMP 1.0 §5.2) for both roles, sans-IO: bytes in, bytes to send out.
 *
 * Two C1/S1 layouts exist in the wild. The spec's "simple" layout is time + four zero bytes +
 * 1528 random bytes, and C2/S2 echo the peer's C1/S1. Flash Player 9 introduced the "digest"
 * layout that FFmpeg, librtmp and OBS send: bytes 4..7 carry a version and an HMAC-SHA256 digest
 * is embedded in the random part at an offset derived from the packet itself; the answer S2/C2
 * ends with an HMAC keyed from the peer's digest. Some servers reject clients that do not send
 * it, so the client sends it by default and the server answers whichever layout it receives.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { hmacSha256 } from "./sha256.ts";
import { copyBytes, utf8Encode } from "./bytes.ts";

/** RTMP 1.0 §5.2.2: the only version this library speaks. */
const RTMP_VERSION = 3;
/** RTMP 1.0 §5.2.3: C1/S1/C2/S2 are 1536 bytes. */
const PACKET_SIZE = 1536;
const DIGEST_SIZE = 32;

// The FP9 keys: a public text prefix followed by 32 constant bytes. C1/S1 digests use only the
// text prefix; the S2/C2 signature key is derived with the whole key.
const KEY_TAIL = [
  0xf0,
  0xee,
  0xc2,
  0x4a,
  0x80,
  0x68,
  0xbe,
  0xe8,
  0x2e,
  0x00,
  0xd0,
  0xd1,
  0x02,
  0x9e,
  0x7e,
  0x57,
  0x6e,
  0xec,
  0x5d,
  0x2d,
  0x29,
  0x80,
  0x6f,
  0xab,
  0x93,
  0xb8,
  0xe6,
  0x36,
  0xcf,
  0xeb,
  0x31,
  0xae,
];
const PLAYER_TEXT = utf8Encode("Genuine Adobe Flash Player 001");
const SERVER_TEXT = utf8Encode("Genuine Adobe Flash Media Server 001");
const PLAYER_KEY = new Uint8Array([...PLAYER_TEXT, ...KEY_TAIL]);
const SERVER_KEY = new Uint8Array([...SERVER_TEXT, ...KEY_TAIL]);

// Version bytes placed at C1/S1 offset 4..7 in the digest layout. Their value is informational;
// FFmpeg only checks that the server's first byte is >= 3 before looking for a digest.
const CLIENT_DIGEST_VERSION = [9, 0, 124, 2];
const SERVER_DIGEST_VERSION = [13, 14, 10, 13];

/**
 * The two places the digest may sit. Scheme 0 reads its offset from bytes 8..11 and puts the
 * digest in 12..739; scheme 1 reads bytes 772..775 and uses 776..1503.
 */
const SCHEME_BASES = [8, 772] as const;

function digestOffset(packet: Uint8Array, base: number): number {
  const sum = packet[base] + packet[base + 1] + packet[base + 2] + packet[base + 3];
  return (sum % 728) + base + 4;
}

/**
 * An HMAC-SHA256 implementation: the digest of `parts` (concatenated) under `key`. The
 * handshake uses the pure one from `sha256.ts` unless a faster one (e.g. `node:crypto`, which
 * all three runtimes ship) is given: a driver's choice, since this module does no IO.
 *
 * @example
 * ```ts
 * import type { HmacSha256 } from "./handshake.ts";
 * import { hmacSha256 } from "./sha256.ts";
 * const h: HmacSha256 = hmacSha256;
 * console.log(h(new Uint8Array(1), new Uint8Array(1)).length); // 32
 * ```
 */
export type HmacSha256 = (key: Uint8Array, ...parts: Uint8Array[]) => Uint8Array;

/** HMAC over the packet with the 32 digest bytes at `offset` left out. */
function packetDigest(
  packet: Uint8Array,
  offset: number,
  key: Uint8Array,
  hmac: HmacSha256,
): Uint8Array {
  return hmac(
    key,
    packet.subarray(0, offset),
    packet.subarray(offset + DIGEST_SIZE, PACKET_SIZE),
  );
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Finds a valid digest under `key`; returns its offset and scheme, or null. */
function findDigest(
  packet: Uint8Array,
  key: Uint8Array,
  hmac: HmacSha256,
): { offset: number; scheme: number } | null {
  for (let scheme = 0; scheme < SCHEME_BASES.length; scheme++) {
    const offset = digestOffset(packet, SCHEME_BASES[scheme]);
    const expected = packetDigest(packet, offset, key, hmac);
    if (equalBytes(expected, packet.subarray(offset, offset + DIGEST_SIZE))) {
      return { offset, scheme };
    }
  }
  return null;
}

/**
 * Random bytes for the packets' random parts, drawn 64 KiB at a time (the most one
 * `getRandomValues` call gives): one call per 42 handshakes instead of one per handshake, which
 * was 5 % of the CPU of accepting a connection on Node. The bytes only need to differ between
 * connections (RTMP 1.0 §5.2.3 asks for "sufficiently random" data, not secrecy); each is used
 * once.
 */
const randomPool = new Uint8Array(65536);
let randomAt = randomPool.length;

function fillRandom(dst: Uint8Array): void {
  if (randomAt + dst.length > randomPool.length) {
    crypto.getRandomValues(randomPool);
    randomAt = 0;
  }
  dst.set(randomPool.subarray(randomAt, randomAt + dst.length));
  randomAt += dst.length;
}

/** Fills the random part and writes time and version (RTMP 1.0 §5.2.3). */
function fillPacket(packet: Uint8Array, epoch: number, version: readonly number[]): void {
  fillRandom(packet.subarray(8));
  const t = epoch >>> 0;
  packet[0] = t >>> 24;
  packet[1] = t >>> 16;
  packet[2] = t >>> 8;
  packet[3] = t;
  packet.set(version, 4);
}

/** Embeds a digest in `packet` using `scheme` and the text part of `key`. */
function signPacket(packet: Uint8Array, scheme: number, key: Uint8Array, hmac: HmacSha256): void {
  const offset = digestOffset(packet, SCHEME_BASES[scheme]);
  packet.set(packetDigest(packet, offset, key, hmac), offset);
}

/**
 * Signs the answer packet (S2 or C2): its last 32 bytes become an HMAC of the first 1504 under a
 * key derived from the peer's digest and our full key.
 */
function signAnswer(
  answer: Uint8Array,
  peerDigest: Uint8Array,
  fullKey: Uint8Array,
  hmac: HmacSha256,
): void {
  const key = hmac(fullKey, peerDigest);
  const body = answer.subarray(0, PACKET_SIZE - DIGEST_SIZE);
  answer.set(hmac(key, body), PACKET_SIZE - DIGEST_SIZE);
}

function checkEpoch(epoch: number | undefined): number {
  if (epoch === undefined) return 0;
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `handshake epoch: expected an integer 0..4294967295, got ${epoch}`,
    );
  }
  return epoch;
}

function checkVersion(who: string, version: number): void {
  if (version !== RTMP_VERSION) {
    throw new RtmpError(
      "HANDSHAKE_FAILED",
      `handshake: ${who} expected version ${RTMP_VERSION}, got ${version}`,
    );
  }
}

/**
 * What one {@linkcode ServerHandshake.push} / {@linkcode ClientHandshake.push} call produced.
 *
 * @example
 * ```ts
 * import type { HandshakeStep } from "./handshake.ts";
 * const step: HandshakeStep = { send: null, done: false, remainder: null };
 * console.log(step.done); // false
 * ```
 */
export interface HandshakeStep {
  /** Bytes to write to the peer now, or null. */
  send: Uint8Array | null;
  /** Whether the handshake is complete. */
  done: boolean;
  /**
   * Bytes received after the handshake ended — the start of the chunk stream (FFmpeg sends C2
   * and `connect` in one write). A copy the caller may keep, or null when there were none.
   */
  remainder: Uint8Array | null;
}

/** Options for {@linkcode ServerHandshake}. */
export interface ServerHandshakeOptions {
  /** Value of S1's time field (RTMP 1.0 §5.2.3); default 0. */
  epoch?: number;
  /** HMAC-SHA256 for the digest layout; default the pure implementation in `sha256.ts`. */
  hmac?: HmacSha256;
}

/**
 * The server side of the handshake. Feed it every byte the client sends until `done`; write
 * each `send` to the client. It answers the simple layout with an echo and the FP9 digest layout
 * with a digest S1 and a signed S2. C2 is accepted without strict checks: real clients differ in
 * what they echo.
 *
 * `push()` copies what it keeps, so the caller may reuse its read buffer.
 *
 * @example Drive a server with a client
 * ```ts
 * import { ClientHandshake, ServerHandshake } from "./handshake.ts";
 * const client = new ClientHandshake();
 * const server = new ServerHandshake();
 * const s = server.push(client.start());
 * const c = client.push(s.send!);
 * const end = server.push(c.send!);
 * console.log(c.done, end.done, server.usedDigest); // true true true
 * ```
 */
export class ServerHandshake {
  #epoch: number;
  readonly #hmac: HmacSha256;
  #c1 = new Uint8Array(PACKET_SIZE);
  #c1Len = 0;
  #c2Len = 0;
  #gotC0 = false;
  #done = false;
  #error: RtmpError | null = null;
  #usedDigest = false;

  /**
   * Creates a server handshake waiting for C0.
   *
   * @param options S1 epoch.
   */
  constructor(options: ServerHandshakeOptions = {}) {
    this.#epoch = checkEpoch(options.epoch);
    this.#hmac = options.hmac ?? hmacSha256;
  }

  /** Whether the client sent the FP9 digest layout (valid only once S1 was produced). */
  get usedDigest(): boolean {
    return this.#usedDigest;
  }

  /** Whether the handshake is complete. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Feeds bytes received from the client.
   *
   * @param bytes Any slice of the client's stream; not retained.
   * @returns What to send, whether the handshake is done, and any bytes past C2.
   * @throws {RtmpError} `HANDSHAKE_FAILED` when C0 is not version 3; the object then stays
   * failed.
   */
  push(bytes: Uint8Array): HandshakeStep {
    if (this.#error) throw this.#error;
    if (this.#done) {
      return { send: null, done: true, remainder: bytes.length > 0 ? copyBytes(bytes) : null };
    }
    let off = 0;
    let send: Uint8Array | null = null;
    if (!this.#gotC0 && off < bytes.length) {
      try {
        checkVersion("C0", bytes[off]);
      } catch (e) {
        this.#error = e as RtmpError;
        throw e;
      }
      this.#gotC0 = true;
      off++;
    }
    if (this.#gotC0 && this.#c1Len < PACKET_SIZE && off < bytes.length) {
      const take = Math.min(PACKET_SIZE - this.#c1Len, bytes.length - off);
      this.#c1.set(bytes.subarray(off, off + take), this.#c1Len);
      this.#c1Len += take;
      off += take;
      if (this.#c1Len === PACKET_SIZE) send = this.#answer();
    }
    if (this.#c1Len === PACKET_SIZE && off < bytes.length) {
      const take = Math.min(PACKET_SIZE - this.#c2Len, bytes.length - off);
      this.#c2Len += take;
      off += take;
      if (this.#c2Len === PACKET_SIZE) this.#done = true;
    }
    const remainder = this.#done && off < bytes.length ? copyBytes(bytes, off) : null;
    return { send, done: this.#done, remainder };
  }

  /** Builds S0 + S1 + S2 once C1 is complete. */
  #answer(): Uint8Array {
    const out = new Uint8Array(1 + 2 * PACKET_SIZE);
    out[0] = RTMP_VERSION;
    const s1 = out.subarray(1, 1 + PACKET_SIZE);
    const s2 = out.subarray(1 + PACKET_SIZE);
    const c1 = this.#c1;
    const found = findDigest(c1, PLAYER_TEXT, this.#hmac);
    s2.set(c1);
    if (found === null) {
      // Simple layout (RTMP 1.0 §5.2.3/§5.2.4): S1 with zeroed version, S2 the exact echo of
      // C1. The spec's time2 field is left as the client sent it: some clients compare the echo
      // byte for byte.
      fillPacket(s1, this.#epoch, [0, 0, 0, 0]);
      return out;
    }
    this.#usedDigest = true;
    fillPacket(s1, this.#epoch, SERVER_DIGEST_VERSION);
    // Answer in the scheme the client used: librtmp looks for the server digest there.
    signPacket(s1, found.scheme, SERVER_TEXT, this.#hmac);
    signAnswer(s2, c1.subarray(found.offset, found.offset + DIGEST_SIZE), SERVER_KEY, this.#hmac);
    return out;
  }
}

/** Options for {@linkcode ClientHandshake}. */
export interface ClientHandshakeOptions {
  /** Send the FP9 digest layout in C1 like FFmpeg and OBS (default true). */
  digest?: boolean;
  /** Value of C1's time field (RTMP 1.0 §5.2.3); default 0. */
  epoch?: number;
  /** HMAC-SHA256 for the digest layout; default the pure implementation in `sha256.ts`. */
  hmac?: HmacSha256;
}

/**
 * The client side of the handshake. Call {@linkcode ClientHandshake.start} and send its bytes,
 * then feed every byte the server sends to `push()` until `done`, writing each `send`.
 *
 * With `digest` (the default), C1 carries an FP9 digest. If S1 carries a valid digest under the
 * server key, C2 is the signed answer the FP9 layout expects; otherwise (a server answering with
 * the simple layout) C2 echoes S1. S2 is not checked: servers differ in what they put there.
 *
 * @example
 * ```ts
 * import { ClientHandshake, ServerHandshake } from "./handshake.ts";
 * const client = new ClientHandshake({ digest: false });
 * const server = new ServerHandshake();
 * const step = client.push(server.push(client.start()).send!);
 * console.log(step.done, client.usedDigest); // true false
 * ```
 */
export class ClientHandshake {
  #digest: boolean;
  #epoch: number;
  readonly #hmac: HmacSha256;
  #started = false;
  #s1 = new Uint8Array(PACKET_SIZE);
  #s1Len = 0;
  #s2Len = 0;
  #gotS0 = false;
  #done = false;
  #error: RtmpError | null = null;
  #usedDigest = false;

  /**
   * Creates a client handshake; call {@linkcode ClientHandshake.start} next.
   *
   * @param options Layout and C1 epoch.
   */
  constructor(options: ClientHandshakeOptions = {}) {
    this.#digest = options.digest ?? true;
    this.#epoch = checkEpoch(options.epoch);
    this.#hmac = options.hmac ?? hmacSha256;
  }

  /** Whether S1 carried a valid digest and C2 was sent in the FP9 layout. */
  get usedDigest(): boolean {
    return this.#usedDigest;
  }

  /** Whether the handshake is complete. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Builds C0 + C1, the first bytes the client sends. Call once.
   *
   * @returns 1537 bytes to write.
   * @throws {RtmpError} `INVALID_ARGUMENT` when called twice.
   */
  start(): Uint8Array {
    if (this.#started) {
      throw new RtmpError("INVALID_ARGUMENT", "ClientHandshake.start(): already called");
    }
    const out = new Uint8Array(1 + PACKET_SIZE);
    out[0] = RTMP_VERSION;
    const c1 = out.subarray(1);
    if (this.#digest) {
      fillPacket(c1, this.#epoch, CLIENT_DIGEST_VERSION);
      // FFmpeg and librtmp place the client digest with scheme 0.
      signPacket(c1, 0, PLAYER_TEXT, this.#hmac);
    } else {
      fillPacket(c1, this.#epoch, [0, 0, 0, 0]);
    }
    this.#started = true;
    return out;
  }

  /**
   * Feeds bytes received from the server.
   *
   * @param bytes Any slice of the server's stream; not retained.
   * @returns What to send (C2, once S1 is complete), whether the handshake is done (S2
   * received), and any bytes past S2.
   * @throws {RtmpError} `HANDSHAKE_FAILED` when S0 is not version 3; `INVALID_ARGUMENT` before
   * `start()`.
   */
  push(bytes: Uint8Array): HandshakeStep {
    if (this.#error) throw this.#error;
    if (!this.#started) {
      throw new RtmpError("INVALID_ARGUMENT", "ClientHandshake.push(): call start() first");
    }
    if (this.#done) {
      return { send: null, done: true, remainder: bytes.length > 0 ? copyBytes(bytes) : null };
    }
    let off = 0;
    let send: Uint8Array | null = null;
    if (!this.#gotS0 && off < bytes.length) {
      try {
        checkVersion("S0", bytes[off]);
      } catch (e) {
        this.#error = e as RtmpError;
        throw e;
      }
      this.#gotS0 = true;
      off++;
    }
    if (this.#gotS0 && this.#s1Len < PACKET_SIZE && off < bytes.length) {
      const take = Math.min(PACKET_SIZE - this.#s1Len, bytes.length - off);
      this.#s1.set(bytes.subarray(off, off + take), this.#s1Len);
      this.#s1Len += take;
      off += take;
      if (this.#s1Len === PACKET_SIZE) send = this.#answer();
    }
    if (this.#s1Len === PACKET_SIZE && off < bytes.length) {
      const take = Math.min(PACKET_SIZE - this.#s2Len, bytes.length - off);
      this.#s2Len += take;
      off += take;
      if (this.#s2Len === PACKET_SIZE) this.#done = true;
    }
    const remainder = this.#done && off < bytes.length ? copyBytes(bytes, off) : null;
    return { send, done: this.#done, remainder };
  }

  /** Builds C2 once S1 is complete. */
  #answer(): Uint8Array {
    const s1 = this.#s1;
    const c2 = new Uint8Array(PACKET_SIZE);
    const found = this.#digest ? findDigest(s1, SERVER_TEXT, this.#hmac) : null;
    if (found === null) {
      // Simple layout (RTMP 1.0 §5.2.4): C2 echoes S1.
      c2.set(s1);
      return c2;
    }
    this.#usedDigest = true;
    fillPacket(c2, this.#epoch, CLIENT_DIGEST_VERSION);
    signAnswer(c2, s1.subarray(found.offset, found.offset + DIGEST_SIZE), PLAYER_KEY, this.#hmac);
    return c2;
  }
}
