/**
 * The replicated state machine's apply path: Store.apply writes each committed Raft entry's data
 * change together with its applied index/term, membership and client dedup record; Store.applied
 * reads them back. Plus encodeWrite / decodeWriteResult, which a cluster member uses to put a
 * client's write into an entry and to answer it.
 *
 * The crash test's seed is random unless AXIS_APPLY_CRASH_SEED is set; it is printed, and part of
 * every failure message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import {
  decodeWriteResult, encodeWrite, open, type ApplyEntry, type Store, type TxnRequest, type WriteRequest,
} from '../ts/storage/index.js';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { Decoder, Encoder, RequestKind } from '../ts/storage/codec.js';
import { encodeApply } from '../ts/storage/state-machine.js';
import type { NativeStore } from '../bindings/index.js';
import { mulberry32, tempDirs } from './support/fixtures.js';
import { runWriter } from './support/child.js';
import { confAt, entryFor, failsAt } from './support/apply-writer.js';

const tempDir = tempDirs('apply');
const APPLY_WRITER = fileURLToPath(new URL('./support/apply-writer.js', import.meta.url));

const put = (key: string, value: string): Buffer => encodeWrite({ put: { key, value } });
const req = (client: number, seq: number, body: Buffer, floor = 0): ApplyEntry['request'] => ({ client, seq, floor, body });

/** The result of an entry without a request: u8 0 | u64 revision. */
function plainRevision(result: Buffer): number {
  assert.equal(result.length, 9);
  assert.equal(result[0], 0);
  return result.readUInt32LE(1) + result.readUInt32LE(5) * 2 ** 32;
}

async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const dir = await tempDir();
  const store = await open(dir, { durability: 'nosync' });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

test('apply persists the applied index, term and membership; they survive close and reopen', { timeout: 20_000 }, async () => {
  const dir = await tempDir();
  let store = await open(dir, { durability: 'sync' });
  try {
    assert.deepEqual(store.applied(), { index: 0, term: 0 });
    const conf = Buffer.from('{"voters":[1,2,3]}');
    // A cluster member's first entry follows its bootstrap snapshot: any first index is taken.
    const results = await store.apply([
      { index: 2, term: 1, conf },
      { index: 3, term: 1, request: req(1, 1, put('a', '1')) },
      { index: 4, term: 2 },
    ]);
    assert.equal(results.length, 3);
    assert.equal(plainRevision(results[0]!), 1);
    assert.deepEqual(decodeWriteResult({ put: { key: 'a', value: '1' } }, results[1]!), { revision: 2 });
    assert.equal(plainRevision(results[2]!), 2);
    // Visible as soon as the promise resolved.
    assert.deepEqual(store.applied(), { index: 4, term: 2, conf });
    assert.equal(store.get('a')?.value.toString(), '1');
    // Results are each entry's own bytes, safe to keep.
    const kept = Buffer.from(results[1]!);
    await store.put('other', 'x');
    assert.deepEqual(results[1], kept);
  } finally {
    await store.close();
  }
  store = await open(dir, { durability: 'sync' });
  try {
    assert.deepEqual(store.applied(), { index: 4, term: 2, conf: Buffer.from('{"voters":[1,2,3]}') });
    // A later membership replaces it; entries without one keep it.
    const conf2 = Buffer.from('{"voters":[1,2]}');
    await store.apply([{ index: 5, term: 3, conf: conf2 }, { index: 6, term: 3, request: req(1, 2, put('b', '2')) }]);
    assert.deepEqual(store.applied(), { index: 6, term: 3, conf: conf2 });
    assert.equal(store.status().revision, 4);
  } finally {
    await store.close();
  }
  store = await open(dir);
  try {
    assert.deepEqual(store.applied(), { index: 6, term: 3, conf: Buffer.from('{"voters":[1,2]}') });
    assert.equal(store.get('b')?.value.toString(), '2');
  } finally {
    await store.close();
  }
});

test('entries apply in order only: never twice, never past a gap', { timeout: 20_000 }, async () => {
  await withStore(async (store) => {
    await store.apply([{ index: 1, term: 1 }, { index: 2, term: 1 }]);
    const code = async (p: Promise<unknown>): Promise<string> =>
      p.then(() => 'resolved', (err: unknown) => (isAxisError(err) ? err.code : String(err)));
    // Checked before anything is queued.
    assert.equal(await code(store.apply([{ index: 3, term: 1 }, { index: 5, term: 1 }])), ErrorCode.INVALID_ARGUMENT);
    assert.equal(await code(store.apply([{ index: 0, term: 1 }])), ErrorCode.INVALID_ARGUMENT);
    assert.equal(await code(store.apply([{ index: 3, term: 1, request: { client: -1, seq: 1, floor: 0, body: put('k', 'v') } }])), ErrorCode.INVALID_ARGUMENT);
    assert.equal(await code(store.apply([{ index: 3, term: 1 }], { horizon: 1.5 })), ErrorCode.INVALID_ARGUMENT);
    // Checked by the writer against the applied index: again, and past a gap.
    assert.equal(await code(store.apply([{ index: 2, term: 1, request: req(1, 1, put('again', 'x')) }])), ErrorCode.INVALID_ARGUMENT);
    assert.equal(await code(store.apply([{ index: 4, term: 1, request: req(1, 1, put('gap', 'x')) }])), ErrorCode.INVALID_ARGUMENT);
    assert.deepEqual(store.applied(), { index: 2, term: 1 });
    assert.equal(store.get('again'), undefined);
    assert.equal(store.get('gap'), undefined);
    assert.equal(store.status().revision, 1);
    assert.deepEqual(await store.apply([]), []);
    await store.apply([{ index: 3, term: 1, request: req(1, 1, put('next', 'x')) }]);
    assert.deepEqual(store.applied(), { index: 3, term: 1 });
  });
});

test('a retried (client, seq) is answered from the dedup table, not applied again', { timeout: 20_000 }, async () => {
  await withStore(async (store) => {
    const txn: TxnRequest = {
      compare: [{ key: 'n', target: 'version', result: '=', value: 0 }],
      success: [{ put: { key: 'n', value: 'first' } }, { range: { key: 'n' } }],
      failure: [{ put: { key: 'n', value: 'later' } }],
    };
    const body = encodeWrite({ txn });
    const [first] = await store.apply([{ index: 1, term: 1, request: req(5, 1, body) }]);
    const r1 = decodeWriteResult({ txn }, first!);
    assert.equal(r1.succeeded, true);
    assert.equal(r1.revision, 2);
    // The same request again (a client retry that reached the log twice), at later indices.
    const [again, other] = await store.apply([
      { index: 2, term: 1, request: req(5, 1, body) },
      { index: 3, term: 1, request: req(6, 1, body) }, // another client, same seq: applied
    ]);
    assert.deepEqual(again, first, 'the retry gets the first answer, byte for byte');
    const r3 = decodeWriteResult({ txn }, other!);
    assert.equal(r3.succeeded, false);
    assert.equal(r3.revision, 3);
    assert.equal(store.get('n')?.value.toString(), 'later');
    assert.equal(store.get('n')?.version, 2);
    const [third] = await store.apply([{ index: 4, term: 2, request: req(5, 1, body) }]);
    assert.deepEqual(third, first);
    assert.equal(store.status().revision, 3, 'retries make no revision');
    assert.deepEqual(store.applied(), { index: 4, term: 2 });
  });
});

test('dedup records below a client floor are forgotten', { timeout: 20_000 }, async () => {
  await withStore(async (store) => {
    const k = (seq: number): Buffer => put('k', `seq${seq}`);
    await store.apply([
      { index: 1, term: 1, request: req(7, 1, k(1)) },
      { index: 2, term: 1, request: req(7, 2, k(2)) },
      { index: 3, term: 1, request: req(8, 1, k(1)) },
    ]);
    assert.equal(store.status().revision, 4);
    // Client 7 now holds the answers below seq 2: (7, 1) goes; (7, 2) and client 8's stay.
    await store.apply([{ index: 4, term: 1, request: req(7, 3, k(3), 2) }]);
    assert.equal(store.status().revision, 5);
    const res = await store.apply([
      { index: 5, term: 1, request: req(7, 2, k(2), 2) },
      { index: 6, term: 1, request: req(8, 1, k(1)) },
    ]);
    assert.equal(store.status().revision, 5, '(7, 2) and (8, 1) are still known');
    assert.equal(decodeWriteResult({ put: { key: 'k', value: '' } }, res[0]!).revision, 3);
    assert.equal(decodeWriteResult({ put: { key: 'k', value: '' } }, res[1]!).revision, 4);
    // A late copy of (7, 1), below the floor client 7 sent: refused, not applied again.
    const [late] = await store.apply([{ index: 7, term: 1, request: req(7, 1, k(1), 2) }]);
    assert.throws(() => decodeWriteResult({ put: { key: 'k', value: '' } }, late!), (e) => isAxisError(e, ErrorCode.DUPLICATE_REQUEST));
    assert.equal(store.status().revision, 5);
    assert.equal(store.get('k')?.value.toString(), 'seq3');
    assert.deepEqual(store.applied(), { index: 7, term: 1 }, 'the entry is applied all the same');
    // Another client's seq 1 is its own business.
    await store.apply([{ index: 8, term: 1, request: req(9, 1, k(1)) }]);
    assert.equal(store.status().revision, 6);
    // Once client 7's last record ages out, its floor goes with it: past the horizon, a copy applies again.
    await store.apply([{ index: 9, term: 1, request: req(10, 1, k(9)) }], { horizon: 0 });
    await store.apply([{ index: 10, term: 1, request: req(10, 2, k(10)) }], { horizon: 0 });
    const rev = store.status().revision;
    const [past] = await store.apply([{ index: 11, term: 1, request: req(7, 1, k(1), 0) }], { horizon: 1000 });
    assert.equal(decodeWriteResult({ put: { key: 'k', value: '' } }, past!).revision, rev + 1);
  });
});

test('dedup records older than the horizon are forgotten, a few per entry, deterministically', { timeout: 20_000 }, async () => {
  await withStore(async (store) => {
    const body = (i: number): Buffer => put(`h${i}`, 'v');
    // Records at indices 1..20 (client 1, seq = index), with a horizon that keeps them all.
    const first = Array.from({ length: 20 }, (_, j): ApplyEntry => ({ index: j + 1, term: 1, request: req(1, j + 1, body(j + 1)) }));
    await store.apply(first);
    assert.equal(store.status().revision, 21);
    // Each retry is still known with a large horizon.
    await store.apply([{ index: 21, term: 1, request: req(1, 20, body(20)) }], { horizon: 1000 });
    assert.equal(store.status().revision, 21);
    // Horizon 0: everything older than this entry may go, but only 8 records per entry: the oldest.
    await store.apply([{ index: 22, term: 1, request: req(2, 1, body(100)) }], { horizon: 0 });
    assert.equal(store.status().revision, 22);
    // Records 9..20 are still there (a retry is answered, with a horizon that keeps them)...
    await store.apply([{ index: 23, term: 1, request: req(1, 9, body(9)) }], { horizon: 1000 });
    assert.equal(store.status().revision, 22);
    // ...records 1..8 are gone: a retry of one is applied again (the documented contract).
    const [again] = await store.apply([{ index: 24, term: 1, request: req(1, 8, body(8)) }], { horizon: 1000 });
    assert.equal(decodeWriteResult({ put: { key: 'h8', value: 'v' } }, again!).revision, 23);
    assert.equal(store.get('h8')?.version, 2);
    // A small horizon, entry by entry: (3, 1) at index 25 is forgotten once an entry is more than 3 after it.
    await store.apply([{ index: 25, term: 1, request: req(3, 1, body(300)) }], { horizon: 1000 });
    const rev = store.status().revision;
    for (let i = 26; i <= 28; i++) await store.apply([{ index: i, term: 1, request: req(4, i, body(400 + i)) }], { horizon: 3 });
    await store.apply([{ index: 29, term: 1, request: req(3, 1, body(300)) }], { horizon: 3 });
    assert.equal(store.status().revision, rev + 3, 'index 29 - 25 = 4 > 3, but the age check ran after the lookup');
    await store.apply([{ index: 30, term: 1, request: req(3, 1, body(300)) }], { horizon: 3 });
    assert.equal(store.status().revision, rev + 4, '(3, 1) was forgotten at index 29, so index 30 applies it again');
  });
});

test('a request failing on its own inside a batch: the entry is applied with the error, the others are untouched', { timeout: 20_000 }, async () => {
  await withStore(async (store) => {
    const missing: WriteRequest = { put: { key: 'missing', value: '', options: { ignoreValue: true } } };
    const future: WriteRequest = { compact: { revision: 100 } };
    const log = store.raftLog();
    const entries: ApplyEntry[] = [
      { index: 1, term: 1, request: req(1, 1, put('a', '1')) },
      { index: 2, term: 1, request: req(1, 2, encodeWrite(missing)) },
      { index: 3, term: 1, conf: Buffer.from('c3'), request: req(2, 1, put('b', '2')) },
      { index: 4, term: 1 },
      { index: 5, term: 1, request: req(2, 2, encodeWrite(future)) },
      { index: 6, term: 1, request: req(3, 1, put('c', '3')) },
    ];
    // Alongside, in the same write batch: an embedded put and a raft log append.
    const [results, side, ,] = await Promise.all([
      store.apply(entries),
      store.put('side', 'x'),
      log.persist({ entries: [{ index: 1, term: 1, type: 0, data: Buffer.from('e1') }] }),
    ]);
    assert.equal(results.length, 6);
    assert.throws(() => decodeWriteResult(missing, results[1]!), (e: unknown) => isAxisError(e, ErrorCode.KEY_NOT_FOUND));
    assert.throws(() => decodeWriteResult(future, results[4]!), (e: unknown) => isAxisError(e, ErrorCode.FUTURE_REVISION));
    assert.equal(decodeWriteResult({ put: { key: 'a', value: '' } }, results[0]!).revision, 2);
    assert.equal(decodeWriteResult({ put: { key: 'b', value: '' } }, results[2]!).revision, 3);
    assert.equal(plainRevision(results[3]!), 3);
    assert.equal(decodeWriteResult({ put: { key: 'c', value: '' } }, results[5]!).revision, 4);
    assert.equal(side.revision, 5);
    assert.deepEqual(store.applied(), { index: 6, term: 1, conf: Buffer.from('c3') });
    assert.equal(store.get('missing'), undefined);
    assert.deepEqual(
      store.prefix('').kvs.map((kv) => `${kv.key}=${kv.value}@${kv.modRevision}`),
      ['a=1@2', 'b=2@3', 'c=3@4', 'side=x@5'],
    );
    assert.equal(store.status().compactRevision, 0);
    assert.equal(log.state().lastIndex, 1);
    // The failed entries' records hold their errors: a retry gets the same bytes, changes nothing.
    const retry = await store.apply([
      { index: 7, term: 2, request: req(1, 2, encodeWrite(missing)) },
      { index: 8, term: 2, request: req(2, 2, encodeWrite(future)) },
    ]);
    assert.deepEqual(retry[0], results[1]);
    assert.deepEqual(retry[1], results[4]);
    assert.equal(store.status().revision, 5);
    assert.deepEqual(store.applied(), { index: 8, term: 2, conf: Buffer.from('c3') });
    // A failing request alone in its batch, and a malformed body, behave the same way.
    const [alone, junk] = await Promise.all([
      store.apply([{ index: 9, term: 2, request: req(4, 1, encodeWrite({ compact: { revision: 1 } })) }]),
      store.apply([{ index: 10, term: 2, request: req(4, 2, Buffer.from([9, 9, 9])) }]),
    ]);
    assert.deepEqual(decodeWriteResult({ compact: { revision: 1 } }, alone[0]!), { revision: 5 });
    assert.equal(store.status().compactRevision, 1);
    assert.throws(() => decodeWriteResult({ compact: { revision: 1 } }, junk[0]!), (e: unknown) => isAxisError(e, ErrorCode.INVALID_ARGUMENT));
    const [compacted] = await store.apply([{ index: 11, term: 2, request: req(4, 3, encodeWrite({ compact: { revision: 1 } })) }]);
    assert.throws(() => decodeWriteResult({ compact: { revision: 1 } }, compacted!), (e: unknown) => isAxisError(e, ErrorCode.COMPACTED));
    assert.deepEqual(store.applied(), { index: 11, term: 2, conf: Buffer.from('c3') });
  });
});

test('an entry that cannot be applied stops the batch there: no gap, nothing half-applied', { timeout: 20_000 }, async () => {
  await withStore(async (store) => {
    // Two calls in one turn share a write batch; the second's first entry is out of order.
    const [first, second] = await Promise.allSettled([
      store.apply([{ index: 1, term: 1, request: req(1, 1, put('one', '1')) }, { index: 2, term: 1, request: req(1, 2, put('two', '2')) }]),
      store.apply([{ index: 5, term: 1, request: req(1, 5, put('five', '5')) }, { index: 6, term: 1, request: req(1, 6, put('six', '6')) }]),
    ]);
    assert.equal(first.status, 'fulfilled');
    assert.ok(second.status === 'rejected' && isAxisError(second.reason, ErrorCode.INVALID_ARGUMENT), String((second as PromiseRejectedResult).reason));
    assert.deepEqual(store.applied(), { index: 2, term: 1 });
    assert.deepEqual(store.prefix('').kvs.map((kv) => kv.key.toString()), ['one', 'two']);
  });
  // On a store that never applied an entry any first index is taken, so an entry after one that
  // was not applied must be stopped by the writer itself (a hand-made batch: index 0 is refused).
  await withStore(async (store) => {
    const e = new Encoder();
    for (const en of [
      { index: 0, term: 1, request: req(1, 1, put('zero', '0')) },
      { index: 7, term: 1, request: req(1, 2, put('seven', '7')) },
    ]) {
      const at = e.begin();
      encodeApply(e, en, 100);
      e.end(at);
    }
    const at = e.begin();
    e.u8(RequestKind.Compact);
    e.u64(1);
    e.end(at);
    const native = (store as unknown as { native: NativeStore }).native;
    const d = new Decoder(await native.write(Buffer.from(e.take())));
    assert.throws(() => d.status(), (err: unknown) => isAxisError(err, ErrorCode.INVALID_ARGUMENT));
    assert.throws(() => d.status(), (err: unknown) => isAxisError(err, ErrorCode.INVALID_ARGUMENT) && /earlier entry/.test(err.message));
    d.status(); // the compaction, not an entry, goes through
    assert.equal(d.u64(), 1);
    assert.equal(d.pos, d.buf.length);
    assert.deepEqual(store.applied(), { index: 0, term: 0 });
    assert.equal(store.get('seven'), undefined);
    assert.equal(store.status().compactRevision, 1);
  });
});

test('encodeWrite validates as the Store does; decodeWriteResult reads what the Store resolves', { timeout: 20_000 }, async () => {
  const bad: [WriteRequest, string][] = [
    [{ put: { key: '', value: 'v' } }, ErrorCode.EMPTY_KEY],
    [{ put: { key: 'k'.repeat(2000), value: 'v' } }, ErrorCode.KEY_TOO_LARGE],
    [{ put: { key: 'k', value: 'v', options: { ignoreValue: true } } }, ErrorCode.INVALID_ARGUMENT],
    [{ put: { key: 'k', value: 'v', options: { lease: -1 } } }, ErrorCode.INVALID_ARGUMENT],
    [{ delete: { key: '' } }, ErrorCode.EMPTY_KEY],
    [{ deleteRange: { start: 'b', end: 'a' } }, ErrorCode.INVALID_RANGE],
    [{ txn: { success: [{ put: { key: 'a', value: '1' } }, { put: { key: 'a', value: '2' } }] } }, ErrorCode.DUPLICATE_KEY],
    [{ txn: { success: Array.from({ length: 129 }, (_, i) => ({ put: { key: `k${i}`, value: '' } })) } }, ErrorCode.TOO_MANY_OPS],
    [{ compact: { revision: 0 } }, ErrorCode.INVALID_ARGUMENT],
    [{ compact: { revision: -3 } }, ErrorCode.INVALID_ARGUMENT],
    [{ nonsense: 1 } as unknown as WriteRequest, ErrorCode.INVALID_ARGUMENT],
    [null as unknown as WriteRequest, ErrorCode.INVALID_ARGUMENT],
  ];
  await withStore(async (store) => {
    const viaStore = (w: WriteRequest): Promise<unknown> => {
      if (w === null || typeof w !== 'object') return Promise.reject(new Error('not for the store'));
      if ('put' in w) return store.put(w.put.key, w.put.value, w.put.options);
      if ('delete' in w) return store.delete(w.delete.key, w.delete.options);
      if ('deleteRange' in w) return store.deleteRange(w.deleteRange.start, w.deleteRange.end, w.deleteRange.options);
      if ('txn' in w) return store.txn(w.txn);
      if ('compact' in w) return store.compact(w.compact.revision);
      return Promise.reject(new Error('not for the store'));
    };
    for (const [w, code] of bad) {
      assert.throws(() => encodeWrite(w), (e: unknown) => isAxisError(e, code as ErrorCode), JSON.stringify(w)?.slice(0, 80));
      if (w !== null && !('nonsense' in w)) {
        await assert.rejects(viaStore(w), (e: unknown) => isAxisError(e, code as ErrorCode), JSON.stringify(w).slice(0, 80));
      }
    }
    assert.equal(store.status().revision, 1, 'nothing was written');

    // The same writes through the Store and through apply on a second store give the same results.
    await withStore(async (replica) => {
      const writes: WriteRequest[] = [
        { put: { key: 'a', value: '1' } },
        { put: { key: 'a', value: '2', options: { prevKv: true } } },
        { put: { key: 'b', value: '3', options: { lease: 9 } } },
        { put: { key: 'b', value: '', options: { ignoreValue: true, prevKv: true } } },
        { txn: { compare: [{ key: 'a', target: 'value', result: '=', value: '2' }], success: [{ range: { key: 'a', rangeEnd: 'c', sort: { target: 'value', order: 'descend' } } }, { deleteRange: { key: 'b', prevKv: true } }] } },
        { deleteRange: { start: 'a', end: null, options: { prevKv: true } } },
        { delete: { key: 'nothing' } },
        { compact: { revision: 3 } },
        { put: { key: 'c', value: 'x', options: { ignoreLease: true } } },
      ];
      let index = 0;
      for (const w of writes) {
        const direct = await viaStore(w).then((r) => ({ ok: r }), (e: unknown) => ({ err: isAxisError(e) ? e.code : String(e) }));
        index++;
        const [bytes] = await replica.apply([{ index, term: 1, request: req(1, index, encodeWrite(w)) }]);
        let replayed: unknown;
        try {
          replayed = { ok: decodeWriteResult(w, bytes!) };
        } catch (e) {
          replayed = { err: isAxisError(e) ? e.code : String(e) };
        }
        assert.deepEqual(replayed, direct, JSON.stringify(w));
      }
      assert.deepEqual(replica.prefix('').kvs, store.prefix('').kvs);
      assert.equal(replica.status().revision, store.status().revision);
    });
  });
});

test('crash atomicity: after SIGKILL at any point, the applied index matches the data exactly', { timeout: 30_000 }, async (t) => {
  const seed = process.env.AXIS_APPLY_CRASH_SEED ? Number(process.env.AXIS_APPLY_CRASH_SEED) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`seed ${seed} (set AXIS_APPLY_CRASH_SEED=${seed} to repeat)`);
  const rnd = mulberry32(seed);
  const dir = await tempDir();
  const started = Date.now();
  let applied = 0;
  let acked = 0;
  let cycles = 0;
  let killedAfterAcks = 0;
  // Bounded: at least 8 cycles, then as many as fit in about 9 s.
  while (cycles < 8 || (cycles < 40 && Date.now() - started < 9_000)) {
    const where = `seed ${seed} cycle ${cycles}`;
    cycles++;
    const run = await runWriter([dir, String(Math.floor(rnd() * 2 ** 31))], {
      script: APPLY_WRITER,
      timeoutMs: 15_000,
      killAfterReady: Math.floor(rnd() * 120),
    });
    assert.equal(run.timedOut, false, `${where}: child never got ready: ${run.stderr}`);
    assert.equal(run.signal, 'SIGKILL', `${where}: child ended on its own (code ${run.code}): ${run.stderr}`);
    assert.equal(run.lines[0]?.op, 'ready', `${where}: first line`);
    assert.equal(run.lines[0]!.applied, applied, `${where}: applied index at the child's start`);
    for (const line of run.lines.slice(1)) {
      assert.equal(line.op, 'ack', `${where}: ${JSON.stringify(line)}`);
      acked = Math.max(acked, line.index as number);
    }
    if (run.lines.length > 1) killedAfterAcks++;

    const store = await open(dir, { durability: 'sync' });
    try {
      const st = store.applied();
      assert.ok(st.index >= acked, `${where}: applied ${st.index} < acknowledged ${acked}`);
      applied = st.index;
      // Every entry up to the applied index made exactly its change; none after it did.
      let changes = 0;
      for (let i = 1; i <= applied + 20; i++) {
        const kv = store.get(`e${i}`);
        const want = i <= applied && !failsAt(i);
        assert.equal(kv !== undefined, want, `${where}: e${i} ${want ? 'missing' : 'present'} (applied ${applied})`);
        if (kv) {
          assert.equal(kv.value.toString(), `v${i}`, `${where}: e${i}`);
          assert.equal(kv.version, 1, `${where}: e${i} applied once`);
          changes++;
        }
      }
      assert.equal(store.prefix('e', { countOnly: true }).count, changes, `${where}: no other e keys`);
      assert.equal(store.status().revision, 1 + changes, `${where}: one revision per data change`);
      assert.equal(st.term, applied === 0 ? 0 : entryFor(applied).term, `${where}: term`);
      let lastConf = 0;
      for (let i = applied; i > 0 && lastConf === 0; i--) if (confAt(i) !== undefined) lastConf = i;
      assert.equal(st.conf?.toString(), lastConf ? confAt(lastConf) : undefined, `${where}: membership`);
    } finally {
      await store.close();
    }
  }
  t.diagnostic(`${cycles} cycles, ${applied} entries applied, ${acked} acknowledged, ${Date.now() - started} ms`);
  assert.ok(killedAfterAcks > 0, 'some cycles were killed after applying something');
  assert.ok(applied > 20, 'enough entries were applied to matter');

  // The last entries' dedup records survived too: re-sent, they are answered, not applied again.
  const store = await open(dir);
  try {
    const rev = store.status().revision;
    const resend = [applied - 1, applied].map((i, j) => ({ ...entryFor(i), index: applied + 1 + j }));
    const results = await store.apply(resend);
    assert.equal(store.status().revision, rev);
    for (const [j, i] of [applied - 1, applied].entries()) {
      const w: WriteRequest = { put: { key: `e${i}`, value: '' } };
      if (failsAt(i)) assert.throws(() => decodeWriteResult(w, results[j]!), (e: unknown) => isAxisError(e, ErrorCode.KEY_NOT_FOUND));
      else assert.equal(decodeWriteResult(w, results[j]!).revision, store.get(`e${i}`)!.modRevision);
    }
  } finally {
    await store.close();
  }
});
