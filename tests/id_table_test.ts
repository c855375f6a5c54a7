import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { IdTable } from "../protocol/id_table.ts";
import { prng, testSeed } from "./support/util.ts";

const SEED = testSeed("id_table_test");

describe("IdTable", () => {
  it("keeps ids below 64 and beyond apart, counts, deletes and clears", () => {
    const t = new IdTable<string>();
    assert.equal(t.size, 0);
    assert.equal(t.get(3), undefined);
    assert.equal(t.get(1 << 20), undefined);
    t.set(3, "a");
    t.set(2, "b");
    t.set(63, "c");
    t.set(64, "d");
    t.set(0xffffffff, "e");
    t.set(3, "a2");
    assert.equal(t.size, 5);
    assert.deepEqual([...t], [[2, "b"], [3, "a2"], [63, "c"], [64, "d"], [0xffffffff, "e"]]);
    assert.deepEqual([...t.keys()], [2, 3, 63, 64, 0xffffffff]);
    assert.deepEqual([...t.values()], ["b", "a2", "c", "d", "e"]);
    assert.equal(t.has(63), true);
    assert.equal(t.delete(63), true);
    assert.equal(t.delete(63), false);
    assert.equal(t.delete(64), true);
    assert.equal(t.delete(65), false);
    assert.equal(t.delete(1000), false);
    assert.equal(t.has(63), false);
    assert.equal(t.size, 3);
    t.clear();
    assert.equal(t.size, 0);
    assert.deepEqual([...t], []);
    t.set(5, "again");
    assert.deepEqual([...t], [[5, "again"]]);
  });

  it("agrees with a Map over random sets, deletes, clears and deletes while iterating", () => {
    const rand = prng(SEED);
    const int = (n: number): number => Math.floor(rand() * n);
    for (let round = 0; round < 200; round++) {
      const t = new IdTable<number>();
      const m = new Map<number, number>();
      for (let op = 0; op < 300; op++) {
        const id = int(4) === 0 ? 64 + int(100000) : int(70);
        const r = int(20);
        if (r < 10) {
          t.set(id, op);
          m.set(id, op);
        } else if (r < 18) {
          assert.equal(t.delete(id), m.delete(id), `seed ${SEED} round ${round} op ${op}`);
        } else if (r < 19) {
          for (const [k] of t) {
            if (k % 3 === 0) {
              t.delete(k);
              m.delete(k);
            }
          }
        } else if (int(10) === 0) {
          t.clear();
          m.clear();
        }
        assert.equal(t.size, m.size, `seed ${SEED} round ${round} op ${op}`);
        assert.equal(t.get(id), m.get(id));
      }
      const sorted = (pairs: Iterable<[number, number]>): [number, number][] =>
        [...pairs].sort((a, b) => a[0] - b[0]);
      assert.deepEqual(sorted(t), sorted(m), `seed ${SEED} round ${round}`);
    }
  });
});
