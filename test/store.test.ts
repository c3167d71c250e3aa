/**
 * The native store against the shared KV suite, and against the model store op for op on seeded
 * random sequences (AXIS_SEEDS=n runs more seeds; AXIS_SEED=s runs one).
 */
import { after, describe, it } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { open } from '../ts/storage/index.js';
import { kvSuite } from './support/kv-suite.js';
import { openModel } from './support/model-store.js';
import { RandomOpGenerator, WRITES, check, executeOp, runRandomOps, type Outcome, type RandomOp } from './support/random-ops.js';
import type { Snapshot } from '../ts/storage/types.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'axis-store-'));
let n = 0;
const fresh = () => open(path.join(root, `s${n++}`), { durability: 'nosync' });
after(() => fs.rmSync(root, { recursive: true, force: true }));

kvSuite('native Store', fresh);

describe('native Store vs the model, random operations', () => {
  const one = process.env.AXIS_SEED;
  const count = Number(process.env.AXIS_SEEDS ?? 24);
  const seeds = one !== undefined ? [Number(one)] : Array.from({ length: count }, (_, i) => 1000 + i);
  for (const seed of seeds) {
    it(`seed ${seed}`, async () => {
      const store = await fresh();
      const model = await openModel();
      try {
        await runRandomOps(model, store, { seed, ops: 1200 });
      } finally {
        await store.close();
        await model.close();
      }
    });
  }
});

/**
 * The same random operations, but runs of consecutive writes are issued together without awaiting
 * (as a busy program does): the store batches them into one commit, and a write that fails must
 * fail alone. The model runs them one after another; every outcome must match.
 */
describe('native Store vs the model, writes issued in bursts', () => {
  for (const seed of [7001, 7002, 7003, 7004, 7005, 7006]) {
    it(`seed ${seed}`, async () => {
      const store = await fresh();
      const model = await openModel();
      const gen = new RandomOpGenerator(seed);
      const snaps: [Snapshot[], Snapshot[]] = [[], []];
      try {
        let i = 0;
        let pending: RandomOp | undefined;
        while (i < 1200) {
          const burst: RandomOp[] = pending ? [pending] : [];
          pending = undefined;
          while (burst.length < 12 && i + burst.length < 1200) {
            const op = gen.next();
            if (op.on === 'store' && WRITES.has(op.method)) burst.push(op);
            else {
              pending = op;
              break;
            }
          }
          if (burst.length === 0 && pending) {
            const op = pending;
            pending = undefined;
            const outcome = await executeOp(model, snaps[0], op);
            check(seed, i, op, outcome, await executeOp(store, snaps[1], op));
            gen.observe(op, outcome);
            i++;
            continue;
          }
          // The model first, one at a time; then the store, all at once.
          const expected: Outcome[] = [];
          for (const op of burst) expected.push(await executeOp(model, snaps[0], op));
          const actual = await Promise.all(burst.map((op) => executeOp(store, snaps[1], op)));
          burst.forEach((op, j) => {
            check(seed, i + j, op, expected[j]!, actual[j]!);
            gen.observe(op, expected[j]!);
          });
          i += burst.length;
        }
      } finally {
        for (const s of [...snaps[0], ...snaps[1]]) {
          try {
            s.release();
          } catch {
            // released by the ops already
          }
        }
        await store.close();
        await model.close();
      }
    });
  }
});

describe('native Store: revision()', () => {
  it('is the latest revision, as status() tells it, and fails once closed', async () => {
    const s = await fresh();
    assert.equal(s.revision(), 1);
    await s.put('a', '1');
    await s.txn({ success: [{ put: { key: 'b', value: '1' } }, { put: { key: 'c', value: '1' } }] });
    assert.equal(s.revision(), 3);
    assert.equal(s.revision(), s.status().revision);
    await s.close();
    assert.throws(() => s.revision(), (e) => isAxisError(e, ErrorCode.CLOSED));
  });
});
