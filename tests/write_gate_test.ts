import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { WriteGate, type WriteTicket } from "../socket/write_gate.ts";
import { unrefTimer } from "../socket/unref_timer.ts";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Settles pending promise callbacks. */
const turn = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** Slots waited for, recorded in the order they were handed out. */
function waitFor(gate: WriteGate, name: string, order: string[]): Promise<WriteTicket> {
  const t = gate.enter();
  assert.equal(typeof t, "object", `${name} should wait`);
  return (t as Promise<WriteTicket>).then((ticket) => {
    order.push(name);
    return ticket;
  });
}

describe("WriteGate", () => {
  it("hands out `limit` slots at once, then the next ones first come, first served", async () => {
    const gate = new WriteGate({ limit: 2, sweepMs: 60_000 });
    const a = gate.enter();
    const b = gate.enter();
    assert.equal(typeof a, "number");
    assert.equal(typeof b, "number");
    assert.equal(gate.held, 2);
    const order: string[] = [];
    const c = waitFor(gate, "c", order);
    const d = waitFor(gate, "d", order);
    const e = waitFor(gate, "e", order);
    await turn();
    assert.deepEqual(order, []);
    gate.leave(a as WriteTicket);
    await turn();
    assert.deepEqual(order, ["c"]);
    gate.leave(b as WriteTicket);
    await turn();
    assert.deepEqual(order, ["c", "d"]);
    assert.equal(gate.held, 2);
    // A newcomer queues behind the one still waiting, even once a slot is free.
    const f = waitFor(gate, "f", order);
    gate.leave(await c);
    await turn();
    assert.deepEqual(order, ["c", "d", "e"]);
    gate.leave(await d);
    gate.leave(await e);
    gate.leave(await f);
    assert.deepEqual(order, ["c", "d", "e", "f"]);
    assert.equal(gate.held, 0);
    assert.equal(typeof gate.enter(), "number");
  });

  it("stops counting a slot held across a sweep period: a stalled write holds nobody back", async () => {
    const gate = new WriteGate({ limit: 1, sweepMs: 50 });
    const stalled = gate.enter() as WriteTicket;
    const order: string[] = [];
    const next = waitFor(gate, "next", order);
    await sleep(5);
    assert.deepEqual(order, [], "a slot is not forgiven before a whole sweep period");
    // Forgiven at the second sweep after it was taken: within 2 × 50 ms, plus timer slack.
    const t0 = performance.now();
    const ticket = await next;
    assert.ok(performance.now() - t0 < 1000);
    assert.equal(gate.held, 1);
    // The stalled write ends late: its slot was forgiven already, so nothing changes.
    gate.leave(stalled);
    assert.equal(gate.held, 1);
    gate.leave(ticket);
    assert.equal(gate.held, 0);
  });

  it("keeps counting slots given back in time, across sweeps", async () => {
    const gate = new WriteGate({ limit: 3, sweepMs: 5 });
    for (let i = 0; i < 20; i++) {
      const a = gate.enter() as WriteTicket;
      const b = gate.enter() as WriteTicket;
      await sleep(2);
      gate.leave(a);
      assert.equal(gate.held, 1);
      gate.leave(b);
      assert.equal(gate.held, 0);
    }
    await sleep(20); // the last sweeps run and stop rearming
  });
});

describe("unrefTimer", () => {
  it("returns the timer, which still fires", async () => {
    let fired = false;
    const timer = unrefTimer(setTimeout(() => fired = true, 1));
    assert.ok(timer !== undefined);
    await sleep(30);
    assert.equal(fired, true);
  });
});
