/**
 * Leases in the store: the replicated state machine's lease requests (grant, revoke, checkpoint,
 * renew; put attaches, deletes detach) and the embedded store's lessor (deadlines in memory, expiry
 * by revoke, checkpoints that survive a reopen). Time-dependent tests drive an injected clock and
 * wait for outcomes, never for durations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeWriteResult, encodeWrite, open, type OpenOptions, type Store, type WriteRequest } from '../ts/storage/index.js';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { entryApplier } from './support/apply-one.js';
import { tempDirs } from './support/fixtures.js';

const tempDir = tempDirs('lease');

async function withStore<T>(fn: (store: Store, dir: string) => Promise<T>, options: OpenOptions = {}): Promise<T> {
  const dir = await tempDir();
  const store = await open(dir, { durability: 'nosync', ...options });
  try {
    return await fn(store, dir);
  } finally {
    await store.close();
  }
}

async function rejects(code: string, p: Promise<unknown> | (() => unknown)): Promise<void> {
  await assert.rejects(async () => (typeof p === 'function' ? p() : p), (e: unknown) => isAxisError(e) && e.code === code);
}

/** Polls `cond` every 10 ms until it holds, up to `ms`. */
async function eventually(cond: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) assert.fail('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const str = (b: Buffer[] | undefined): string[] => (b ?? []).map((k) => k.toString());

test('grant, list, timeToLive and revoke; a missing lease is AXIS_LEASE_NOT_FOUND', { timeout: 20_000 }, async () => {
  await withStore(async (s) => {
    assert.deepEqual(s.leases(), []);
    assert.deepEqual(await s.leaseGrant(60, { id: 7 }), { id: 7, ttl: 60 });
    const random = await s.leaseGrant(30);
    assert.ok(Number.isSafeInteger(random.id) && random.id > 0 && random.id < 2 ** 52);
    assert.equal(random.ttl, 30);
    assert.deepEqual(s.leases().map((l) => l.id).sort((a, b) => a - b), [7, random.id].sort((a, b) => a - b));
    await rejects(ErrorCode.LEASE_EXISTS, s.leaseGrant(10, { id: 7 }));
    // Grants make no revision.
    assert.equal(s.revision(), 1);
    const ttl = s.leaseTimeToLive(7, { keys: true });
    assert.equal(ttl.id, 7);
    assert.equal(ttl.ttl, 60);
    assert.ok(ttl.remaining >= 58 && ttl.remaining <= 60, `remaining ${ttl.remaining}`);
    assert.deepEqual(ttl.keys, []);
    assert.equal(s.leaseTimeToLive(7).keys, undefined);
    // A revoke of a lease without keys makes no revision either (etcd's too).
    assert.deepEqual(await s.leaseRevoke(7), { revision: 1, deleted: 0 });
    assert.deepEqual(s.leases(), [{ id: random.id }]);
    await rejects(ErrorCode.LEASE_NOT_FOUND, s.leaseRevoke(7));
    await rejects(ErrorCode.LEASE_NOT_FOUND, () => s.leaseTimeToLive(7));
    await rejects(ErrorCode.LEASE_NOT_FOUND, s.leaseKeepAlive(7));
    // Bad arguments.
    for (const bad of [0, -1, 1.5, 9_000_000_001, Number.NaN]) await rejects(ErrorCode.INVALID_ARGUMENT, s.leaseGrant(bad));
    for (const bad of [0, -3, 2 ** 53]) await rejects(ErrorCode.INVALID_ARGUMENT, s.leaseGrant(5, { id: bad }));
    await rejects(ErrorCode.INVALID_ARGUMENT, s.leaseRevoke(0));
    assert.deepEqual(await s.leaseGrant(9_000_000_000, { id: 2 ** 53 - 1 }), { id: 2 ** 53 - 1, ttl: 9_000_000_000 });
    assert.equal(s.revision(), 1);
  });
});

test('a put with a missing lease fails and changes nothing, also inside a txn', { timeout: 20_000 }, async () => {
  await withStore(async (s) => {
    await s.put('a', '1');
    await rejects(ErrorCode.LEASE_NOT_FOUND, s.put('b', '1', { lease: 99 }));
    await rejects(ErrorCode.LEASE_NOT_FOUND, s.txn({ success: [{ put: { key: 'c', value: '1' } }, { put: { key: 'd', value: '1', lease: 99 } }] }));
    // A failing put queued with others fails alone.
    const [ok, bad] = await Promise.allSettled([s.put('e', '1'), s.put('f', '1', { lease: 99 })]);
    assert.equal(ok.status, 'fulfilled');
    assert.equal(bad.status, 'rejected');
    assert.deepEqual(s.prefix('').kvs.map((k) => k.key.toString()), ['a', 'e']);
    assert.equal(s.revision(), 3);
    // The branch that does not run is not checked (etcd checks the path taken).
    const r = await s.txn({ compare: [{ key: 'a', target: 'version', result: '=', value: 1 }], failure: [{ put: { key: 'g', value: '1', lease: 99 } }] });
    assert.equal(r.succeeded, true);
  });
});

test('revoke deletes every attached key in one revision and detaches them', { timeout: 20_000 }, async () => {
  await withStore(async (s) => {
    const { id } = await s.leaseGrant(60);
    const other = (await s.leaseGrant(60)).id;
    await s.put('k/b', 'b', { lease: id }); // 2
    await s.put('k/a', 'a', { lease: id }); // 3
    await s.put('k/c', 'c', { lease: other }); // 4
    await s.put('free', 'x'); // 5
    assert.equal(s.get('k/a')?.lease, id);
    assert.deepEqual(str(s.leaseTimeToLive(id, { keys: true }).keys), ['k/a', 'k/b']);
    const r = await s.leaseRevoke(id);
    assert.deepEqual(r, { revision: 6, deleted: 2 });
    assert.equal(s.get('k/a'), undefined);
    assert.equal(s.get('k/b'), undefined);
    assert.equal(s.get('k/c')?.value.toString(), 'c');
    // One revision, two delete events in key order, versions reset (a new put starts at version 1).
    const ch = s.changes(6);
    assert.deepEqual(ch.events.map((e) => [e.type, e.kv.key.toString(), e.kv.modRevision]), [['delete', 'k/a', 6], ['delete', 'k/b', 6]]);
    await s.put('k/a', 'again');
    assert.equal(s.get('k/a')?.version, 1);
    assert.equal(s.get('k/a')?.lease, 0);
    assert.deepEqual(s.leases().map((l) => l.id), [other]);
  });
});

test('a put moves its key to its new lease; ignoreLease keeps it; a put without one detaches; deletes detach', { timeout: 20_000 }, async () => {
  await withStore(async (s) => {
    await s.leaseGrant(60, { id: 1 });
    await s.leaseGrant(60, { id: 2 });
    const keys = (id: number): string[] => str(s.leaseTimeToLive(id, { keys: true }).keys);
    await s.put('a', '1', { lease: 1 });
    await s.put('b', '1', { lease: 1 });
    await s.put('c', '1', { lease: 1 });
    await s.put('d', '1', { lease: 2 });
    await s.put('a', '2', { lease: 2 }); // reattached
    assert.deepEqual([keys(1), keys(2)], [['b', 'c'], ['a', 'd']]);
    await s.put('b', '2', { ignoreLease: true });
    assert.equal(s.get('b')?.lease, 1);
    assert.deepEqual(keys(1), ['b', 'c']);
    await s.put('c', '2'); // no lease: detached
    assert.deepEqual(keys(1), ['b']);
    await s.delete('b');
    assert.deepEqual(keys(1), []);
    await s.deleteRange('a', 'e');
    assert.deepEqual(keys(2), []);
    // Revoking the now keyless leases deletes nothing, in no new revision.
    const rev = s.revision();
    assert.deepEqual(await s.leaseRevoke(1), { revision: rev, deleted: 0 });
    assert.deepEqual(await s.leaseRevoke(2), { revision: rev, deleted: 0 });
    // A key put again after its delete is not resurrected into its old lease.
    await s.leaseGrant(60, { id: 3 });
    await s.put('x', '1', { lease: 3 });
    await s.txn({ success: [{ deleteRange: { key: 'x' } }] });
    await s.put('x', '2');
    assert.deepEqual((await s.leaseRevoke(3)).deleted, 0);
    assert.equal(s.get('x')?.value.toString(), '2');
  });
});

test('checkpoints survive close and reopen; a keepalive clears them', { timeout: 30_000 }, async () => {
  let now = 1_000_000;
  const clock = (): number => now;
  const dir = await tempDir();
  const opts: OpenOptions = { durability: 'nosync', leaseClock: clock, leaseCheckpointIntervalMs: 20, leaseExpiryIntervalMs: 20 };
  let s = await open(dir, opts);
  try {
    await s.leaseGrant(100, { id: 1 });
    await s.leaseGrant(100, { id: 2 });
    now += 40_000;
    assert.equal(s.leaseTimeToLive(1).remaining, 60);
    // Wait for a checkpoint to be stored (a reopen then tells).
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    await s.close();
  }
  now += 500_000; // time while closed does not count (the deadline restarts from the checkpoint)
  s = await open(dir, opts);
  try {
    assert.equal(s.leaseTimeToLive(1).remaining, 60);
    assert.equal(s.leaseTimeToLive(2).remaining, 60);
    now += 10_000;
    assert.deepEqual(await s.leaseKeepAlive(1), { id: 1, ttl: 100 });
    assert.equal(s.leaseTimeToLive(1).remaining, 100);
    assert.equal(s.leaseTimeToLive(2).remaining, 50);
  } finally {
    // Stop before the next checkpoint could store lease 1's remaining TTL again: close right away.
    await s.close();
  }
  // Without a checkpointer, reopened: lease 1's checkpoint was cleared by the renew (full TTL),
  // lease 2 resumes from its last checkpoint (≤ 60 s).
  s = await open(dir, { durability: 'nosync', leaseClock: clock, leaseCheckpointIntervalMs: 1_000_000 });
  try {
    assert.ok(s.leaseTimeToLive(1).remaining >= 99, `lease 1: ${s.leaseTimeToLive(1).remaining}`);
    assert.ok(s.leaseTimeToLive(2).remaining <= 60, `lease 2: ${s.leaseTimeToLive(2).remaining}`);
  } finally {
    await s.close();
  }
});

test('only leases longer than the checkpoint interval are checkpointed', { timeout: 20_000 }, async () => {
  let now = 0;
  const dir = await tempDir();
  let s = await open(dir, { durability: 'nosync', leaseClock: () => now, leaseCheckpointIntervalMs: 1500 });
  try {
    await s.leaseGrant(1, { id: 1 }); // 1000 ms: not longer than the interval
    await s.leaseGrant(10, { id: 2 });
    now = 500;
    await new Promise((r) => setTimeout(r, 2500)); // one checkpoint round
  } finally {
    await s.close();
  }
  s = await open(dir, { durability: 'nosync', leaseClock: () => now, lessor: false });
  try {
    assert.equal(s.leaseTimeToLive(1).remaining, 1); // no checkpoint: the full TTL
    assert.equal(s.leaseTimeToLive(2).remaining, 9); // 9500 ms, rounded down
  } finally {
    await s.close();
  }
});

test('leases due together are staggered when a lessor starts: no second holds more than the revoke rate', { timeout: 20_000 }, async () => {
  const now = 0;
  const dir = await tempDir();
  let s = await open(dir, { durability: 'nosync', leaseClock: () => now });
  try {
    for (let id = 1; id <= 50; id++) await s.leaseGrant(100, { id });
  } finally {
    await s.close();
  }
  // Reopened (as a new cluster leader starts its lessor): all 50 were due at 100 s; at 10 a second
  // they are spread over 100..104 s.
  s = await open(dir, { durability: 'nosync', leaseClock: () => now, leaseRevokeRate: 10 });
  try {
    const bySecond = new Map<number, number>();
    for (let id = 1; id <= 50; id++) {
      const r = s.leaseTimeToLive(id).remaining;
      bySecond.set(r, (bySecond.get(r) ?? 0) + 1);
    }
    assert.deepEqual([...bySecond].sort((a, b) => a[0] - b[0]), [[100, 10], [101, 10], [102, 10], [103, 10], [104, 10]]);
  } finally {
    await s.close();
  }
});

test('an expired lease is revoked with its keys; a keepalive of it fails', { timeout: 30_000 }, async () => {
  let now = 0;
  await withStore(
    async (s) => {
      await s.leaseGrant(5, { id: 1 });
      await s.leaseGrant(50, { id: 2 });
      await s.put('a', '1', { lease: 1 });
      await s.put('b', '1', { lease: 1 });
      await s.put('c', '1', { lease: 2 });
      now += 4_000;
      await s.leaseKeepAlive(1); // 5 s from now
      now += 4_000;
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(s.get('a')?.value.toString(), '1');
      now += 2_000;
      await rejects(ErrorCode.LEASE_NOT_FOUND, s.leaseKeepAlive(1));
      await eventually(() => s.get('a') === undefined);
      assert.equal(s.get('b'), undefined);
      assert.equal(s.get('c')?.value.toString(), '1');
      assert.deepEqual(s.leases(), [{ id: 2 }]);
      // Both keys went in one revision.
      const events = s.changes(s.revision()).events;
      assert.deepEqual(events.map((e) => e.kv.key.toString()), ['a', 'b']);
    },
    { leaseClock: () => now, leaseExpiryIntervalMs: 10 },
  );
});

test('expiry with the real clock: a 1 s lease goes by itself', { timeout: 30_000 }, async () => {
  await withStore(
    async (s) => {
      const { id } = await s.leaseGrant(1);
      await s.put('k', 'v', { lease: id });
      await eventually(() => s.get('k') === undefined, 20_000);
      await rejects(ErrorCode.LEASE_NOT_FOUND, () => s.leaseTimeToLive(id));
    },
    { leaseExpiryIntervalMs: 50 },
  );
});

test('expiry is rate limited but gets through every due lease', { timeout: 30_000 }, async () => {
  let now = 0;
  await withStore(
    async (s) => {
      for (let i = 1; i <= 30; i++) {
        await s.leaseGrant(1, { id: i });
        await s.put(`k${i}`, 'v', { lease: i });
      }
      now = 10_000;
      await eventually(() => s.leases().length === 0);
      assert.equal(s.prefix('').count, 0);
    },
    { leaseClock: () => now, leaseExpiryIntervalMs: 10, leaseRevokeRate: 100 },
  );
});

test('lessor: false keeps leases but never expires them', { timeout: 20_000 }, async () => {
  let now = 0;
  await withStore(
    async (s) => {
      await s.leaseGrant(1, { id: 1 });
      await s.put('k', 'v', { lease: 1 });
      now = 100_000;
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(s.get('k')?.lease, 1);
      assert.deepEqual(s.leaseTimeToLive(1), { id: 1, ttl: 1, remaining: 1 });
    },
    { lessor: false, leaseClock: () => now },
  );
});

test('open refuses bad lessor options', { timeout: 20_000 }, async () => {
  const dir = await tempDir();
  for (const bad of [{ leaseExpiryIntervalMs: 0 }, { leaseCheckpointIntervalMs: -1 }, { leaseRevokeRate: 1.5 }, { lessor: 'yes' }]) {
    await rejects(ErrorCode.INVALID_ARGUMENT, open(dir, bad as OpenOptions));
  }
  await (await open(dir)).close();
});

test('lease write requests through encodeWrite and apply: the same results, deduplicated, persisted', { timeout: 30_000 }, async () => {
  await withStore(
    async (s) => {
      const applier = entryApplier(s);
      const applyOne = applier.apply;
      assert.deepEqual(await applyOne({ leaseGrant: { id: 10, ttl: 60 } }), { revision: 1, id: 10, ttl: 60 });
      const grantSeq = applier.seq();
      // A retried grant gets the first answer, not AXIS_LEASE_EXISTS.
      assert.deepEqual(await applyOne({ leaseGrant: { id: 10, ttl: 60 } }, 1, grantSeq), { revision: 1, id: 10, ttl: 60 });
      await assert.rejects(applyOne({ leaseGrant: { id: 10, ttl: 60 } }), (e: unknown) => isAxisError(e, ErrorCode.LEASE_EXISTS));
      await assert.rejects(applyOne({ put: { key: 'x', value: '1', options: { lease: 11 } } }), (e: unknown) => isAxisError(e, ErrorCode.LEASE_NOT_FOUND));
      assert.equal(s.get('x'), undefined);
      assert.deepEqual(await applyOne({ put: { key: 'a', value: '1', options: { lease: 10 } } }), { revision: 2 });
      assert.deepEqual(await applyOne({ put: { key: 'b', value: '1', options: { lease: 10 } } }), { revision: 3 });
      assert.deepEqual(await applyOne({ leaseCheckpoint: { leases: [{ id: 10, remainingMs: 12_345 }, { id: 999, remainingMs: 1 }] } }), { revision: 3 });
      // The checkpoint is stored (a lessor-less store reports it).
      assert.equal(s.leaseTimeToLive(10).remaining, 12);
      assert.deepEqual(await applyOne({ leaseRenew: { id: 10 } }), { revision: 3, ttl: 60, renewals: 1 });
      assert.equal(s.leaseTimeToLive(10).remaining, 60);
      // An expiry decided before that keepalive loses to it and changes nothing; one that counted it revokes.
      await assert.rejects(applyOne({ leaseExpire: { id: 10, renewals: 0 } }), (e: unknown) => isAxisError(e, ErrorCode.LEASE_RENEWED));
      assert.equal(s.get('a')?.value.toString(), '1');
      assert.deepEqual(await applyOne({ leaseRenew: { id: 10 } }), { revision: 3, ttl: 60, renewals: 2 });
      assert.deepEqual(s.storedLeases(), [{ id: 10, ttl: 60, remainingMs: 0, renewals: 2 }]);
      await assert.rejects(applyOne({ leaseExpire: { id: 11, renewals: 0 } }), (e: unknown) => isAxisError(e, ErrorCode.LEASE_NOT_FOUND));
      await assert.rejects(applyOne({ leaseRenew: { id: 11 } }), (e: unknown) => isAxisError(e, ErrorCode.LEASE_NOT_FOUND));
      assert.deepEqual(await applyOne({ leaseExpire: { id: 10, renewals: 2 } }), { revision: 4, deleted: 2 });
      const revokeSeq = applier.seq();
      assert.equal(s.get('a'), undefined);
      // A retried revoke is answered from its record: same result, nothing applied again.
      assert.deepEqual(await applyOne({ leaseExpire: { id: 10, renewals: 2 } }, 1, revokeSeq), { revision: 4, deleted: 2 });
      assert.equal(s.revision(), 4);
      await assert.rejects(applyOne({ leaseRevoke: { id: 10 } }), (e: unknown) => isAxisError(e, ErrorCode.LEASE_NOT_FOUND));
      // Every entry was applied, failures included.
      assert.equal(s.applied().index, applier.index());
      // Validation as the Store's.
      for (const bad of [{ leaseGrant: { id: 0, ttl: 1 } }, { leaseGrant: { id: 1, ttl: 0 } }, { leaseRevoke: { id: -1 } },
        { leaseCheckpoint: { leases: [{ id: 1, remainingMs: -1 }] } }, { leaseCheckpoint: { leases: 'x' } }, { leaseRenew: {} },
        { leaseExpire: { id: 1 } }, { leaseExpire: { id: 1, renewals: -1 } }]) {
        assert.throws(() => encodeWrite(bad as WriteRequest), (e: unknown) => isAxisError(e, ErrorCode.INVALID_ARGUMENT));
      }
    },
    { lessor: false },
  );
});

test('the same lease requests through the embedded API and through apply give the same state', { timeout: 30_000 }, async () => {
  const run = async (useApply: boolean): Promise<unknown> =>
    withStore(
      async (s) => {
        let index = 0;
        const w = async (r: WriteRequest): Promise<void> => {
          if (useApply) {
            const [res] = await s.apply([{ index: ++index, term: 1, request: { client: 1, seq: index, floor: 0, body: encodeWrite(r) } }]);
            decodeWriteResult(r, res!);
          } else if ('leaseGrant' in r) await s.leaseGrant(r.leaseGrant.ttl, { id: r.leaseGrant.id });
          else if ('leaseRevoke' in r) await s.leaseRevoke(r.leaseRevoke.id);
          else if ('put' in r) await s.put(r.put.key, r.put.value, r.put.options);
          else if ('delete' in r) await s.delete(r.delete.key);
        };
        await w({ leaseGrant: { id: 1, ttl: 60 } });
        await w({ leaseGrant: { id: 2, ttl: 60 } });
        await w({ put: { key: 'a', value: '1', options: { lease: 1 } } });
        await w({ put: { key: 'b', value: '1', options: { lease: 1 } } });
        await w({ put: { key: 'c', value: '1', options: { lease: 2 } } });
        await w({ put: { key: 'b', value: '2', options: { lease: 2 } } });
        await w({ delete: { key: 'c' } });
        await w({ leaseRevoke: { id: 2 } });
        return {
          kvs: s.prefix('').kvs,
          changes: s.changes(1).events,
          leases: s.leases(),
          keys: str(s.leaseTimeToLive(1, { keys: true }).keys),
        };
      },
      { lessor: false },
    );
  assert.deepEqual(await run(true), await run(false));
});
