/**
 * The model store against the shared KV suite, and the random differential harness run model vs
 * model (which checks that the harness and the model are deterministic, and that the harness can
 * tell two stores apart).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kvSuite } from './support/kv-suite.js';
import { ModelStore, openModel } from './support/model-store.js';
import { describeOp, executeOp, RandomOpGenerator, runRandomOps, type Store } from './support/random-ops.js';
import type { Snapshot } from '../ts/storage/types.js';

kvSuite('ModelStore', openModel);

describe('ModelStore: status', () => {
  it('reports the revision and the compaction floor', async () => {
    const m = await openModel();
    assert.deepStrictEqual(m.status(), { revision: 1, compactRevision: 0, dbSize: 0, dbSizeInUse: 0, compacting: false, journalReplayed: 0 });
    await m.put('a', '1');
    await m.put('a', '2');
    await m.compact(2);
    assert.deepStrictEqual(m.status(), { revision: 3, compactRevision: 2, dbSize: 0, dbSizeInUse: 0, compacting: false, journalReplayed: 0 });
    await m.close();
    assert.throws(() => m.status(), { code: 'AXIS_CLOSED' });
  });
});

/** The model with one deliberate bug: history of two or more versions comes back newest first. */
function withBuggyHistory(m: ModelStore): Store {
  return new Proxy(m, {
    get(target, prop) {
      if (prop === 'history') {
        return (...args: Parameters<ModelStore['history']>) => {
          const events = target.history(...args);
          return events.length >= 2 ? [...events].reverse() : events;
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('random ops: model vs model', () => {
  for (const seed of [1, 2, 3, 4, 42, 20240601]) {
    it(`seed ${seed}`, async () => {
      const a = await openModel();
      const b = await openModel();
      try {
        await runRandomOps(a, b, { seed, ops: 1500 });
      } finally {
        await a.close();
        await b.close();
      }
    });
  }

  it('the generator is deterministic for a seed', () => {
    const x = new RandomOpGenerator(99);
    const y = new RandomOpGenerator(99);
    const z = new RandomOpGenerator(100);
    const ops = (g: RandomOpGenerator): string[] => Array.from({ length: 200 }, () => describeOp(g.next()));
    const [ox, oy, oz] = [ops(x), ops(y), ops(z)];
    assert.deepStrictEqual(ox, oy);
    assert.notDeepStrictEqual(ox, oz);
  });

  it('exercises every kind of op and outcome', async () => {
    const m = await openModel();
    const gen = new RandomOpGenerator(5);
    const snaps: Snapshot[] = [];
    const seen = new Set<string>();
    try {
      for (let i = 0; i < 1500; i++) {
        const op = gen.next();
        const outcome = await executeOp(m, snaps, op);
        gen.observe(op, outcome);
        const where = op.on === 'store' ? '' : 'snapshot.';
        seen.add(`${where}${op.method}`);
        if ('error' in outcome) seen.add(outcome.error);
      }
    } finally {
      await m.close();
    }
    for (const want of [
      'put', 'delete', 'deleteRange', 'txn', 'compact', 'snapshot', 'snapshot.release',
      'get', 'range', 'prefix', 'history', 'changes',
      'snapshot.get', 'snapshot.range', 'snapshot.prefix', 'snapshot.history', 'snapshot.changes',
      'AXIS_EMPTY_KEY', 'AXIS_KEY_TOO_LARGE', 'AXIS_VALUE_TOO_LARGE', 'AXIS_INVALID_RANGE', 'AXIS_INVALID_ARGUMENT',
      'AXIS_FUTURE_REVISION', 'AXIS_COMPACTED', 'AXIS_DUPLICATE_KEY', 'AXIS_TOO_MANY_OPS', 'AXIS_KEY_NOT_FOUND',
      'AXIS_SNAPSHOT_RELEASED',
    ]) {
      assert.ok(seen.has(want), `never saw ${want}`);
    }
  });

  it('reports a disagreement with the seed and the op index', async () => {
    const a = await openModel();
    const b = await openModel();
    try {
      await assert.rejects(runRandomOps(a, withBuggyHistory(b), { seed: 7, ops: 400 }), (err: Error) => {
        assert.match(err.message, /seed=7 op #\d+: store\.history\(/);
        return true;
      });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
