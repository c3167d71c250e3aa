/**
 * Watches over the embedded store, checked by a validator of etcd's guarantees against the change
 * log itself: ordered by revision, no duplicates, no gaps from the start revision, a revision never
 * split across responses, a response's revision promising everything before it, cancellation with
 * the compact revision when a watcher falls behind compaction.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { open, type Store } from '../ts/storage/index.js';
import { Watch, WatchHub, type WatchOptions, type WatchResponse } from '../ts/storage/watch.js';
import { mulberry32, tempDirs } from './support/fixtures.js';
import { validateWatch } from './support/watch-validator.js';

const dir = tempDirs('watch');

async function withStore(fn: (s: Store, hub: WatchHub) => Promise<void>): Promise<void> {
  const s = await open(await dir(), { durability: 'nosync' });
  const hub = new WatchHub({
    revision: () => s.revision(),
    compactRevision: () => s.status().compactRevision,
    changes: (from, o) => s.changes(from, o),
    get: (k, o) => s.get(k, o),
  }, { progressIntervalMs: 50 });
  try {
    await fn(s, hub);
  } finally {
    hub.close();
    await s.close();
  }
}

/** Reads responses until `until` says stop (or the watch ends), within a time bound. */
async function collect(w: Watch, until: (all: WatchResponse[]) => boolean, ms = 5000): Promise<WatchResponse[]> {
  const all: WatchResponse[] = [];
  const deadline = Date.now() + ms;
  while (!until(all)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`watch ${w.id}: timed out after ${all.length} responses`);
    const r = await Promise.race([w.next(), new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), left))]);
    if (r === 'timeout') throw new Error(`watch ${w.id}: timed out after ${all.length} responses`);
    if (r === undefined) break;
    all.push(r);
  }
  return all;
}

const lastRevision = (rs: WatchResponse[]): number => (rs.length ? rs[rs.length - 1]!.revision : 0);

function validate(s: Store, rs: WatchResponse[], start: number, match: (key: string) => boolean, opts: { noPut?: boolean; noDelete?: boolean } = {}): void {
  validateWatch(rs, start, match, (from, to) => (to >= from ? s.changes(from, { to }).events : []), opts);
}

describe('watches (embedded store)', { timeout: 60_000 }, () => {
  it('a key: its puts and deletes from now on, with prevKv, txns whole', async () => {
    await withStore(async (s, hub) => {
      await s.put('a', '0');
      const w = new Watch(hub, 'a', { prevKv: true });
      await s.put('a', '1');
      await s.put('b', '1');
      await s.delete('a');
      await s.txn({ success: [{ put: { key: 'a', value: '2' } }, { put: { key: 'c', value: '2' } }] });
      hub.notify();
      const rs = await collect(w, (all) => lastRevision(all) >= 6);
      validate(s, rs, 3, (k) => k === 'a');
      const events = rs.flatMap((r) => r.events);
      assert.deepEqual(events.map((e) => [e.type, e.kv.value.toString(), e.prevKv?.value.toString()]), [
        ['put', '1', '0'],
        ['delete', '', '1'],
        ['put', '2', undefined],
      ]);
      w.cancel();
      const end = await collect(w, (all) => all.some((r) => r.canceled));
      assert.equal(end.at(-1)!.canceled, true);
      assert.equal(hub.size, 0);
    });
  });

  it('prefixes, ranges and filters', async () => {
    await withStore(async (s, hub) => {
      const watches: [Watch, (k: string) => boolean, WatchOptions][] = [];
      const add = (key: string, o: WatchOptions, match: (k: string) => boolean) => watches.push([new Watch(hub, key, o), match, o]);
      add('p/', { prefix: true }, (k) => k.startsWith('p/'));
      add('b', { end: 'd' }, (k) => k >= 'b' && k < 'd');
      add('m', { end: null }, (k) => k >= 'm');
      add('p/', { prefix: true, filters: ['noDelete'] }, (k) => k.startsWith('p/'));
      add('p/', { prefix: true, filters: ['noPut'] }, (k) => k.startsWith('p/'));
      add('', { prefix: true }, () => true);
      for (const k of ['a', 'b', 'c', 'd', 'p/1', 'p/2', 'z', 'm']) await s.put(k, 'v');
      await s.deleteRange('a', null);
      hub.notify();
      const head = s.revision();
      for (const [w, match, o] of watches) {
        const rs = await collect(w, (all) => lastRevision(all) >= head);
        validate(s, rs, 2, match, { noPut: o.filters?.includes('noPut'), noDelete: o.filters?.includes('noDelete') });
      }
    });
  });

  it('from a past revision, through live writes, with many watchers and a slow reader: every guarantee holds', async () => {
    await withStore(async (s, hub) => {
      const rnd = mulberry32(7);
      const keys = Array.from({ length: 12 }, (_, i) => `k${String(i).padStart(2, '0')}`);
      const write = async () => {
        const k = keys[Math.floor(rnd() * keys.length)]!;
        const r = rnd();
        if (r < 0.6) await s.put(k, `v${Math.floor(rnd() * 1e6)}`);
        else if (r < 0.8) await s.delete(k);
        else await s.txn({ success: keys.filter(() => rnd() < 0.3).map((key) => ({ put: { key, value: 't' } })) });
        hub.notify();
      };
      for (let i = 0; i < 300; i++) await write();
      const specs: [string, WatchOptions, (k: string) => boolean, number][] = [
        ['k0', { prefix: true, startRevision: 2 }, (k) => k.startsWith('k0'), 2],
        ['k03', { end: 'k08', startRevision: 150 }, (k) => k >= 'k03' && k < 'k08', 150],
        ['k05', { startRevision: 1 }, (k) => k === 'k05', 1],
        ['', { prefix: true }, () => true, s.revision() + 1],
      ];
      const watches = specs.map(([k, o]) => new Watch(hub, k, o, 2)); // tiny buffers: falls behind, catches up
      let finalHead = Infinity;
      const writing = (async () => {
        for (let i = 0; i < 300; i++) await write();
        finalHead = s.revision();
      })();
      const sleep = (ms: number) => new Promise<'tick'>((res) => setTimeout(() => res('tick'), ms));
      const records = await Promise.all(
        watches.map(async (w, i) => {
          const rs: WatchResponse[] = [];
          const deadline = Date.now() + 30000;
          let pending = w.next(); // one read outstanding at a time: a response is never left unread
          for (;;) {
            const r = await Promise.race([pending, sleep(50)]);
            if (Date.now() > deadline) throw new Error(`watch ${i} timed out at ${lastRevision(rs)}`);
            if (r === 'tick') {
              if (finalHead !== Infinity) w.requestProgress(); // caught up and quiet: say how far
              continue;
            }
            if (!r) break;
            pending = w.next();
            rs.push(r);
            if (i === 0) await sleep(1); // a slow reader
            if (r.revision >= finalHead) break;
          }
          return rs;
        }),
      );
      await writing;
      specs.forEach(([, , match, start], i) => {
        validate(s, records[i]!, start, match);
        assert.equal(lastRevision(records[i]!), s.revision(), `watch ${i} reached the head`);
      });
    });
  });

  it('a watcher behind compaction is cancelled with the compact revision', async () => {
    await withStore(async (s, hub) => {
      for (let i = 0; i < 6; i++) await s.put('a', `${i}`);
      await s.compact(5);
      const w = new Watch(hub, 'a', { startRevision: 3 });
      const rs = await collect(w, (all) => all.some((r) => r.canceled));
      assert.equal(rs.length, 1);
      assert.equal(rs[0]!.canceled, true);
      assert.equal(rs[0]!.compactRevision, 5);
      assert.equal(rs[0]!.events.length, 0);
      // From the compact revision on is fine.
      const ok = new Watch(hub, 'a', { startRevision: 5 });
      validate(s, await collect(ok, (all) => lastRevision(all) >= 7), 5, (k) => k === 'a');
    });
  });

  it('progress: on request, and periodically when asked, only once caught up', async () => {
    await withStore(async (s, hub) => {
      await s.put('x', '1');
      const w = new Watch(hub, 'a', { progressNotify: true });
      w.requestProgress();
      const [r] = await collect(w, (all) => all.length >= 1);
      assert.deepEqual(r, { watchId: w.id, events: [], revision: 2 });
      await s.put('x', '2');
      hub.notify();
      // Nothing on 'a' changed; a periodic notification still says how far the watch is.
      const later = await collect(w, (all) => lastRevision(all) >= 3);
      assert.equal(later.at(-1)!.events.length, 0);
    });
  });

  it('bad input gets a coded error and starts nothing', async () => {
    await withStore(async (_s, hub) => {
      const bad = (f: () => unknown, code: string) => assert.throws(f, (e) => isAxisError(e) && e.code === code);
      bad(() => new Watch(hub, '', {}), ErrorCode.EMPTY_KEY);
      bad(() => new Watch(hub, 'b', { end: 'a' }), ErrorCode.INVALID_RANGE);
      bad(() => new Watch(hub, 'a', { prefix: true, end: 'b' }), ErrorCode.INVALID_ARGUMENT);
      bad(() => new Watch(hub, 'a', { startRevision: -1 }), ErrorCode.INVALID_ARGUMENT);
      bad(() => new Watch(hub, 'a', { filters: ['noGet' as never] }), ErrorCode.INVALID_ARGUMENT);
      assert.equal(hub.size, 0);
    });
  });
});

describe('store.watch (the embedded API)', { timeout: 30_000 }, () => {
  it('hears every commit by itself, and ends when the store closes', async () => {
    const s = await open(await dir(), { durability: 'nosync' });
    const w = s.watch('k', { prefix: true, prevKv: true });
    await s.put('k1', 'a');
    await s.txn({ success: [{ put: { key: 'k1', value: 'b' } }, { put: { key: 'k2', value: 'c' } }] });
    await s.put('x', 'ignored');
    const rs = await collect(w, (all) => lastRevision(all) >= 3);
    validate(s, rs, 2, (k) => k.startsWith('k'));
    assert.deepEqual(rs.flatMap((r) => r.events).map((e) => [e.kv.key.toString(), e.kv.value.toString(), e.prevKv?.value.toString()]), [
      ['k1', 'a', undefined],
      ['k1', 'b', 'a'],
      ['k2', 'c', undefined],
    ]);
    await s.close();
    const end = await collect(w, (all) => all.some((r) => r.canceled));
    assert.equal(end.at(-1)!.cancelReason, 'the store is closed');
    assert.equal(await w.next(), undefined);
    assert.throws(() => s.watch('k'), (e) => isAxisError(e, ErrorCode.CLOSED));
  });
});
