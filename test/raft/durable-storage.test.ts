/**
 * DurableStorage against MemoryStorage: the same scenarios run on both (MemoryStorage through a
 * small async adapter), plus what only the durable one has (reopen, refused input).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, type Store } from '../../ts/storage/index.js';
import { DurableStorage } from '../../ts/raft/durable-storage.js';
import { CompactedError, type LogStorage, MemoryStorage, UnavailableError } from '../../ts/raft/storage.js';
import { type ConfState, type Entry, type HardState, type Snapshot, emptyConfState } from '../../ts/raft/types.js';
import { isAxisError } from '../../ts/errors/index.js';
import { tempDirs } from '../support/fixtures.js';

const tempDir = tempDirs('raftlog');

interface Subject {
  storage: LogStorage;
  append(ents: Entry[]): Promise<void>;
  setHardState(hs: HardState): Promise<void>;
  applySnapshot(s: Snapshot): Promise<void>;
  /** Snapshot at i with confState, then drop entries up to i. */
  compact(i: number, cs: ConfState): Promise<void>;
  close(): Promise<void>;
}

function memorySubject(): Subject {
  const m = new MemoryStorage();
  return {
    storage: m,
    append: async (ents) => m.append(ents),
    setHardState: async (hs) => m.setHardState(hs),
    applySnapshot: async (s) => m.applySnapshot(s),
    compact: async (i, cs) => {
      m.createSnapshot(i, cs, new Uint8Array());
      m.compact(i);
    },
    close: async () => {},
  };
}

function durableOn(store: Store): Subject {
  const d = new DurableStorage(store.raftLog());
  return {
    storage: d,
    append: (ents) => d.append(ents),
    setHardState: (hs) => d.setHardState(hs),
    applySnapshot: (s) => d.applySnapshot(s),
    compact: (i, cs) => d.compact(i, cs),
    close: () => store.close(),
  };
}

async function durableSubject(): Promise<Subject> {
  return durableOn(await open(await tempDir()));
}

const subjects: [string, () => Promise<Subject>][] = [
  ['MemoryStorage', async () => memorySubject()],
  ['DurableStorage', durableSubject],
];

const data = (s: string): Uint8Array => Buffer.from(s);
function ents(from: number, terms: number[], tag = 'e'): Entry[] {
  return terms.map((term, i) => ({ index: from + i, term, type: 0, data: data(`${tag}${from + i}`) }));
}
/** Entries as plain comparable values. */
function plain(es: Entry[]): { index: number; term: number; type: number; data: string }[] {
  return es.map((e) => ({ index: e.index, term: e.term, type: e.type, data: Buffer.from(e.data).toString() }));
}
const cs3: ConfState = { voters: [1, 2, 3], votersOutgoing: [], learners: [4], learnersNext: [], autoLeave: false };
const INF = Number.POSITIVE_INFINITY;

for (const [name, make] of subjects) {
  test(`${name}: an empty log`, async () => {
    const s = await make();
    try {
      const st = s.storage;
      assert.equal(st.firstIndex(), 1);
      assert.equal(st.lastIndex(), 0);
      assert.equal(st.term(0), 0);
      assert.throws(() => st.term(1), UnavailableError);
      assert.deepEqual(st.entries(1, 1, INF), []);
      assert.throws(() => st.entries(0, 1, INF), CompactedError);
      assert.throws(() => st.entries(1, 2, INF), UnavailableError);
      assert.deepEqual(st.initialState(), { hardState: { term: 0, vote: 0, commit: 0 }, confState: emptyConfState() });
      assert.equal(st.snapshot().meta.index, 0);
    } finally {
      await s.close();
    }
  });

  test(`${name}: append, term and entries`, async () => {
    const s = await make();
    try {
      const st = s.storage;
      await s.append(ents(1, [1, 1, 2, 2, 3]));
      assert.equal(st.firstIndex(), 1);
      assert.equal(st.lastIndex(), 5);
      assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => st.term(i)), [0, 1, 1, 2, 2, 3]);
      assert.throws(() => st.term(6), UnavailableError);
      assert.deepEqual(plain(st.entries(2, 5, INF)), plain(ents(2, [1, 2, 2])));
      assert.deepEqual(plain(st.entries(1, 6, INF)), plain(ents(1, [1, 1, 2, 2, 3])));
      assert.throws(() => st.entries(1, 7, INF), UnavailableError);
      assert.throws(() => st.entries(0, 3, INF), CompactedError);
      // entry types and binary data survive
      await s.append([{ index: 6, term: 3, type: 1, data: new Uint8Array([0, 255, 7]) }]);
      const [e] = st.entries(6, 7, INF);
      assert.equal(e?.type, 1);
      assert.deepEqual([...(e?.data ?? [])], [0, 255, 7]);
      // an empty append changes nothing
      await s.append([]);
      assert.equal(st.lastIndex(), 6);
    } finally {
      await s.close();
    }
  });

  test(`${name}: a conflicting suffix is replaced`, async () => {
    const s = await make();
    try {
      const st = s.storage;
      await s.append(ents(1, [1, 1, 1, 1, 1, 1]));
      await s.append(ents(4, [2, 2], 'x'));
      assert.equal(st.lastIndex(), 5);
      assert.deepEqual(plain(st.entries(1, 6, INF)), plain([...ents(1, [1, 1, 1]), ...ents(4, [2, 2], 'x')]));
      assert.throws(() => st.term(6), UnavailableError);
      // a shorter overwrite drops everything after it too
      await s.append(ents(2, [3], 'y'));
      assert.equal(st.lastIndex(), 2);
      assert.deepEqual(plain(st.entries(1, 3, INF)), plain([...ents(1, [1]), ...ents(2, [3], 'y')]));
      // appending right after the end
      await s.append(ents(3, [3, 3], 'z'));
      assert.equal(st.lastIndex(), 4);
      assert.equal(st.term(4), 3);
    } finally {
      await s.close();
    }
  });

  test(`${name}: maxBytes`, async () => {
    const s = await make();
    try {
      const st = s.storage;
      await s.append(ents(1, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
      // data sizes: e1..e9 are 2 bytes, e10 is 3
      const idx = (es: Entry[]): number[] => es.map((e) => e.index);
      assert.deepEqual(idx(st.entries(1, 11, 0)), [1]);
      assert.deepEqual(idx(st.entries(1, 11, 3)), [1]);
      assert.deepEqual(idx(st.entries(1, 11, 4)), [1, 2]);
      assert.deepEqual(idx(st.entries(7, 11, 8)), [7, 8, 9]);
      assert.deepEqual(idx(st.entries(7, 11, 9)), [7, 8, 9, 10]);
      assert.deepEqual(idx(st.entries(10, 11, 0)), [10]);
      assert.deepEqual(idx(st.entries(1, 11, INF)).length, 10);
    } finally {
      await s.close();
    }
  });

  test(`${name}: hard state`, async () => {
    const s = await make();
    try {
      await s.setHardState({ term: 3, vote: 2, commit: 0 });
      await s.append(ents(1, [1, 2, 3]));
      await s.setHardState({ term: 4, vote: 0, commit: 2 });
      assert.deepEqual(s.storage.initialState().hardState, { term: 4, vote: 0, commit: 2 });
    } finally {
      await s.close();
    }
  });

  test(`${name}: compaction`, async () => {
    const s = await make();
    try {
      const st = s.storage;
      await s.append(ents(1, [1, 1, 2, 2, 3, 3]));
      await s.compact(3, cs3);
      assert.equal(st.firstIndex(), 4);
      assert.equal(st.lastIndex(), 6);
      assert.equal(st.term(3), 2);
      assert.throws(() => st.term(2), CompactedError);
      assert.throws(() => st.entries(3, 5, INF), CompactedError);
      assert.deepEqual(plain(st.entries(4, 7, INF)), plain(ents(4, [2, 3, 3])));
      const snap = st.snapshot();
      assert.deepEqual(snap.meta, { index: 3, term: 2, confState: cs3 });
      assert.deepEqual(st.initialState().confState, cs3);
      // compacting to an older index is a no-op
      await s.compact(2, emptyConfState());
      assert.equal(st.firstIndex(), 4);
      // appends partly below the snapshot keep only what is after it
      await s.append(ents(2, [9, 9, 9, 9], 'p'));
      assert.equal(st.lastIndex(), 5);
      assert.equal(st.term(3), 2);
      assert.deepEqual(plain(st.entries(4, 6, INF)), plain(ents(4, [9, 9], 'p')));
      // entirely below it: nothing
      await s.append(ents(1, [9, 9], 'q'));
      assert.equal(st.lastIndex(), 5);
      // compacting the whole log
      await s.compact(5, cs3);
      assert.equal(st.firstIndex(), 6);
      assert.equal(st.lastIndex(), 5);
      assert.equal(st.term(5), 9);
      assert.deepEqual(st.entries(6, 6, INF), []);
      await s.append(ents(6, [10]));
      assert.equal(st.lastIndex(), 6);
    } finally {
      await s.close();
    }
  });

  test(`${name}: compacting past the last index is unavailable`, async () => {
    const s = await make();
    try {
      await s.append(ents(1, [1, 1]));
      await assert.rejects(s.compact(3, cs3), UnavailableError);
      assert.equal(s.storage.firstIndex(), 1);
    } finally {
      await s.close();
    }
  });

  test(`${name}: a snapshot replaces the log`, async () => {
    const s = await make();
    try {
      const st = s.storage;
      await s.append(ents(1, [1, 1, 2, 2, 3, 3]));
      const snap: Snapshot = { meta: { index: 10, term: 5, confState: cs3 }, data: new Uint8Array() };
      await s.applySnapshot(snap);
      assert.equal(st.firstIndex(), 11);
      assert.equal(st.lastIndex(), 10);
      assert.equal(st.term(10), 5);
      assert.throws(() => st.term(6), CompactedError);
      assert.throws(() => st.term(11), UnavailableError);
      assert.deepEqual(st.entries(11, 11, INF), []);
      assert.deepEqual(st.snapshot().meta, snap.meta);
      assert.deepEqual(st.initialState().confState, cs3);
      // a snapshot shorter than the log still replaces all of it
      await s.append(ents(11, [5, 5, 5, 5]));
      await s.applySnapshot({ meta: { index: 12, term: 6, confState: cs3 }, data: new Uint8Array() });
      assert.equal(st.firstIndex(), 13);
      assert.equal(st.lastIndex(), 12);
      assert.equal(st.term(12), 6);
      // an older one is ignored
      await s.append(ents(13, [6, 6]));
      await s.applySnapshot({ meta: { index: 7, term: 4, confState: emptyConfState() }, data: new Uint8Array() });
      assert.equal(st.firstIndex(), 13);
      assert.equal(st.lastIndex(), 14);
      assert.deepEqual(st.snapshot().meta.confState, cs3);
    } finally {
      await s.close();
    }
  });
}

test('DurableStorage: everything survives close and reopen', async () => {
  const dir = await tempDir();
  let store = await open(dir);
  let d = new DurableStorage(store.raftLog());
  await d.append(ents(1, [1, 1, 2, 2, 3, 3, 3]));
  await d.compact(2, cs3);
  await d.persist({ hardState: { term: 3, vote: 1, commit: 5 }, entries: ents(6, [4, 4], 'r') });
  await store.put('k', 'v'); // the KV side is untouched and unaffected
  const before = {
    first: d.firstIndex(),
    last: d.lastIndex(),
    init: d.initialState(),
    snap: d.snapshot().meta,
    ents: plain(d.entries(d.firstIndex(), d.lastIndex() + 1, INF)),
    rev: store.status().revision,
  };
  await store.close();
  store = await open(dir);
  try {
    d = new DurableStorage(store.raftLog());
    assert.deepEqual(
      {
        first: d.firstIndex(),
        last: d.lastIndex(),
        init: d.initialState(),
        snap: d.snapshot().meta,
        ents: plain(d.entries(d.firstIndex(), d.lastIndex() + 1, INF)),
        rev: store.status().revision,
      },
      before,
    );
    assert.deepEqual(before.init.hardState, { term: 3, vote: 1, commit: 5 });
    assert.equal(before.first, 3);
    assert.equal(before.last, 7);
    assert.equal(store.get('k')?.value.toString(), 'v');
  } finally {
    await store.close();
  }
});

test('DurableStorage: a lazy persist (commit index only) is stored like any other, alone or grouped with a durable one', async () => {
  const dir = await tempDir();
  let store = await open(dir);
  let d = new DurableStorage(store.raftLog());
  await d.persist({ hardState: { term: 2, vote: 1, commit: 0 }, entries: ents(1, [1, 2, 2]) });
  await d.persist({ hardState: { term: 2, vote: 1, commit: 2 }, lazy: true });
  assert.deepEqual(d.initialState().hardState, { term: 2, vote: 1, commit: 2 });
  // In one group with a durable write, the group is durable; both land.
  await Promise.all([d.persist({ hardState: { term: 2, vote: 1, commit: 3 }, lazy: true }), store.put('k', 'v')]);
  await store.close();
  store = await open(dir);
  try {
    d = new DurableStorage(store.raftLog());
    assert.deepEqual(d.initialState().hardState, { term: 2, vote: 1, commit: 3 });
    assert.equal(d.lastIndex(), 3);
    assert.equal(store.get('k')?.value.toString(), 'v');
  } finally {
    await store.close();
  }
});

test('DurableStorage: raft writes do not move the MVCC revision and share a batch with puts', async () => {
  const store = await open(await tempDir());
  try {
    const d = new DurableStorage(store.raftLog());
    const r1 = await store.put('a', '1');
    const [, r2] = await Promise.all([d.append(ents(1, [1, 1])), store.put('b', '2'), d.setHardState({ term: 1, vote: 1, commit: 2 })]);
    assert.equal(r2.revision, r1.revision + 1);
    assert.equal(store.status().revision, r1.revision + 1);
    assert.equal(d.lastIndex(), 2);
    assert.equal(d.initialState().hardState.commit, 2);
  } finally {
    await store.close();
  }
});

test('DurableStorage: bad input is refused and changes nothing', async () => {
  const store = await open(await tempDir());
  try {
    const d = new DurableStorage(store.raftLog());
    await d.append(ents(1, [1, 1, 1]));
    const code = (err: unknown): string => (isAxisError(err) ? err.code : String(err));
    // a gap after the last index (with a hard state in the same request: all or nothing)
    await assert.rejects(d.persist({ hardState: { term: 9, vote: 9, commit: 9 }, entries: ents(5, [1]) }), (e) => code(e) === 'AXIS_INVALID_ARGUMENT');
    // non-consecutive entries
    await assert.rejects(d.append([...ents(4, [1]), ...ents(6, [1])]), (e) => code(e) === 'AXIS_INVALID_ARGUMENT');
    await assert.rejects(d.append([{ index: -1, term: 1, type: 0, data: new Uint8Array() }]), (e) => code(e) === 'AXIS_INVALID_ARGUMENT');
    // a failing raft request in a group does not fail the others
    const [bad, good] = await Promise.allSettled([d.append(ents(9, [1])), store.put('x', 'y')]);
    assert.equal(bad.status, 'rejected');
    assert.equal(good.status, 'fulfilled');
    assert.equal(d.lastIndex(), 3);
    assert.deepEqual(d.initialState().hardState, { term: 0, vote: 0, commit: 0 });
    // a compaction past the snapshot, straight through the raft log
    await assert.rejects(store.raftLog().compact({ index: 2, term: 1, confState: new Uint8Array() }, 4), (e) => code(e) === 'AXIS_INVALID_ARGUMENT');
    await assert.rejects(store.raftLog().compact({ index: 7, term: 1, confState: new Uint8Array() }, 8), (e) => code(e) === 'AXIS_INVALID_ARGUMENT');
    assert.equal(d.firstIndex(), 1);
    assert.equal(d.lastIndex(), 3);
    assert.deepEqual(plain(d.entries(1, 4, INF)), plain(ents(1, [1, 1, 1])));
  } finally {
    await store.close();
  }
});

test('DurableStorage: reads after close fail', async () => {
  const store = await open(await tempDir());
  const d = new DurableStorage(store.raftLog());
  await store.close();
  assert.throws(() => d.lastIndex(), (e) => isAxisError(e) && e.code === 'AXIS_CLOSED');
  await assert.rejects(d.append(ents(1, [1])), (e) => isAxisError(e) && e.code === 'AXIS_CLOSED');
});
