/**
 * Durable single-write latency: raft log `persist` of one entry vs the store's `put`, each awaited
 * one by one (each is one LMDB durable commit). Run: `npx tsc -p . && node dist/bench/raft-persist.js [n] [runs]`.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { open } from '../ts/storage/index.js';

const n = Number(process.argv[2] ?? 500);
const runs = Number(process.argv[3] ?? 5);
const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'axis-raft-bench-'));
try {
  const store = await open(dir, { durability: 'sync' });
  const log = store.raftLog();
  const data = Buffer.alloc(100, 'x');
  let index = 0;
  const persist: number[] = [];
  const put: number[] = [];
  for (let r = 0; r < runs; r++) {
    let t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      index++;
      await log.persist({ hardState: { term: 1, vote: 1, commit: index - 1 }, entries: [{ index, term: 1, type: 0, data }] });
    }
    persist.push(Number(process.hrtime.bigint() - t) / 1000 / n);
    t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await store.put(`k${i % 64}`, data);
    put.push(Number(process.hrtime.bigint() - t) / 1000 / n);
  }
  console.log(`persist(1 entry + hard state): ${persist.map((x) => x.toFixed(0)).join(' ')} µs/call, median ${median(persist).toFixed(0)}`);
  console.log(`put:                            ${put.map((x) => x.toFixed(0)).join(' ')} µs/call, median ${median(put).toFixed(0)}`);
  await store.close();
} finally {
  await fs.rm(dir, { recursive: true, force: true });
}
