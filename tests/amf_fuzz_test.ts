import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decodeAmf0, encodeAmf0 } from "../protocol/amf0.ts";
import { decodeAmf3, encodeAmf3 } from "../protocol/amf3.ts";
import {
  AmfArray3,
  AmfDictionary,
  type AmfObject,
  AmfTypedObject,
  type AmfValue,
  AmfVector,
  type AmfVectorKind,
  AmfXml,
  AmfXmlDocument,
  ecmaArray,
  setAmfProperty,
} from "../protocol/amf.ts";
import { type Command, decodeCommand, encodeCommand } from "../protocol/command.ts";
import { decodeData, encodeData } from "../protocol/data.ts";
import {
  decodeControl,
  setPeerBandwidthMessage,
  userControlMessage,
  windowAckSizeMessage,
} from "../protocol/control.ts";
import { buildAggregate, splitAggregate } from "../protocol/aggregate.ts";
import type { RtmpMessage } from "../protocol/message.ts";
import { RtmpError } from "../errors.ts";
import { prng, testSeed } from "./support/util.ts";

// Reproduce a failure with RTMP_TEST_SEED=<seed printed at the start>.
const SEED = testSeed("amf_fuzz_test");

class Gen {
  rnd: () => number;
  /** Completed containers, reused now and then to make shared (DAG) structure. */
  pool: AmfValue[] = [];

  constructor(seed: number) {
    this.rnd = prng(seed);
  }

  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  number(): number {
    switch (this.int(8)) {
      case 0:
        return this.int(256);
      case 1:
        return this.int(2 ** 31) - 2 ** 30;
      case 2:
        return this.pick([0x7f, 0x80, 0x3fff, 0x4000, 0x1fffff, 0x200000, 0xfffffff, 0x10000000]);
      case 3:
        return -this.pick([1, 0x10000000, 0x10000001, 2 ** 31, 2 ** 53]);
      case 4:
        return this.pick([-0, NaN, Infinity, -Infinity, Number.MIN_VALUE, Number.MAX_VALUE]);
      case 5:
        return (this.rnd() - 0.5) * 10 ** this.int(20);
      default:
        return this.rnd() * 1000;
    }
  }

  string(): string {
    const alphabet = ["a", "b", "Z", "0", "9", " ", "é", "€", "😀", "\u0000", "\n", "漢"];
    switch (this.int(10)) {
      case 0:
        return "";
      case 1:
        return this.pick(["__proto__", "constructor", "0", "12", "length", "toString"]);
      default: {
        let s = "";
        const n = this.int(12);
        for (let i = 0; i < n; i++) s += this.pick(alphabet);
        return s;
      }
    }
  }

  name(): string {
    const s = this.string();
    return s === "" ? "N" : s;
  }

  bytes(max: number): Uint8Array {
    const b = new Uint8Array(this.int(max + 1));
    for (let i = 0; i < b.length; i++) b[i] = this.int(256);
    return b;
  }

  object(depth: number, allowEmptyKey: boolean): AmfObject {
    const o: AmfObject = {};
    const n = this.int(5);
    for (let i = 0; i < n; i++) {
      const k = allowEmptyKey ? this.string() : this.name();
      setAmfProperty(o, k, this.value(depth + 1));
    }
    return o;
  }

  vector(depth: number): AmfVector {
    const kind = this.pick<AmfVectorKind>(["int", "uint", "double", "object"]);
    const n = this.int(5);
    const items: AmfValue[] = [];
    for (let i = 0; i < n; i++) {
      if (kind === "int") items.push(this.int(2 ** 32) - 2 ** 31);
      else if (kind === "uint") items.push(this.int(2 ** 32));
      else if (kind === "double") items.push(this.number());
      else items.push(this.value(depth + 1));
    }
    return new AmfVector(kind, items, {
      fixed: this.rnd() < 0.5,
      typeName: this.pick(["*", "Object", "com.example.T", ""]),
    });
  }

  value(depth = 0): AmfValue {
    const leaf = depth >= 5 || this.rnd() < 0.45;
    if (!leaf && this.pool.length > 0 && this.rnd() < 0.08) return this.pick(this.pool);
    const kind = leaf ? this.int(7) : 7 + this.int(11);
    let v: AmfValue;
    switch (kind) {
      case 0:
        return this.number();
      case 1:
        return this.rnd() < 0.5;
      case 2:
        return this.string();
      case 3:
        return null;
      case 4:
        return undefined;
      case 5:
        return new Date(Math.round((this.rnd() - 0.5) * 8.64e15));
      case 6:
        return this.pick([new AmfXmlDocument(this.string()), new AmfXml(this.string())]);
      case 7:
        v = this.bytes(16);
        break;
      case 8:
      case 9: {
        const arr: AmfValue[] = [];
        const n = this.int(5);
        for (let i = 0; i < n; i++) arr.push(this.value(depth + 1));
        v = arr;
        break;
      }
      case 10:
      case 11:
        v = this.object(depth, true);
        break;
      case 12:
        v = ecmaArray(this.object(depth, true));
        break;
      case 13:
        v = new AmfTypedObject(this.name(), this.object(depth, true));
        break;
      case 14:
        v = this.vector(depth);
        break;
      case 15: {
        const entries: [AmfValue, AmfValue][] = [];
        const n = this.int(4);
        for (let i = 0; i < n; i++) entries.push([this.value(depth + 1), this.value(depth + 1)]);
        v = new AmfDictionary(entries, this.rnd() < 0.5);
        break;
      }
      default: {
        // At least one named key, none empty: otherwise AMF3 reads a plain array back.
        const dense: AmfValue[] = [];
        const n = this.int(4);
        for (let i = 0; i < n; i++) dense.push(this.value(depth + 1));
        const assoc = this.object(depth, false);
        setAmfProperty(assoc, this.name(), this.value(depth + 1));
        v = new AmfArray3(dense, assoc);
      }
    }
    this.pool.push(v);
    return v;
  }

  mutate(input: Uint8Array): Uint8Array {
    const b = [...input];
    const rounds = 1 + this.int(3);
    for (let r = 0; r < rounds; r++) {
      switch (this.int(6)) {
        case 0: // flip a byte
          if (b.length > 0) b[this.int(b.length)] = this.int(256);
          break;
        case 1: // interesting value
          if (b.length > 0) b[this.int(b.length)] = this.pick([0x00, 0x01, 0x7f, 0x80, 0xff, 0x11]);
          break;
        case 2: // truncate
          b.length = this.int(b.length + 1);
          break;
        case 3: // insert random bytes
          b.splice(this.int(b.length + 1), 0, ...this.bytes(6));
          break;
        case 4: { // duplicate a slice elsewhere
          const from = this.int(b.length + 1);
          const slice = b.slice(from, from + this.int(16));
          b.splice(this.int(b.length + 1), 0, ...slice);
          break;
        }
        default: // delete a slice
          b.splice(this.int(b.length + 1), this.int(8));
      }
    }
    return Uint8Array.from(b);
  }
}

const toHex = (b: Uint8Array): string =>
  [...b.subarray(0, 256)].map((x) => x.toString(16).padStart(2, "0")).join("");

/** Runs `fn`; anything thrown must be an RtmpError. */
function mustBeRtmpError(fn: () => unknown, context: () => string): unknown {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof RtmpError)) {
      assert.fail(`seed ${SEED}: ${context()} threw a non-RtmpError: ${String(e)}`);
    }
    return undefined;
  }
}

describe(`AMF round trips (seed ${SEED})`, () => {
  const N = 3000;

  it(`${N} random value trees survive AMF0 encode → decode`, () => {
    const g = new Gen(SEED);
    for (let i = 0; i < N; i++) {
      const values = [g.value(), g.value()];
      const enc = encodeAmf0(values);
      const dec = decodeAmf0(enc);
      assert.deepStrictEqual(dec, values, `seed ${SEED} case ${i}`);
      // Marker-level fidelity (ECMA arrays, typed objects, references) shows in the bytes.
      assert.deepEqual(encodeAmf0(dec), enc, `seed ${SEED} case ${i}: re-encoding differs`);
    }
  });

  it(`${N} random value trees survive AMF3 encode → decode`, () => {
    const g = new Gen(SEED ^ 0x5bd1e995);
    for (let i = 0; i < N; i++) {
      const values = [g.value(), g.value()];
      const enc = encodeAmf3(values);
      const dec = decodeAmf3(enc);
      assert.deepStrictEqual(dec, values, `seed ${SEED} case ${i}`);
      assert.deepEqual(encodeAmf3(dec), enc, `seed ${SEED} case ${i}: re-encoding differs`);
    }
  });

  it(`${N} random commands and data messages survive encode → decode in both encodings`, () => {
    const g = new Gen(SEED ^ 0x27d4eb2f);
    for (let i = 0; i < N; i++) {
      const amf3 = g.rnd() < 0.5;
      const args: AmfValue[] = [];
      const n = g.int(4);
      for (let j = 0; j < n; j++) args.push(g.value());
      const c: Command = {
        name: g.name(),
        transactionId: g.number(),
        commandObject: g.value(),
        args,
      };
      const streamId = g.int(2 ** 32);
      const m = encodeCommand(c, { streamId, amf3, timestamp: g.int(2 ** 32) });
      assert.equal(m.type, amf3 ? 17 : 20);
      assert.deepStrictEqual(decodeCommand(m), c, `seed ${SEED} command ${i}`);
      const d = { handler: g.string(), values: args };
      const dm = encodeData(d, { streamId, amf3 });
      assert.deepStrictEqual(decodeData(dm), d, `seed ${SEED} data ${i}`);
    }
  });
});

describe(`hostile bytes only ever yield values or RtmpError (seed ${SEED})`, () => {
  const N = 4000;

  it(`${N} mutated and random AMF0 / AMF3 inputs`, () => {
    const g = new Gen(SEED ^ 0x165667b1);
    for (let i = 0; i < N; i++) {
      const source = g.rnd() < 0.1
        ? g.bytes(64)
        : g.mutate(g.rnd() < 0.5 ? encodeAmf0([g.value()]) : encodeAmf3([g.value()]));
      const ctx = () => `case ${i} input ${toHex(source)}`;
      const v0 = mustBeRtmpError(() => decodeAmf0(source), () => `decodeAmf0 ${ctx()}`);
      const v3 = mustBeRtmpError(() => decodeAmf3(source), () => `decodeAmf3 ${ctx()}`);
      // Whatever decoded (cycles and all) must re-encode without crashing, and read back.
      for (
        const [v, enc, dec] of [[v0, encodeAmf0, decodeAmf0], [v3, encodeAmf3, decodeAmf3]] as const
      ) {
        if (v === undefined) continue;
        const again = mustBeRtmpError(() => enc(v as AmfValue[]), () => `re-encode ${ctx()}`);
        if (again instanceof Uint8Array) {
          mustBeRtmpError(() => dec(again, { maxDepth: 1000 }), () => `re-decode ${ctx()}`);
        }
      }
    }
  });

  it(`${N} mutated and random command and data messages`, () => {
    const g = new Gen(SEED ^ 0x9e3779b9);
    for (let i = 0; i < N; i++) {
      const amf3 = g.rnd() < 0.5;
      const valid = g.rnd() < 0.5
        ? encodeCommand({
          name: g.name(),
          transactionId: g.int(10),
          commandObject: g.value(),
          args: [g.value()],
        }, {
          streamId: 0,
          amf3,
        })
        : encodeData({ handler: g.string(), values: [g.value()] }, { streamId: 1, amf3 });
      const payload = g.rnd() < 0.1 ? g.bytes(48) : g.mutate(valid.payload);
      const ctx = () => `case ${i} payload ${toHex(payload)}`;
      for (const type of [20, 17]) {
        mustBeRtmpError(
          () => decodeCommand({ type, streamId: 0, timestamp: 0, payload }),
          () => `decodeCommand type ${type} ${ctx()}`,
        );
      }
      for (const type of [18, 15]) {
        mustBeRtmpError(
          () => decodeData({ type, streamId: 0, timestamp: 0, payload }),
          () => `decodeData type ${type} ${ctx()}`,
        );
      }
    }
  });

  it(`${N} mutated and random control messages`, () => {
    const g = new Gen(SEED ^ 0x85ebca6b);
    const seeds: RtmpMessage[] = [
      windowAckSizeMessage(2500000),
      setPeerBandwidthMessage(2500000, 2),
      userControlMessage({ type: "SetBufferLength", streamId: 1, bufferLength: 3000 }),
      userControlMessage({ type: "PingRequest", timestamp: 5 }),
    ];
    let decoded = 0;
    for (let i = 0; i < N; i++) {
      const payload = g.rnd() < 0.3 ? g.bytes(12) : g.mutate(g.pick(seeds).payload);
      const type = 1 + g.int(6);
      const v = mustBeRtmpError(
        () => decodeControl({ type, streamId: 0, timestamp: 0, payload }),
        () => `decodeControl type ${type} case ${i} payload ${toHex(payload)}`,
      );
      if (v !== undefined) decoded++;
    }
    assert.ok(decoded > 0, "some inputs should decode");
  });

  it(`${N} mutated and random aggregate messages`, () => {
    const g = new Gen(SEED ^ 0xc2b2ae35);
    let decoded = 0;
    for (let i = 0; i < N; i++) {
      const subs: RtmpMessage[] = [];
      const n = 1 + g.int(4);
      for (let j = 0; j < n; j++) {
        subs.push({
          type: g.pick([8, 9, 18]),
          streamId: 1,
          timestamp: g.int(2 ** 32),
          payload: g.bytes(20),
        });
      }
      const valid = buildAggregate(subs, 1);
      const payload = g.rnd() < 0.1
        ? g.bytes(64)
        : g.rnd() < 0.2
        ? valid.payload
        : g.mutate(valid.payload);
      const out = mustBeRtmpError(
        () => splitAggregate({ type: 22, streamId: 1, timestamp: g.int(2 ** 32), payload }),
        () => `splitAggregate case ${i} payload ${toHex(payload)}`,
      );
      if (Array.isArray(out)) {
        decoded++;
        for (const m of out) {
          assert.ok(m.timestamp >= 0 && m.timestamp <= 0xffffffff && Number.isInteger(m.timestamp));
          assert.equal(m.streamId, 1);
        }
      }
    }
    assert.ok(decoded > 0, "some inputs should split");
  });
});
