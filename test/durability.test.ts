/**
 * Opening and closing: option checks, one opener per directory (in this process and across
 * processes), 'nosync' mode, close() committing the writes issued before it, and every method
 * refusing with AXIS_CLOSED afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { open, type OpenOptions, type Store } from '../ts/index.js';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { tempDirs } from './support/fixtures.js';
import { runWriter } from './support/child.js';

const tempDir = tempDirs('durability');


const isCode =
  (code: ErrorCode) =>
  (err: unknown): boolean =>
    isAxisError(err, code);

test('open rejects bad arguments with AXIS_INVALID_ARGUMENT', async () => {
  const dir = await tempDir();
  const bad: [string, unknown, unknown][] = [
    ['empty path', '', undefined],
    ['path not a string', 42, undefined],
    ['path undefined', undefined, undefined],
    ['unknown durability', dir, { durability: 'fast' }],
    ['durability not a string', dir, { durability: 1 }],
    ['negative mapSize', dir, { mapSize: -1 }],
    ['fractional mapSize', dir, { mapSize: 1.5 }],
    ['mapSize as a string', dir, { mapSize: '8GB' }],
    ['NaN mapSize', dir, { mapSize: NaN }],
    ['infinite mapSize', dir, { mapSize: Infinity }],
    ['negative maxSnapshots', dir, { maxSnapshots: -1 }],
    ['fractional maxSnapshots', dir, { maxSnapshots: 2.5 }],
    ['maxSnapshots as a string', dir, { maxSnapshots: '10' }],
  ];
  for (const [what, d, options] of bad) {
    await assert.rejects(
      () => open(d as string, options as OpenOptions),
      isCode(ErrorCode.INVALID_ARGUMENT),
      `${what}: AXIS_INVALID_ARGUMENT`,
    );
  }
  // None of that left the directory marked open.
  const store = await open(dir, { durability: 'nosync', mapSize: 64 * 1024 * 1024, maxSnapshots: 8 });
  await store.put('k', 'v');
  await store.close();
});

test('one directory opens once per process, whatever the spelling; again after close', async () => {
  const dir = await tempDir();
  const store = await open(dir);
  await store.put('k', 'v1');
  await assert.rejects(() => open(dir), isCode(ErrorCode.ALREADY_OPEN), 'same path');
  await assert.rejects(() => open(dir + '/'), isCode(ErrorCode.ALREADY_OPEN), 'trailing slash');
  await assert.rejects(() => open(path.join(dir, '..', path.basename(dir))), isCode(ErrorCode.ALREADY_OPEN), 'with ..');
  await assert.rejects(() => open(path.relative(process.cwd(), dir)), isCode(ErrorCode.ALREADY_OPEN), 'relative path');
  const link = path.join(await tempDir(), 'link');
  await fs.symlink(dir, link);
  await assert.rejects(() => open(link), isCode(ErrorCode.ALREADY_OPEN), 'through a symlink');
  // The refused opens did not disturb the open store.
  assert.equal(store.get('k')?.value.toString(), 'v1');
  assert.equal((await store.put('k', 'v2')).revision, 3);
  await store.close();

  // Closed: opens again, with the data, and the next refusal still works.
  const again = await open(link, { durability: 'nosync' });
  assert.equal(again.get('k')?.value.toString(), 'v2');
  await assert.rejects(() => open(dir), isCode(ErrorCode.ALREADY_OPEN));
  await again.close();

  // Two opens racing: exactly one wins.
  const race = await Promise.allSettled([open(dir), open(dir), open(dir + '/')]);
  const won = race.filter((r): r is PromiseFulfilledResult<Store> => r.status === 'fulfilled');
  assert.equal(won.length, 1, 'one open wins the race');
  for (const r of race) if (r.status === 'rejected') assert.ok(isAxisError(r.reason, ErrorCode.ALREADY_OPEN), String(r.reason));
  assert.equal(won[0]!.value.get('k')?.value.toString(), 'v2');
  await won[0]!.value.close();
});

test('a second process cannot open a directory this process has open', { timeout: 30_000 }, async () => {
  const dir = await tempDir();
  const store = await open(dir);
  await store.put('k', 'from parent');
  const refused = await runWriter(['try-open', dir], { timeoutMs: 15_000 });
  assert.equal(refused.code, 0, refused.stderr);
  assert.deepEqual(refused.lines, [{ op: 'open', ok: false, code: ErrorCode.ALREADY_OPEN }]);
  // Still fine here.
  assert.equal((await store.put('k2', 'v')).revision, 3);
  await store.close();

  const allowed = await runWriter(['try-open', dir], { timeoutMs: 15_000 });
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.deepEqual(allowed.lines, [{ op: 'open', ok: true, revision: 3, value: 'from parent' }]);
  // And the child closed it behind itself.
  const back = await open(dir);
  await back.close();
});

test("'nosync' stores work and keep their data across close and reopen", async () => {
  const dir = await tempDir();
  let store = await open(dir, { durability: 'nosync' });
  const puts = await Promise.all(Array.from({ length: 200 }, (_, i) => store.put(`k/${String(i).padStart(3, '0')}`, `v${i}`)));
  assert.deepEqual(
    puts.map((p) => p.revision),
    Array.from({ length: 200 }, (_, i) => i + 2),
  );
  const txn = await store.txn({
    compare: [{ key: 'k/000', target: 'value', result: '=', value: 'v0' }],
    success: [{ put: { key: 't/a', value: 'x' } }, { put: { key: 't/b', value: 'x' } }],
  });
  assert.equal(txn.succeeded, true);
  const del = await store.deleteRange('k/100', 'k/150');
  assert.equal(del.deleted, 50);
  await store.compact(100);
  const before = store.status();
  await store.close();

  for (const durability of ['sync', 'nosync'] as const) {
    store = await open(dir, { durability });
    const st = store.status();
    assert.equal(st.revision, before.revision, `${durability}: revision`);
    assert.equal(st.compactRevision, 100, `${durability}: compaction floor`);
    assert.equal(store.prefix('k/').count, 150);
    assert.equal(store.get('k/007')?.value.toString(), 'v7');
    assert.equal(store.get('k/120'), undefined);
    assert.equal(store.get('k/120', { revision: txn.revision })?.value.toString(), 'v120');
    assert.deepEqual(
      store.prefix('t/').kvs.map((kv) => [kv.key.toString(), kv.value.toString(), kv.modRevision]),
      [
        ['t/a', 'x', txn.revision],
        ['t/b', 'x', txn.revision],
      ],
    );
    await store.close();
  }
});

test("'nosync' writes acknowledged before a SIGKILL survive it", { timeout: 30_000 }, async () => {
  const dir = await tempDir();
  const run = await runWriter(['write', dir, '12345', '0', 'nosync'], { timeoutMs: 15_000, killAfterReady: 300 });
  assert.equal(run.signal, 'SIGKILL', `child ended on its own: ${run.stderr}`);
  const acks = run.lines.filter((l) => l.op !== 'ready');
  assert.ok(acks.length > 0, 'the child acknowledged some writes');
  const deleted = new Set(acks.filter((l) => l.op === 'delete').map((l) => l.key as string));
  const store = await open(dir, { durability: 'nosync' });
  try {
    const st = store.status();
    for (const a of acks) {
      const key = a.key as string;
      const revision = a.revision as number;
      assert.ok(st.revision >= revision, `revision ${st.revision} >= acknowledged ${revision}`);
      if (a.op === 'compact') assert.ok(st.compactRevision >= revision, 'compaction floor');
      if (a.op === 'put' && !deleted.has(key) && !key.startsWith('d/')) {
        assert.equal(store.get(key)?.value.toString(), a.value, `acknowledged put ${key}`);
      }
      if (a.op === 'delete') assert.equal(store.get(key), undefined, `acknowledged delete ${key}`);
      if (a.op === 'txn') {
        for (const s of ['a', 'b', 'c']) assert.equal(store.get(key + s)?.value.toString(), a.value, `acknowledged txn ${key}${s}`);
      }
      if (a.op === 'counter') assert.ok(store.get(key)!.value.toString() >= (a.value as string), `counter ${key}`);
    }
  } finally {
    await store.close();
  }
});

test('close() commits the writes issued before it', async () => {
  const dir = await tempDir();
  const store = await open(dir);
  await store.put('gone', 'soon');
  // One batch already on its way to the writer thread...
  const early = Array.from({ length: 50 }, (_, i) => store.put(`early/${i}`, `e${i}`));
  await Promise.resolve();
  // ...and one still queued in this turn, of every kind of write.
  const late: Promise<unknown>[] = Array.from({ length: 150 }, (_, i) => store.put(`late/${i}`, `l${i}`));
  late.push(store.delete('gone'));
  late.push(store.txn({ success: [{ put: { key: 'txn/a', value: '1' } }, { put: { key: 'txn/b', value: '1' } }] }));
  late.push(store.deleteRange('early/10', 'early/19'));
  late.push(store.compact(2));
  const closing = store.close();
  // Issued after close(): refused.
  const afterClose = store.put('after', 'close').then(
    () => 'resolved',
    (err: unknown) => err,
  );
  await closing;
  const results = await Promise.allSettled([...early, ...late]);
  const failed = results.filter((r) => r.status === 'rejected');
  assert.deepEqual(failed, [], 'every write issued before close() resolved');
  assert.ok(isCode(ErrorCode.CLOSED)(await afterClose), 'a put after close() is refused');
  const revisions = (await Promise.all(early)).map((r) => r.revision);

  const reopened = await open(dir);
  try {
    const st = reopened.status();
    // 1 (empty) + 'gone' + 50 + 150 + delete + txn + deleteRange
    assert.equal(st.revision, 1 + 1 + 50 + 150 + 1 + 1 + 1);
    assert.equal(st.compactRevision, 2);
    assert.equal(reopened.get('early/3')?.modRevision, revisions[3]);
    assert.equal(reopened.prefix('early/').count, 50 - 9); // [early/10, early/19): early/10 .. early/18
    assert.equal(reopened.prefix('late/').count, 150);
    assert.equal(reopened.get('late/149')?.value.toString(), 'l149');
    assert.equal(reopened.get('gone'), undefined);
    assert.equal(reopened.prefix('txn/').count, 2);
    assert.equal(reopened.get('after'), undefined);
  } finally {
    await reopened.close();
  }
});

test('after close() every method refuses with AXIS_CLOSED', async () => {
  const dir = await tempDir();
  const store = await open(dir);
  await store.put('k', 'v');
  const snap = store.snapshot();
  const closing = store.close();
  // Closing already counts as closed.
  assert.throws(() => store.get('k'), isCode(ErrorCode.CLOSED), 'get while closing');
  await closing;

  const closed = isCode(ErrorCode.CLOSED);
  assert.throws(() => store.get('k'), closed, 'get');
  assert.throws(() => store.get('k', { revision: 1 }), closed, 'get at a revision');
  assert.throws(() => store.range('a', 'z'), closed, 'range');
  assert.throws(() => store.prefix(''), closed, 'prefix');
  assert.throws(() => store.history('k'), closed, 'history');
  assert.throws(() => store.changes(1), closed, 'changes');
  assert.throws(() => store.status(), closed, 'status');
  assert.throws(() => store.snapshot(), closed, 'snapshot');
  // Writes return rejected promises rather than throwing.
  const writes: [string, () => Promise<unknown>][] = [
    ['put', () => store.put('k', 'v2')],
    ['delete', () => store.delete('k')],
    ['deleteRange', () => store.deleteRange('a', 'z')],
    ['txn', () => store.txn({ success: [{ put: { key: 'k', value: 'v3' } }] })],
    ['compact', () => store.compact(1)],
    ['compact physical', () => store.compact(1, { physical: true })],
  ];
  for (const [what, call] of writes) {
    let p: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      p = call();
    }, `${what} does not throw synchronously`);
    await assert.rejects(p!, closed, what);
  }
  // close() again is harmless.
  await store.close();
  // A snapshot taken before close cannot read any more either.
  assert.throws(
    () => snap.get('k'),
    (e: unknown) => isAxisError(e, ErrorCode.CLOSED) || isAxisError(e, ErrorCode.SNAPSHOT_RELEASED),
    'snapshot read after close',
  );
  snap.release();

  // Nothing was written after close.
  const reopened = await open(dir);
  assert.equal(reopened.get('k')?.value.toString(), 'v');
  assert.equal(reopened.status().revision, 2);
  await reopened.close();
});
