/**
 * Readers against the writer: pinned snapshots keep answering exactly as they did while the store
 * writes, deletes and physically compacts past them; released snapshots refuse to read; snapshots
 * dropped without release() are reclaimed by GC, and holding too many fails cleanly; and the data
 * file stops growing under steady churn with periodic compaction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, type Snapshot, type Store } from '../ts/index.js';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { mulberry32 as prng, tempDirs } from './support/fixtures.js';
import { runWriter, type ChildRun } from './support/child.js';

const tempDir = tempDirs('concurrency');



/** A canonical text of any answer: Buffers as hex, errors as their code. */
function canon(x: unknown): string {
  if (x instanceof Promise) throw new Error('the embedded store answers reads synchronously');
  if (Buffer.isBuffer(x) || x instanceof Uint8Array) return `<${Buffer.from(x).toString('hex')}>`;
  if (Array.isArray(x)) return `[${x.map(canon).join(',')}]`;
  if (typeof x === 'object' && x !== null) {
    return `{${Object.keys(x)
      .sort()
      .map((k) => `${k}:${canon((x as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(x) ?? 'undefined';
}

/** The answer of `fn`, or the code of the error it threw. */
function answer(fn: () => unknown): string {
  try {
    return canon(fn());
  } catch (err) {
    if (isAxisError(err)) return `error ${err.code}`;
    throw err;
  }
}

const KEYS = Array.from({ length: 300 }, (_, i) => `k/${String(i).padStart(3, '0')}`);

/** Everything a snapshot can be asked, as text: whole ranges, gets at old revisions, histories, changes. */
function snapshotAnswers(s: Snapshot, floor: number): Map<string, string> {
  const out = new Map<string, string>();
  const ask = (name: string, fn: () => unknown): void => {
    out.set(name, answer(fn));
  };
  ask('revision', () => s.revision);
  ask('prefix all', () => s.prefix(''));
  ask('range all from \\x00', () => s.range('\x00'));
  ask('range k/100..k/200', () => s.range('k/100', 'k/200'));
  ask('range limit+sort', () => s.range('k/', 'k0', { limit: 17, sort: { target: 'modRevision', order: 'descend' } }));
  ask('range keysOnly', () => s.prefix('k/', { keysOnly: true }));
  ask('range countOnly', () => s.prefix('k/', { countOnly: true }));
  ask('range filters', () => s.prefix('k/', { minModRevision: Math.max(1, s.revision - 200), maxCreateRevision: s.revision - 10 }));
  ask('future', () => s.get('k/000', { revision: s.revision + 1 }));
  const from = Math.max(floor, 1);
  for (let rev = from; rev <= s.revision; rev += 37) ask(`prefix at ${rev}`, () => s.prefix('k/', { revision: rev }));
  for (let i = 0; i < KEYS.length; i += 7) {
    const key = KEYS[i]!;
    ask(`get ${key}`, () => s.get(key));
    for (let rev = from; rev <= s.revision; rev += 53) ask(`get ${key}@${rev}`, () => s.get(key, { revision: rev }));
    ask(`history ${key}`, () => s.history(key));
  }
  ask('history t/x', () => s.history('t/x'));
  ask(`changes from ${from}`, () => s.changes(from));
  ask('changes limited', () => s.changes(from, { limit: 50 }));
  ask('changes to', () => s.changes(from, { to: Math.max(from, s.revision - 100) }));
  return out;
}

function assertSameAnswers(s: Snapshot, floor: number, recorded: Map<string, string>, where: string): void {
  const now = snapshotAnswers(s, floor);
  assert.deepEqual([...now.keys()], [...recorded.keys()], `${where}: same questions`);
  for (const [q, a] of recorded) {
    const b = now.get(q)!;
    if (a !== b) assert.fail(`${where}: snapshot at ${s.revision} answers "${q}" differently:\nbefore ${a.slice(0, 300)}\nnow    ${b.slice(0, 300)}`);
  }
}

/** A round of writes: overwrites, deletes, a range delete, txns; all issued at once, then awaited. */
async function churn(store: Store, rnd: () => number, round: number, n: number): Promise<void> {
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const key = KEYS[Math.floor(rnd() * KEYS.length)]!;
    const p = rnd();
    if (p < 0.7) writes.push(store.put(key, `${key}:${round}:${i}:${'v'.repeat(Math.floor(rnd() * 40))}`));
    else if (p < 0.85) writes.push(store.delete(key));
    else if (p < 0.87) writes.push(store.deleteRange(key, `${key}~`));
    else {
      writes.push(
        store.txn({
          compare: [{ key, target: 'version', result: '>', value: 0 }],
          success: [{ put: { key, value: `txn:${round}:${i}` } }, { put: { key: 't/x', value: `${round}:${i}` } }],
          failure: [{ put: { key, value: `fresh:${round}:${i}` } }],
        }),
      );
    }
  }
  await Promise.all(writes);
}

test('snapshots answer the same while the store writes, deletes and compacts past them; released ones refuse', { timeout: 60_000 }, async () => {
  const rnd = prng(20240611);
  const store = await open(await tempDir());
  try {
    const snaps: { snap: Snapshot; floor: number; answers: Map<string, string> }[] = [];
    for (let phase = 0; phase < 5; phase++) {
      for (let r = 0; r < 4; r++) await churn(store, rnd, phase * 10 + r, 150);
      if (phase === 3) {
        // One snapshot sees a compacted store.
        const head = store.status().revision;
        await store.compact(head - 100, { physical: true });
      }
      const floor = store.status().compactRevision;
      const snap = store.snapshot();
      assert.equal(snap.revision, store.status().revision);
      snaps.push({ snap, floor, answers: snapshotAnswers(snap, floor) });
    }
    const newest = snaps[snaps.length - 1]!.snap.revision;

    // Thousands of writes, with the snapshots read while writes are in flight, then compaction past every snapshot.
    for (let round = 0; round < 20; round++) {
      const pending = churn(store, rnd, 100 + round, 250);
      const s = snaps[round % snaps.length]!;
      assertSameAnswers(s.snap, s.floor, s.answers, `round ${round}, writes in flight`);
      await pending;
      if (round === 9 || round === 19) {
        const head = store.status().revision;
        await store.compact(head - 5, { physical: true });
        assert.equal(store.status().compacting, false, 'physical compaction waited for the old versions to go');
        for (const [i, s] of snaps.entries()) assertSameAnswers(s.snap, s.floor, s.answers, `after compaction to ${head - 5}, snapshot ${i}`);
      }
    }
    const st = store.status();
    assert.ok(st.revision > newest + 4000, `thousands of writes went in (${st.revision - newest})`);
    assert.ok(st.compactRevision > newest, 'compacted past every snapshot');
    // The store itself can no longer read what the snapshots still see.
    assert.throws(() => store.get('k/000', { revision: newest }), (e: unknown) => isAxisError(e, ErrorCode.COMPACTED));
    assert.throws(() => store.changes(snaps[0]!.snap.revision), (e: unknown) => isAxisError(e, ErrorCode.COMPACTED));

    for (const [i, s] of snaps.entries()) assertSameAnswers(s.snap, s.floor, s.answers, `at the end, snapshot ${i}`);

    for (const { snap } of snaps) {
      const revision = snap.revision;
      snap.release();
      assert.equal(snap.revision, revision, 'the revision stays readable');
      const released = (e: unknown): boolean => isAxisError(e, ErrorCode.SNAPSHOT_RELEASED);
      assert.throws(() => snap.get('k/000'), released);
      assert.throws(() => snap.get('k/000', { revision }), released);
      assert.throws(() => snap.range('k/'), released);
      assert.throws(() => snap.range('k/', 'k0', { countOnly: true }), released);
      assert.throws(() => snap.prefix(''), released);
      assert.throws(() => snap.history('k/000'), released);
      assert.throws(() => snap.changes(Math.max(1, revision - 1)), released);
      snap.release(); // a second release is a no-op
      assert.throws(() => snap.get('k/000'), released);
    }
    // The store is unaffected.
    const r = await store.put('k/000', 'after');
    assert.equal(store.get('k/000')?.modRevision, r.revision);
  } finally {
    await store.close();
  }
});

function lastJson(r: ChildRun): Record<string, unknown> {
  assert.equal(r.signal, null, `child was killed (timeout?): ${r.stderr}`);
  assert.equal(r.code, 0, `child failed: ${r.stderr}`);
  return r.lines[r.lines.length - 1]!;
}

test('snapshots dropped without release() are reclaimed by GC', { timeout: 30_000 }, async () => {
  const maxSnapshots = 16;
  const r = await runWriter(['snapshots', await tempDir(), 'drop', String(maxSnapshots), String(maxSnapshots * 20)], { timeoutMs: 20_000, node: ['--expose-gc'] });
  assert.deepEqual(lastJson(r), { ok: true, taken: maxSnapshots * 20 });
});

test('holding more than maxSnapshots fails cleanly with AXIS_TOO_MANY_SNAPSHOTS', { timeout: 30_000 }, async () => {
  const maxSnapshots = 16;
  const r = await runWriter(['snapshots', await tempDir(), 'keep', String(maxSnapshots), '10000'], { timeoutMs: 20_000, node: ['--expose-gc'] });
  const out = lastJson(r);
  assert.equal(out.code, ErrorCode.TOO_MANY_SNAPSHOTS);
  const taken = out.taken as number;
  assert.equal(taken, maxSnapshots, 'exactly maxSnapshots can be held');
  assert.deepEqual(
    { allRead: out.allRead, storeRead: out.storeRead, againRead: out.againRead },
    { allRead: true, storeRead: 'v2', againRead: 'v2' },
    'the held snapshots, the store, and a snapshot taken after releasing one all still work',
  );
});

test('the data file stops growing under steady churn with periodic physical compaction', { timeout: 60_000 }, async () => {
  const rnd = prng(7);
  const store = await open(await tempDir());
  try {
    const keys = Array.from({ length: 1000 }, (_, i) => `churn/${String(i).padStart(4, '0')}`);
    const sizes: number[] = [];
    const rounds = 60;
    for (let round = 0; round < rounds; round++) {
      const writes = keys.map((k) => store.put(k, `${round}:${'x'.repeat(50 + Math.floor(rnd() * 200))}`));
      const results = await Promise.all(writes);
      if (round % 5 === 4) await store.compact(results[results.length - 1]!.revision, { physical: true });
      sizes.push(store.status().dbSize);
    }
    const warm = sizes[19]!;
    const mid = sizes[39]!;
    const end = sizes[rounds - 1]!;
    const slack = 256 * 1024 + mid * 0.05;
    assert.ok(end <= mid + slack, `data file grew from ${mid} (round 40) to ${end} (round ${rounds}); after warm-up it was ${warm}`);
    const st = store.status();
    assert.equal(st.revision, rounds * keys.length + 1);
    assert.equal(store.prefix('churn/', { countOnly: true }).count, keys.length);
    assert.ok(st.dbSizeInUse <= st.dbSize);
  } finally {
    await store.close();
  }
});

test('one early read does not pin old pages: the file stays small under churn', { timeout: 60_000 }, async () => {
  const dir = await tempDir();
  const store = await open(dir);
  try {
    await store.put('k', 'v');
    store.get('k'); // the store's read view; it must let go once later commits happen
    const keys = Array.from({ length: 1000 }, (_, i) => `pin/${i}`);
    for (let round = 0; round < 20; round++) {
      const results = await Promise.all(keys.map((k) => store.put(k, 'x'.repeat(200))));
      await store.compact(results[results.length - 1]!.revision, { physical: true });
    }
    // Live data is ~300 KB. Were every old version's pages pinned, the file would pass 20 MB.
    const size = store.status().dbSize;
    assert.ok(size < 8 * 1024 * 1024, `data file is ${size} bytes`);
  } finally {
    await store.close();
  }
});
