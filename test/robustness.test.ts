/**
 * The robustness harness (test/robustness/): first that its checks and its fault layer do what
 * they are for (each check fails on a history with the fault it looks for), then its CI profile:
 * every fault family for a short while against real `axis serve` processes, with no correctness
 * violation allowed (linearizability, lost acknowledged writes, watch and lease guarantees, hash
 * divergence, members that crashed on their own). How soon writes came back after each fault is
 * reported, never asserted. AXIS_ROBUSTNESS_SEED replays a run (each prints its seed and keeps its
 * run directory when it fails).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Dealer, Router } from 'zeromq';
import type { Event } from '../ts/storage/types.js';
import { checkHistory } from './support/linearizability.js';
import { until } from './support/fixtures.js';
import { freePorts } from './support/ports.js';
import { CLOSING_CLIENT, CORRECTNESS, changeLogCheck, checkerOps, leaseCheck, revisionOrder, watchCheck } from './robustness/checks.js';
import { FAMILIES } from './robustness/families.js';
import { FrameReader, PeerFaults, readyIdentity } from './robustness/peer-faults.js';
import { CI_MS, runFamily } from './robustness/run.js';
import { Epoch, type LeaseRec, type Recorded, type WatchLog } from './robustness/workload.js';

/** An epoch (7, keys e7/k0 and e7/k1, from revision 10) holding `ops`. */
function epochWith(ops: Partial<Recorded>[]): Epoch {
  const e = new Epoch(7, 0, 10, 2);
  for (const o of ops) e.ops.push({ ...o, epoch: 7 } as Recorded);
  return e;
}

function ev(rev: number, type: 'put' | 'delete', key: string, value = ''): Event {
  return { type, kv: { key: Buffer.from(key), value: Buffer.from(value), createRevision: rev, modRevision: rev, version: 1, lease: 0 } };
}

describe('the robustness checks find what they look for', () => {
  const put = { kind: 'put' as const, key: 'e7/k0', value: 'a', rev: 11, client: 1, call: 0, ret: 5, ok: true };
  const read = (value: string | null, call: number): Recorded => ({
    kind: 'range', prefix: 'e7/', kvs: value === null ? [] : [['e7/k0', value]], rev: 11, client: CLOSING_CLIENT, call, ret: call + 1, ok: true, epoch: 7,
  });

  it('a closing read that misses an acknowledged put is not linearizable; one that sees it is', () => {
    assert.equal(checkHistory(checkerOps(epochWith([put, read('a', 10)]))).ok, true);
    assert.equal(checkHistory(checkerOps(epochWith([put, read(null, 10)]))).ok, false);
    // Ranges and two-key transactions are checked key by key.
    const txn = { kind: 'txn' as const, puts: [['e7/k0', 'x'], ['e7/k1', 'y']] as [string, string][], rev: 12, client: 2, call: 20, ret: 25, ok: true };
    const both = { kind: 'range' as const, prefix: 'e7/', kvs: [['e7/k0', 'x']] as [string, string][], rev: 12, client: 3, call: 30, ret: 31, ok: true };
    assert.equal(checkHistory(checkerOps(epochWith([txn, both]))).ok, false, 'k1 is missing from a read after the transaction');
  });

  it('revisions out of real-time order are found', () => {
    const later = { ...put, value: 'b', rev: 9, call: 6, ret: 8 };
    assert.deepEqual(revisionOrder([put as Recorded, { ...later, rev: 12 } as Recorded]), []);
    assert.equal(revisionOrder([put as Recorded, later as Recorded]).length, 1);
    const staleRange = { ...read(null, 6), rev: 10 };
    assert.equal(revisionOrder([put as Recorded, staleRange as Recorded]).length, 1, 'a read after a write sees at least its revision');
  });

  it('an acknowledged write missing from the change log is lost; a write nobody asked for, or applied twice, is found', () => {
    const e = epochWith([put]);
    assert.deepEqual(changeLogCheck(e, [ev(11, 'put', 'e7/k0', 'a')], []), { lost: [], events: [] });
    assert.equal(changeLogCheck(e, [], []).lost.length, 1);
    assert.equal(changeLogCheck(e, [ev(12, 'put', 'e7/k0', 'a')], []).lost.length, 1, 'at another revision');
    assert.equal(changeLogCheck(e, [ev(11, 'put', 'e7/k0', 'a'), ev(13, 'put', 'e7/k0', 'zz')], []).events.length, 1);
    assert.equal(changeLogCheck(e, [ev(11, 'put', 'e7/k0', 'a'), ev(13, 'put', 'e7/k0', 'a')], []).events.length, 1);
    assert.equal(changeLogCheck(e, [ev(11, 'put', 'e7/k0', 'a'), ev(13, 'delete', 'e7/k0')], []).events.length, 1, 'a delete nobody asked for');
  });

  it('a watch stream with a gap, or a wrong prevKv, is found', () => {
    const e = epochWith([]);
    const events = [ev(10, 'put', 'e7/k0', 'a'), ev(11, 'put', 'e7/k0', 'b')];
    const log = (rs: WatchLog['responses'], prevKv = false): WatchLog => ({ watcher: 0, client: undefined as never, prevKv, watch: undefined as never, responses: rs, arrivals: [], reading: Promise.resolve() });
    assert.deepEqual(watchCheck(log([{ watchId: 1, events, revision: 11 }]), e, events, 11), []);
    assert.equal(watchCheck(log([{ watchId: 1, events: [events[1]!], revision: 11 }]), e, events, 11).length, 1);
    assert.equal(watchCheck(log([{ watchId: 1, events, revision: 10 }]), e, events, 11).length > 0, true, 'it stopped short of the closing read');
    const withPrev = [events[0]!, { ...events[1]!, prevKv: events[0]!.kv }];
    assert.deepEqual(watchCheck(log([{ watchId: 1, events: withPrev, revision: 11 }], true), e, events, 11), []);
    assert.equal(watchCheck(log([{ watchId: 1, events, revision: 11 }], true), e, events, 11).length, 1);
  });

  it('a lease revoked before its TTL ran out, a revoked lease whose key is read, and a lease that never expired are found', () => {
    const lease = (o: Partial<LeaseRec>): LeaseRec => ({
      id: 1, ttlMs: 3000, epoch: 7, key: 'e7/l1', plan: 'abandon', renewals: [{ call: 0, ret: 5, result: 'ok' }],
      put: { call: 6, ret: 8, ok: true }, seen: [], ...o,
    });
    assert.deepEqual(leaseCheck(lease({ seen: [{ at: 4000, present: false, how: 'poll' }] })), []);
    assert.equal(leaseCheck(lease({ seen: [{ at: 2000, present: false, how: 'poll' }] })).length, 1);
    assert.equal(leaseCheck(lease({ renewals: [{ call: 0, ret: 5, result: 'ok' }, { call: 1500, ret: 1510, result: 'ok' }], seen: [{ at: 4000, present: false, how: 'poll' }] })).length, 1);
    assert.equal(leaseCheck(lease({ revoke: { call: 100, ret: 110, ok: true }, seen: [{ at: 120, present: true, how: 'read' }] })).length, 1);
    assert.equal(leaseCheck(lease({ seen: [{ at: 120, present: true, how: 'read' }] })).length, 1, 'never seen gone');
  });
});

describe('the fault layer between members', { timeout: 60_000 }, () => {
  it('parses a ZMTP stream: the greeting passes at once, frames come whole, READY names the sender', () => {
    const r = new FrameReader();
    const ready = Buffer.concat([Buffer.from([5]), Buffer.from('READY'), Buffer.from([8]), Buffer.from('Identity'), Buffer.from([0, 0, 0, 3]), Buffer.from('123')]);
    const stream = Buffer.concat([Buffer.alloc(64, 1), Buffer.from([0x04, ready.length]), ready, Buffer.from([0x00, 2, 9, 9])]);
    const a = r.push(stream.subarray(0, 70));
    assert.equal(a.greeting?.length, 64);
    assert.equal(a.frames.length, 0);
    const b = r.push(stream.subarray(70));
    assert.equal(b.frames.length, 2);
    assert.equal(readyIdentity(b.frames[0]!.body), '123');
    assert.deepEqual([...b.frames[1]!.body], [9, 9]);
  });

  it('carries, blackholes, delays and severs one directed link between real ZeroMQ sockets', async () => {
    const [port] = await freePorts(1);
    const faults = new PeerFaults(() => 0.5);
    const router = new Router({ linger: 0 });
    await router.bind(`tcp://127.0.0.1:${port}`);
    const proxy = await faults.add('b', '2', port!);
    await faults.add('a', '1', 1); // only its name matters here: it is the sender
    const dealer = new Dealer({ routingId: '1', linger: 0, immediate: true, sendTimeout: 1000 });
    dealer.connect(`tcp://127.0.0.1:${proxy}`);
    const got: string[] = [];
    const receiving = (async () => {
      for await (const [from, m] of router) got.push(`${from!.toString()}:${m!.toString()}`);
    })();
    try {
      await dealer.send('one');
      await until('the first message', 10_000, () => (got.includes('1:one') ? true : undefined));
      faults.set(['a'], ['b'], { drop: 1 });
      for (let i = 0; i < 20; i++) await dealer.send(`lost${i}`);
      // (A send resolves once ZeroMQ has the message: wait until the proxy has seen them.)
      await until('the proxy to drop 20 messages', 10_000, () => (faults.stats.dropped === 20 ? true : undefined));
      faults.set(['b'], ['a'], { drop: 1 }); // the other direction's rule does not touch this link
      faults.set(['a'], ['b'], { delayMs: 300 });
      await dealer.send('late');
      await until('the proxy to hold a message', 10_000, () => (faults.stats.delayed === 1 ? true : undefined));
      faults.heal();
      await dealer.send('after');
      await until('the delayed message and the one after it', 10_000, () => (got.includes('1:after') ? true : undefined));
      assert.deepEqual(got, ['1:one', '1:late', '1:after'], 'nothing blackholed arrived; order kept behind a delay');
      faults.set(['a'], ['b'], { sever: true });
      assert.equal(faults.stats.severed, 1);
      faults.heal();
      // What was sent while the cut connection still looked open is lost: send until one arrives.
      await until('a message once the link is healed', 10_000, async () => {
        await dealer.send('again');
        return got.includes('1:again') ? true : undefined;
      }, 200);
    } finally {
      dealer.close();
      router.close();
      await receiving.catch(() => undefined);
      await faults.close();
    }
  });
});

describe('robustness, CI profile: every fault family against real members', { timeout: FAMILIES.length * (CI_MS + 240_000) }, () => {
  const seed = process.env.AXIS_ROBUSTNESS_SEED ? Number(process.env.AXIS_ROBUSTNESS_SEED) : randomInt(1, 2 ** 31);
  // Run directories of runs that found something stay for inspection; the others are removed.
  const root = path.join(os.tmpdir(), 'axis-robustness-ci');
  for (const f of FAMILIES) {
    it(`${f.name}: ${f.what}`, { timeout: CI_MS + 240_000 }, async (t) => {
      const r = await runFamily({ family: f.name, seed, durationMs: CI_MS, root });
      t.diagnostic(`seed ${seed}: ${r.ops} operations (${r.unknownOps} unknown), ${r.faults} faults ${JSON.stringify(r.faultKinds)}, ${r.epochsChecked} epochs checked (${r.epochsUnchecked} not), writes back after a heal in ${r.recovery.medianMs} ms (median), ${r.recovery.maxMs} ms (max), ${r.recovery.over} over ${r.recovery.boundMs} ms`);
      const found = r.violations.filter((v) => (CORRECTNESS as readonly string[]).includes(v.category));
      assert.deepEqual(found, [], `seed ${seed} (AXIS_ROBUSTNESS_SEED=${seed} replays it; run directory ${r.runDir})`);
      assert.ok(r.faults > 0 && r.ops > 0 && r.epochsChecked > 0, `the run injected faults and checked operations (seed ${seed})`);
      fs.rmSync(r.runDir, { recursive: true, force: true });
    });
  }
});
