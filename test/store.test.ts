/**
 * The native store against the shared KV suite, and against the model store op for op on seeded
 * random sequences (AXIS_SEEDS=n runs more seeds; AXIS_SEED=s runs one).
 */
import { after, describe, it } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { open } from '../ts/storage/index.js';
import { kvSuite } from './support/kv-suite.js';
import { openModel } from './support/model-store.js';
import { runRandomOps } from './support/random-ops.js';

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
