/**
 * Watches through the cluster client: the same guarantees as in-process (checked by the same
 * validator against the change log), while writes go through other members, the watch's member
 * restarts (the watch resumes on another member from the last delivered revision), and compaction
 * overtakes a watcher.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../ts/errors/index.js';
import { connect, type ClientWatch } from '../ts/client/index.js';
import type { WatchResponse } from '../ts/storage/watch.js';
import type { Event } from '../ts/storage/types.js';
import { tempDirs } from './support/fixtures.js';
import { withMemoryCluster, type TestCluster } from './support/cluster.js';
import { validateWatch } from './support/watch-validator.js';

const dir = tempDirs('cwatch');

async function withCluster(fn: (c: TestCluster) => Promise<void>): Promise<void> {
  await withMemoryCluster(dir, (c) => fn(c));
}

/** Reads a watch until `until` holds, asking for progress while it is quiet. */
async function collect(w: ClientWatch, until: (rs: WatchResponse[]) => boolean, ms = 20_000): Promise<WatchResponse[]> {
  const rs: WatchResponse[] = [];
  const deadline = Date.now() + ms;
  // One read outstanding at a time, and none left behind when done (it would take a response).
  let pending: Promise<WatchResponse | undefined> | undefined;
  while (!until(rs)) {
    pending ??= w.next();
    const r = await Promise.race([pending, new Promise<'tick'>((res) => setTimeout(() => res('tick'), 100))]);
    if (Date.now() > deadline) throw new Error(`watch timed out after ${rs.length} responses (last revision ${rs.at(-1)?.revision ?? 0})`);
    if (r === 'tick') {
      w.requestProgress();
      continue;
    }
    pending = undefined;
    if (!r) break;
    rs.push(r);
  }
  if (pending) throw new Error('a read was left outstanding');
  return rs;
}

describe('watches through the cluster', { timeout: 120_000 }, () => {
  it('events from a past revision and live, through writes on other members, with prevKv', async () => {
    await withCluster(async (c) => {
      const writer = await c.client({ endpoints: [c.endpoints[0]!] });
      for (let i = 0; i < 10; i++) await writer.put(`w/${i % 3}`, `a${i}`);
      const watcher = await c.client({ endpoints: [c.endpoints[2]!], watchKeepAliveMs: 300 });
      const w = watcher.watch('w/', { prefix: true, startRevision: 2, prevKv: true });
      for (let i = 0; i < 10; i++) await writer.put(`w/${i % 3}`, `b${i}`);
      await writer.delete('w/1');
      await writer.put('other', 'x');
      const head = (await writer.prefix('', { countOnly: true })).revision;
      const rs = await collect(w, (all) => (all.at(-1)?.revision ?? 0) >= head);
      const events = await writer.changes(2);
      validateWatch(rs, 2, (k) => k.startsWith('w/'), (from, to) => events.events.filter((e) => e.kv.modRevision >= from && e.kv.modRevision <= to));
      const withPrev = rs.flatMap((r) => r.events).filter((e) => (e as { prevKv?: unknown }).prevKv);
      // Every event but each key's first put (3 keys) has its previous key-value: 7 + 10 + 1.
      assert.equal(withPrev.length, 18);
      w.cancel();
    });
  });

  it("the watch's member stops: the watch resumes on another member with no gap and no duplicate", async () => {
    await withCluster(async (c) => {
      const writer = await c.client({ endpoints: [c.endpoints[0]!, c.endpoints[1]!] });
      const watcher = await c.client({ endpoints: [c.endpoints[2]!, c.endpoints[1]!], watchKeepAliveMs: 200, attemptTimeoutMs: 300 });
      const start = (await writer.put('k', '0')).revision;
      const w = watcher.watch('k', { startRevision: start });
      const first = await collect(w, (all) => all.some((r) => r.events.length > 0));
      await c.stop(2, { transfer: false }); // the member the watch was created on
      for (let i = 1; i <= 20; i++) await writer.put('k', `${i}`);
      const head = (await writer.prefix('', { countOnly: true })).revision;
      const rest = await collect(w, (all) => (all.at(-1)?.revision ?? 0) >= head);
      const events = await writer.changes(start);
      validateWatch([...first, ...rest], start, (k) => k === 'k', (from, to) => events.events.filter((e) => e.kv.modRevision >= from && e.kv.modRevision <= to));
      assert.equal([...first, ...rest].flatMap((r) => r.events).length, 21);
      w.cancel();
    });
  });

  it('every guarantee holds while writes, compactions, leader changes and member restarts go on', async () => {
    await withCluster(async (c) => {
      const writer = await c.client({ attemptTimeoutMs: 300, timeoutMs: 20_000 });
      const watcher = await c.client({ watchKeepAliveMs: 200, attemptTimeoutMs: 300 });
      // The ground truth is the writer's own record (it is the only writer): compaction removes the
      // change log, not what was acknowledged.
      const log: Event[] = [];
      const put = async (key: string, value: string) => {
        const { revision } = await writer.put(key, value);
        log.push({ type: 'put', kv: { key: Buffer.from(key), value: Buffer.from(value), createRevision: 0, modRevision: revision, version: 0, lease: 0 } });
      };
      await put('m/0', '0');
      const start = log[0]!.kv.modRevision;
      const watches = [
        { w: watcher.watch('m/', { prefix: true, startRevision: start }), match: (k: string) => k.startsWith('m/') },
        { w: watcher.watch('m/1', { startRevision: start, prevKv: true }), match: (k: string) => k === 'm/1' },
        { w: watcher.watch('m/2', { end: 'm/5', startRevision: start }), match: (k: string) => k >= 'm/2' && k < 'm/5' },
      ];
      const records: WatchResponse[][] = watches.map(() => []);
      let stop = false;
      // Readers keep up, so compaction (behind all of them) never overtakes a watch.
      const readers = watches.map(async ({ w }, i) => {
        let pending: Promise<WatchResponse | undefined> | undefined;
        while (!stop) {
          pending ??= w.next();
          const r = await Promise.race([pending, new Promise<'tick'>((res) => setTimeout(() => res('tick'), 100))]);
          if (r === 'tick') continue;
          pending = undefined;
          if (!r) break;
          records[i]!.push(r);
        }
        if (pending) records[i]!.push(...[await pending].filter((x): x is WatchResponse => x !== undefined));
      });
      let n = 1;
      const writes = (async () => {
        while (!stop) {
          await put(`m/${n % 7}`, `${n}`);
          if (n % 11 === 0) {
            const key = `m/${(n + 3) % 7}`;
            const d = await writer.delete(key);
            if (d.deleted > 0) log.push({ type: 'delete', kv: { key: Buffer.from(key), value: Buffer.alloc(0), createRevision: 0, modRevision: d.revision, version: 0, lease: 0 } });
          }
          n++;
        }
      })();
      for (let round = 0; round < 4; round++) {
        await new Promise((r) => setTimeout(r, 400));
        const leader = await c.leader();
        const victim = round % 2 === 0 ? leader : (leader + 1) % 3; // the leader, or a follower
        await c.stop(victim, { transfer: round % 3 === 0 });
        await new Promise((r) => setTimeout(r, 300));
        await c.start(victim);
        await c.leader();
        const behind = Math.min(...records.map((rs) => rs.at(-1)?.revision ?? start)) - 5;
        if (behind > start) await writer.compact(behind);
      }
      stop = true;
      await writes;
      await Promise.all(readers);
      const head = (await writer.prefix('', { countOnly: true })).revision;
      assert.ok(n > 20, `enough writes (${n})`);
      for (const [i, { w, match }] of watches.entries()) {
        const rs = [...records[i]!, ...(await collect(w, (all) => (all.at(-1)?.revision ?? 0) >= head))];
        assert.ok(!rs.some((r) => r.canceled), 'no watch was cancelled');
        validateWatch(rs, start, match, (from, to) => log.filter((e) => e.kv.modRevision >= from && e.kv.modRevision <= to));
        w.cancel();
      }
    });
  });

  it('a reader that does not keep up: the watch steps back to catch-up and loses nothing', async () => {
    await withCluster(async (c) => {
      const writer = await c.client();
      const reader = await connect({ endpoints: c.endpoints, watchMaxBuffered: 4, watchKeepAliveMs: 300 });
      try {
        const start = (await writer.put('s', '0')).revision;
        const w = reader.watch('s', { startRevision: start });
        for (let i = 1; i <= 60; i++) await writer.put('s', `${i}`); // nobody reads meanwhile
        const head = (await writer.prefix('', { countOnly: true })).revision;
        const rs = await collect(w, (all) => (all.at(-1)?.revision ?? 0) >= head);
        const events = await writer.changes(start);
        validateWatch(rs, start, (k) => k === 's', (from, to) => events.events.filter((e) => e.kv.modRevision >= from && e.kv.modRevision <= to));
        assert.equal(rs.flatMap((r) => r.events).length, 61);
        w.cancel();
      } finally {
        await reader.close();
      }
    });
  });

  it('a watch from a compacted revision is cancelled with the compact revision; bad input is refused', async () => {
    await withCluster(async (c) => {
      const cl = await c.client();
      for (let i = 0; i < 5; i++) await cl.put('a', `${i}`);
      await cl.compact(5);
      const w = cl.watch('a', { startRevision: 2 });
      const rs = await collect(w, (all) => all.some((r) => r.canceled));
      assert.equal(rs.at(-1)!.canceled, true);
      assert.equal(rs.at(-1)!.compactRevision, 5);
      assert.equal(await w.next(), undefined, 'ended');
      assert.throws(() => cl.watch('', {}), (e: { code?: string }) => e.code === ErrorCode.EMPTY_KEY);
      assert.throws(() => cl.watch('b', { end: 'a' }), (e: { code?: string }) => e.code === ErrorCode.INVALID_RANGE);
    });
  });
});
