/**
 * The scenarios every `KV` implementation must pass: the in-memory model, the native store and
 * (later) the cluster client. Reads are always awaited, since a remote client answers them
 * asynchronously. Every test opens its own store and closes it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { ErrorCode, isAxisError } from '../../ts/errors/index.js';
import {
  Limits,
  type Compare,
  type CompareResult,
  type CompareTarget,
  type Event,
  type KeyValue,
  type KV,
  type KVRead,
  type RequestOp,
  type Snapshot,
  type SortOrder,
  type SortTarget,
} from '../../ts/storage/types.js';

export type SuiteStore = KV & {
  snapshot?(): Snapshot;
  /** Scenarios that put keys with leases run only where leases can be granted. */
  leaseGrant?(ttl: number, options?: { id?: number }): Promise<unknown>;
};

/** The lease ids the scenarios attach keys to, granted (long TTL, no revision) before each of them. */
const SUITE_LEASES = [3, 5, 7, 9, 42];

export interface SuiteOptions {
  /** The implementation has pinned read views (`snapshot()`): the embedded store does, a remote client does not. */
  snapshots?: boolean;
  /** The implementation grants leases (`leaseGrant`), so the scenarios putting keys with leases run (default true). */
  leases?: boolean;
}

// ---------------------------------------------------------------------------------------------
// helpers

/** Bytes from a string, one byte per char ('\xff' is the byte 0xff). */
export const bin = (s: string): Buffer => Buffer.from(s, 'latin1');

const EMPTY = Buffer.alloc(0);

function kv(key: string, value: string, createRevision: number, modRevision: number, version: number, lease = 0): KeyValue {
  return { key: bin(key), value: bin(value), createRevision, modRevision, version, lease };
}

const putEvent = (k: KeyValue): Event => ({ type: 'put', kv: k });

function delEvent(key: string, modRevision: number): Event {
  return { type: 'delete', kv: { key: bin(key), value: EMPTY, createRevision: 0, modRevision, version: 0, lease: 0 } };
}

/** Drops properties whose value is undefined (an absent `prevKv` may be either), recursively. */
export function plain(x: unknown): unknown {
  if (Buffer.isBuffer(x) || x instanceof Uint8Array) return x;
  if (Array.isArray(x)) return x.map(plain);
  if (typeof x === 'object' && x !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) if (v !== undefined) out[k] = plain(v);
    return out;
  }
  return x;
}

function same(actual: unknown, expected: unknown, message?: string): void {
  assert.deepStrictEqual(plain(actual), plain(expected), message);
}

function keysOf(kvs: KeyValue[]): string[] {
  return kvs.map((k) => k.key.toString('latin1'));
}

/** The store's (or snapshot's) current revision, as reported by a read. */
async function revisionOf(s: KVRead): Promise<number> {
  return (await s.prefix('', { countOnly: true })).revision;
}

/** `fn` must fail (throw or reject) with an AxisError of `code`. */
async function expectCode(code: ErrorCode, fn: () => unknown): Promise<void> {
  let result: unknown;
  try {
    result = await fn();
  } catch (err) {
    assert.ok(isAxisError(err), `expected AxisError ${code}, got ${inspect(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return;
  }
  assert.fail(`expected ${code}, got ${inspect(result)}`);
}

/** A write must return a rejected promise, never throw synchronously. */
async function expectReject(code: ErrorCode, fn: () => Promise<unknown>): Promise<void> {
  let p: Promise<unknown>;
  try {
    p = fn();
  } catch (err) {
    assert.fail(`threw synchronously instead of rejecting: ${inspect(err)}`);
  }
  assert.ok(p instanceof Promise, 'a write must return a promise');
  await expectCode(code, () => p);
}

/** Everything a store shows: its revision and all live key-values. */
async function stateOf(s: SuiteStore): Promise<unknown> {
  return plain(await s.prefix(''));
}

/** Runs `fn` and checks that the store's revision and contents did not change. */
async function expectNoChange(s: SuiteStore, fn: () => Promise<void>): Promise<void> {
  const before = await stateOf(s);
  await fn();
  assert.deepStrictEqual(await stateOf(s), before, 'the store changed');
}

/** Puts `key` → `v:key` for each key, in order. */
async function fill(s: SuiteStore, keys: string[]): Promise<void> {
  for (const k of keys) await s.put(bin(k), bin(`v:${k}`));
}

// ---------------------------------------------------------------------------------------------

export function kvSuite(name: string, open: () => Promise<SuiteStore>, options: SuiteOptions = { snapshots: true }): void {
  const snapshot = (s: SuiteStore): Snapshot => {
    if (!s.snapshot) throw new Error(`${name} has no snapshot()`);
    return s.snapshot();
  };
  /** A test with a fresh store, closed afterwards. */
  function test(title: string, fn: (s: SuiteStore) => Promise<void>): void {
    it(title, async () => {
      const s = await open();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });
  }

  /**
   * A test that puts keys with leases: the suite's leases are granted first. Registered only for
   * implementations that grant leases (`options.leases`, default true).
   */
  function leaseTest(title: string, fn: (s: SuiteStore) => Promise<void>): void {
    if (options.leases === false) return;
    test(title, async (s) => {
      if (!s.leaseGrant) throw new Error(`${name} has no leaseGrant()`);
      for (const id of SUITE_LEASES) await s.leaseGrant(3600, { id });
      await fn(s);
    });
  }

  describe(`${name}: kv suite`, () => {
    describe('revisions and versions', () => {
      test('an empty store is at revision 1 with nothing in it', async (s) => {
        same(await s.prefix(''), { kvs: [], more: false, count: 0, revision: 1 });
        assert.equal(await s.get('a'), undefined);
        same(await s.history('a'), []);
        same(await s.changes(1), { events: [], more: false, next: 1, revision: 1 });
      });

      test('each put makes one revision; version counts the writes of a key', async (s) => {
        same(await s.put('a', '1'), { revision: 2 });
        same(await s.get('a'), kv('a', '1', 2, 2, 1));
        same(await s.put('a', '2'), { revision: 3 });
        same(await s.get('a'), kv('a', '2', 2, 3, 2));
        same(await s.put('b', 'x'), { revision: 4 });
        same(await s.get('b'), kv('b', 'x', 4, 4, 1));
        same(await s.get('a'), kv('a', '2', 2, 3, 2));
        // Writing the same value again is still a change.
        same(await s.put('b', 'x'), { revision: 5 });
        same(await s.get('b'), kv('b', 'x', 4, 5, 2));
        assert.equal(await revisionOf(s), 5);
      });

      test('a delete ends a key\'s lifetime; a new put starts another', async (s) => {
        await s.put('a', 'v1');
        await s.put('a', 'v2');
        same(await s.delete('a'), { revision: 4, deleted: 1, prevKvs: [] });
        assert.equal(await s.get('a'), undefined);
        same(await s.get('a', { revision: 3 }), kv('a', 'v2', 2, 3, 2));
        same(await s.put('a', 'v3'), { revision: 5 });
        same(await s.get('a'), kv('a', 'v3', 5, 5, 1));
        same(await s.history('a'), [
          putEvent(kv('a', 'v1', 2, 2, 1)),
          putEvent(kv('a', 'v2', 2, 3, 2)),
          delEvent('a', 4),
          putEvent(kv('a', 'v3', 5, 5, 1)),
        ]);
      });

      leaseTest('a put stores its lease, and a put without one clears it', async (s) => {
        await s.put('a', '1', { lease: 42 });
        same(await s.get('a'), kv('a', '1', 2, 2, 1, 42));
        await s.put('a', '2');
        same(await s.get('a'), kv('a', '2', 2, 3, 2, 0));
      });

      test('strings, Buffers and Uint8Arrays name the same bytes', async (s) => {
        await s.put(new Uint8Array([0x61]), new Uint8Array([1, 2, 0xff]));
        same(await s.get('a'), { key: bin('a'), value: Buffer.from([1, 2, 0xff]), createRevision: 2, modRevision: 2, version: 1, lease: 0 });
        same(await s.get(Buffer.from('a')), await s.get(new Uint8Array([0x61])));
        // A string is UTF-8: 'é' is the two bytes c3 a9.
        await s.put('é', 'ü');
        const got = await s.get(Buffer.from([0xc3, 0xa9]));
        assert.ok(got);
        assert.deepStrictEqual(got.value, Buffer.from([0xc3, 0xbc]));
      });

      test('stored and returned buffers are copies', async (s) => {
        const key = Buffer.from('key');
        const value = Buffer.from('value');
        await s.put(key, value);
        key.fill(0x21);
        value.fill(0x21);
        const first = await s.get('key');
        assert.ok(first);
        assert.equal(first.value.toString(), 'value');
        first.key.fill(0x21);
        first.value.fill(0x21);
        const listed = await s.prefix('');
        listed.kvs[0]!.value.fill(0x21);
        const events = await s.changes(1);
        events.events[0]!.kv.value.fill(0x21);
        same(await s.get('key'), kv('key', 'value', 2, 2, 1));
        same((await s.prefix('')).kvs, [kv('key', 'value', 2, 2, 1)]);
      });

      test('empty values and values and keys at the size limits are accepted', async (s) => {
        await s.put('e', '');
        same(await s.get('e'), kv('e', '', 2, 2, 1));
        const bigKey = Buffer.alloc(Limits.maxKeyBytes, 0x6b);
        await s.put(bigKey, 'k');
        assert.deepStrictEqual((await s.get(bigKey))?.key, bigKey);
        const bigValue = Buffer.alloc(Limits.maxValueBytes, 0x76);
        await s.put('big', bigValue);
        assert.deepStrictEqual((await s.get('big'))?.value, bigValue);
      });
    });

    describe('put options', () => {
      test('prevKv returns the live key-value before the put', async (s) => {
        const first = await s.put('a', '1', { prevKv: true });
        assert.equal(first.prevKv, undefined);
        same(await s.put('a', '2', { prevKv: true }), { revision: 3, prevKv: kv('a', '1', 2, 2, 1) });
        same(await s.put('a', '3'), { revision: 4 });
        await s.delete('a');
        same(await s.put('a', '4', { prevKv: true }), { revision: 6 });
      });

      leaseTest('ignoreValue keeps the value and takes the new lease', async (s) => {
        await s.put('a', 'v', { lease: 5 });
        same(await s.put('a', '', { ignoreValue: true, lease: 7, prevKv: true }), { revision: 3, prevKv: kv('a', 'v', 2, 2, 1, 5) });
        same(await s.get('a'), kv('a', 'v', 2, 3, 2, 7));
      });

      leaseTest('ignoreLease keeps the lease and takes the new value', async (s) => {
        await s.put('a', 'v', { lease: 5 });
        await s.put('a', 'w', { ignoreLease: true });
        same(await s.get('a'), kv('a', 'w', 2, 3, 2, 5));
        await s.put('a', '', { ignoreLease: true, ignoreValue: true });
        same(await s.get('a'), kv('a', 'w', 2, 4, 3, 5));
      });

      test('ignoreValue/ignoreLease on a missing or deleted key: AXIS_KEY_NOT_FOUND, nothing changes', async (s) => {
        await s.put('b', 'v');
        await s.delete('b');
        for (const key of ['missing', 'b']) {
          await expectNoChange(s, () => expectReject(ErrorCode.KEY_NOT_FOUND, () => s.put(key, '', { ignoreValue: true })));
          await expectNoChange(s, () => expectReject(ErrorCode.KEY_NOT_FOUND, () => s.put(key, 'x', { ignoreLease: true })));
        }
        assert.equal(await s.get('missing'), undefined);
        assert.equal(await s.get('b'), undefined);
      });

      test('ignoreValue with a value, or ignoreLease with a lease: AXIS_INVALID_ARGUMENT', async (s) => {
        await s.put('a', 'v');
        await expectNoChange(s, () => expectReject(ErrorCode.INVALID_ARGUMENT, () => s.put('a', 'x', { ignoreValue: true })));
        await expectNoChange(s, () => expectReject(ErrorCode.INVALID_ARGUMENT, () => s.put('a', 'x', { ignoreLease: true, lease: 3 })));
      });
    });

    describe('delete and deleteRange', () => {
      test('deleting a missing key changes nothing and keeps the revision', async (s) => {
        await s.put('a', '1');
        await expectNoChange(s, async () => {
          same(await s.delete('b'), { revision: 2, deleted: 0, prevKvs: [] });
          same(await s.delete('b', { prevKv: true }), { revision: 2, deleted: 0, prevKvs: [] });
        });
        assert.equal((await s.changes(1)).events.length, 1);
      });

      leaseTest('prevKv returns what was deleted', async (s) => {
        await s.put('a', '1', { lease: 3 });
        same(await s.delete('a', { prevKv: true }), { revision: 3, deleted: 1, prevKvs: [kv('a', '1', 2, 2, 1, 3)] });
      });

      leaseTest('a deletion is recorded as a delete event with the key and revision only', async (s) => {
        await s.put('a', '1', { lease: 3 });
        await s.delete('a');
        same(await s.history('a'), [putEvent(kv('a', '1', 2, 2, 1, 3)), delEvent('a', 3)]);
        same((await s.changes(3)).events, [delEvent('a', 3)]);
      });

      test('deleteRange deletes [start, end) in one revision, in key order', async (s) => {
        await fill(s, ['d', 'c', 'b', 'a', 'e']);
        const r = await s.deleteRange('b', 'd', { prevKv: true });
        same(r, { revision: 7, deleted: 2, prevKvs: [kv('b', 'v:b', 4, 4, 1), kv('c', 'v:c', 3, 3, 1)] });
        same(keysOf((await s.prefix('')).kvs), ['a', 'd', 'e']);
        same((await s.changes(7)).events, [delEvent('b', 7), delEvent('c', 7)]);
        same(await s.deleteRange('b', 'd'), { revision: 7, deleted: 0, prevKvs: [] });
      });

      test('deleteRange with a null or absent end deletes every key from start on', async (s) => {
        await fill(s, ['a', 'b', 'c', '\xff']);
        same(await s.deleteRange('b', null), { revision: 6, deleted: 3, prevKvs: [] });
        same(keysOf((await s.prefix('')).kvs), ['a']);
        await fill(s, ['b', 'c', '\xff\xff']);
        same(await s.deleteRange('a'), { revision: 10, deleted: 4, prevKvs: [] });
        same((await s.prefix('')).kvs, []);
        same((await s.changes(10)).events, [delEvent('a', 10), delEvent('b', 10), delEvent('c', 10), delEvent('\xff\xff', 10)]);
      });

      test('deleteRange that deletes nothing keeps the revision', async (s) => {
        await fill(s, ['a', 'z']);
        await expectNoChange(s, async () => {
          same(await s.deleteRange('b', 'y', { prevKv: true }), { revision: 3, deleted: 0, prevKvs: [] });
          same(await s.deleteRange('b', 'b'), { revision: 3, deleted: 0, prevKvs: [] });
        });
      });
    });

    describe('range, prefix and get', () => {
      const keys = ['ba', 'c', '\xff', 'a', 'b\x00', '\xe9', 'b', '\xff\xff', '\x7f'];

      test('keys come back in byte order; [start, end) includes start and excludes end', async (s) => {
        await fill(s, keys);
        same(keysOf((await s.range('a', 'c')).kvs), ['a', 'b', 'b\x00', 'ba']);
        same(keysOf((await s.range('b', 'ba')).kvs), ['b', 'b\x00']);
        same(keysOf((await s.range('a', null)).kvs), ['a', 'b', 'b\x00', 'ba', 'c', '\x7f', '\xe9', '\xff', '\xff\xff']);
        same(keysOf((await s.range(bin('\x7f'))).kvs), ['\x7f', '\xe9', '\xff', '\xff\xff']);
        same(keysOf((await s.range(bin('\xff'), bin('\xff\xff'))).kvs), ['\xff']);
        same(await s.range('b', 'b'), { kvs: [], more: false, count: 0, revision: 10 });
        same((await s.range('c', 'd')).kvs, [kv('c', 'v:c', 3, 3, 1)]);
      });

      test('limit truncates and sets more; count counts every key in range', async (s) => {
        await fill(s, ['a', 'b', 'c', 'd', 'e']);
        const r = await s.range('a', null, { limit: 2 });
        same(r, { kvs: [kv('a', 'v:a', 2, 2, 1), kv('b', 'v:b', 3, 3, 1)], more: true, count: 5, revision: 6 });
        same(await s.range('b', 'e', { limit: 3 }), { kvs: [kv('b', 'v:b', 3, 3, 1), kv('c', 'v:c', 4, 4, 1), kv('d', 'v:d', 5, 5, 1)], more: false, count: 3, revision: 6 });
        for (const limit of [5, 6, 0]) {
          const all = await s.range('a', null, { limit });
          assert.equal(all.kvs.length, 5);
          assert.equal(all.more, false);
          assert.equal(all.count, 5);
        }
      });

      test('keysOnly returns empty values; countOnly returns only the count', async (s) => {
        await fill(s, ['a', 'b', 'c']);
        same((await s.range('a', null, { keysOnly: true })).kvs, [kv('a', '', 2, 2, 1), kv('b', '', 3, 3, 1), kv('c', '', 4, 4, 1)]);
        same(await s.range('a', null, { countOnly: true }), { kvs: [], more: false, count: 3, revision: 4 });
        same(await s.range('a', null, { countOnly: true, limit: 1 }), { kvs: [], more: false, count: 3, revision: 4 });
        same(await s.prefix('b', { countOnly: true }), { kvs: [], more: false, count: 1, revision: 4 });
      });

      /**
       * a: value m2, create 2, mod 5, version 2
       * b: value z,  create 3, mod 7, version 2
       * c: value a,  create 4, mod 4, version 1
       * d: value m2, create 6, mod 6, version 1
       */
      async function sortFixture(s: SuiteStore): Promise<void> {
        await s.put('a', 'm'); // 2
        await s.put('b', 'z'); // 3
        await s.put('c', 'a'); // 4
        await s.put('a', 'm2'); // 5
        await s.put('d', 'm2'); // 6
        await s.put('b', 'z'); // 7
      }

      test('sort by every target and order; ties keep key order', async (s) => {
        await sortFixture(s);
        const cases: Array<[SortTarget | undefined, SortOrder | undefined, string[]]> = [
          [undefined, undefined, ['a', 'b', 'c', 'd']],
          ['key', 'ascend', ['a', 'b', 'c', 'd']],
          ['key', 'descend', ['d', 'c', 'b', 'a']],
          [undefined, 'descend', ['d', 'c', 'b', 'a']],
          ['version', undefined, ['c', 'd', 'a', 'b']],
          ['version', 'ascend', ['c', 'd', 'a', 'b']],
          ['version', 'descend', ['a', 'b', 'c', 'd']],
          ['createRevision', 'ascend', ['a', 'b', 'c', 'd']],
          ['createRevision', 'descend', ['d', 'c', 'b', 'a']],
          ['modRevision', 'ascend', ['c', 'a', 'd', 'b']],
          ['modRevision', 'descend', ['b', 'd', 'a', 'c']],
          ['value', 'ascend', ['c', 'a', 'd', 'b']],
          ['value', 'descend', ['b', 'a', 'd', 'c']],
        ];
        for (const [target, order, expected] of cases) {
          const sort: { target?: SortTarget; order?: SortOrder } = {};
          if (target) sort.target = target;
          if (order) sort.order = order;
          const r = await s.range('a', null, { sort });
          same(keysOf(r.kvs), expected, `sort ${inspect(sort)}`);
          assert.equal(r.count, 4);
        }
        // Sorting by value still sorts by the real values when only keys are returned.
        same(keysOf((await s.range('a', null, { sort: { target: 'value', order: 'descend' }, keysOnly: true })).kvs), ['b', 'a', 'd', 'c']);
        // Sort first, then limit.
        const top = await s.range('a', null, { sort: { target: 'modRevision', order: 'descend' }, limit: 2 });
        same(top, { kvs: [kv('b', 'z', 3, 7, 2), kv('d', 'm2', 6, 6, 1)], more: true, count: 4, revision: 7 });
      });

      test('mod/create revision filters drop key-values but not the count', async (s) => {
        await sortFixture(s);
        const cases: Array<[object, string[]]> = [
          [{ minModRevision: 5 }, ['a', 'b', 'd']],
          [{ maxModRevision: 5 }, ['a', 'c']],
          [{ minModRevision: 5, maxModRevision: 6 }, ['a', 'd']],
          [{ minCreateRevision: 3 }, ['b', 'c', 'd']],
          [{ maxCreateRevision: 3 }, ['a', 'b']],
          [{ minCreateRevision: 4, maxCreateRevision: 4 }, ['c']],
          [{ minModRevision: 8 }, []],
          [{ minModRevision: 0, maxModRevision: 0 }, ['a', 'b', 'c', 'd']],
        ];
        for (const [filter, expected] of cases) {
          const r = await s.range('a', null, filter);
          same(keysOf(r.kvs), expected, `filter ${inspect(filter)}`);
          assert.equal(r.count, 4);
          assert.equal(r.more, false);
        }
        same(await s.range('a', null, { minModRevision: 5, limit: 2 }), { kvs: [kv('a', 'm2', 2, 5, 2), kv('b', 'z', 3, 7, 2)], more: true, count: 4, revision: 7 });
        const fits = await s.range('a', null, { maxCreateRevision: 3, limit: 2 });
        assert.equal(fits.more, false);
        same(keysOf(fits.kvs), ['a', 'b']);
        same(keysOf((await s.range('a', null, { minModRevision: 5, sort: { target: 'modRevision', order: 'descend' } })).kvs), ['b', 'd', 'a']);
      });

      test('reads at a past revision; the result reports the current revision', async (s) => {
        await s.put('a', '1'); // 2
        await s.put('b', '1'); // 3
        await s.put('a', '2'); // 4
        await s.delete('b'); // 5
        same(await s.range('a', null, { revision: 3 }), { kvs: [kv('a', '1', 2, 2, 1), kv('b', '1', 3, 3, 1)], more: false, count: 2, revision: 5 });
        same(await s.range('a', null, { revision: 4 }), { kvs: [kv('a', '2', 2, 4, 2), kv('b', '1', 3, 3, 1)], more: false, count: 2, revision: 5 });
        same(await s.range('a', null, { revision: 5 }), { kvs: [kv('a', '2', 2, 4, 2)], more: false, count: 1, revision: 5 });
        same(await s.range('a', null, { revision: 1 }), { kvs: [], more: false, count: 0, revision: 5 });
        same(await s.range('a', null, { revision: 0 }), await s.range('a', null));
        same(await s.prefix('b', { revision: 4 }), { kvs: [kv('b', '1', 3, 3, 1)], more: false, count: 1, revision: 5 });
        same(await s.get('a', { revision: 2 }), kv('a', '1', 2, 2, 1));
        same(await s.get('a', { revision: 3 }), kv('a', '1', 2, 2, 1));
        same(await s.get('a', { revision: 4 }), kv('a', '2', 2, 4, 2));
        assert.equal(await s.get('a', { revision: 1 }), undefined);
        assert.equal(await s.get('b', { revision: 2 }), undefined);
        same(await s.get('b', { revision: 4 }), kv('b', '1', 3, 3, 1));
        assert.equal(await s.get('b', { revision: 5 }), undefined);
        assert.equal(await s.get('b'), undefined);
      });

      test('prefix covers exactly the keys that start with it, 0xff bytes included', async (s) => {
        const all = ['a', 'a/', 'a/1', 'a/2', 'a0', 'ab', 'b', 'x\xff', 'x\xff\x00', 'x\xff\xff', 'y', '\xff', '\xff\xff', '\xff\xff\x01'];
        await fill(s, all);
        const p = async (prefix: string | Buffer): Promise<string[]> => keysOf((await s.prefix(prefix)).kvs);
        same(await p('a/'), ['a/', 'a/1', 'a/2']);
        same(await p('a'), ['a', 'a/', 'a/1', 'a/2', 'a0', 'ab']);
        same(await p(bin('x\xff')), ['x\xff', 'x\xff\x00', 'x\xff\xff']);
        same(await p(bin('x\xff\xff')), ['x\xff\xff']);
        same(await p(bin('\xff')), ['\xff', '\xff\xff', '\xff\xff\x01']);
        same(await p(bin('\xff\xff')), ['\xff\xff', '\xff\xff\x01']);
        same(await p('zz'), []);
        same(await p(''), [...all].sort((x, y) => Buffer.compare(bin(x), bin(y))));
        same(await p(Buffer.alloc(0)), await p(''));
        same(await s.prefix('a/', { limit: 1, revision: 4 }), { kvs: [kv('a/', 'v:a/', 3, 3, 1)], more: true, count: 2, revision: 15 });
      });

      test('a revision after the current one: AXIS_FUTURE_REVISION', async (s) => {
        await s.put('a', '1');
        await expectCode(ErrorCode.FUTURE_REVISION, () => s.get('a', { revision: 3 }));
        await expectCode(ErrorCode.FUTURE_REVISION, () => s.range('a', null, { revision: 3 }));
        await expectCode(ErrorCode.FUTURE_REVISION, () => s.prefix('', { revision: 100 }));
        same(await s.get('a', { revision: 2 }), kv('a', '1', 2, 2, 1));
      });
    });

    describe('history', () => {
      async function fixture(s: SuiteStore): Promise<void> {
        await s.put('a', '1'); // 2
        await s.put('b', '1'); // 3
        await s.put('a', '2'); // 4
        await s.delete('a'); // 5
        await s.put('a', '3'); // 6
      }
      const A = [putEvent(kv('a', '1', 2, 2, 1)), putEvent(kv('a', '2', 2, 4, 2)), delEvent('a', 5), putEvent(kv('a', '3', 6, 6, 1))];

      test('lists every version of a key, oldest first, within [from, to]', async (s) => {
        await fixture(s);
        same(await s.history('a'), A);
        same(await s.history('a', { from: 4 }), A.slice(1));
        same(await s.history('a', { to: 5 }), A.slice(0, 3));
        same(await s.history('a', { from: 4, to: 4 }), [A[1]]);
        same(await s.history('a', { from: 3, to: 3 }), []);
        same(await s.history('a', { from: 0, to: 0 }), A);
        same(await s.history('b'), [putEvent(kv('b', '1', 3, 3, 1))]);
        same(await s.history('nope'), []);
      });

      test('checks its bounds', async (s) => {
        await fixture(s);
        await expectCode(ErrorCode.FUTURE_REVISION, () => s.history('a', { to: 7 }));
        await expectCode(ErrorCode.INVALID_RANGE, () => s.history('a', { from: 5, to: 4 }));
        await s.compact(4);
        await expectCode(ErrorCode.COMPACTED, () => s.history('a', { from: 3 }));
        same(await s.history('a'), A.slice(1));
        same(await s.history('a', { from: 4 }), A.slice(1));
      });
    });

    describe('changes', () => {
      test('lists every event of every key in revision order, then op or key order', async (s) => {
        await s.put('a', '1'); // 2
        await s.txn({ success: [{ put: { key: 'c', value: '1' } }, { put: { key: 'b', value: '1' } }] }); // 3
        await s.deleteRange('a', null); // 4
        await s.put('a', '2'); // 5
        const all = [
          putEvent(kv('a', '1', 2, 2, 1)),
          putEvent(kv('c', '1', 3, 3, 1)),
          putEvent(kv('b', '1', 3, 3, 1)),
          delEvent('a', 4),
          delEvent('b', 4),
          delEvent('c', 4),
          putEvent(kv('a', '2', 5, 5, 1)),
        ];
        same(await s.changes(1), { events: all, more: false, next: 6, revision: 5 });
        same(await s.changes(2), { events: all, more: false, next: 6, revision: 5 });
        same(await s.changes(3, { to: 3 }), { events: all.slice(1, 3), more: false, next: 4, revision: 5 });
        same(await s.changes(4, { to: 0 }), { events: all.slice(3), more: false, next: 6, revision: 5 });
        same(await s.changes(6), { events: [], more: false, next: 6, revision: 5 });
      });

      test('checks its revisions', async (s) => {
        await s.put('a', '1');
        await s.put('a', '2');
        await expectCode(ErrorCode.FUTURE_REVISION, () => s.changes(5));
        await expectCode(ErrorCode.FUTURE_REVISION, () => s.changes(1, { to: 4 }));
        await expectCode(ErrorCode.INVALID_ARGUMENT, () => s.changes(0));
        await expectCode(ErrorCode.INVALID_ARGUMENT, () => s.changes(1.5));
        await expectCode(ErrorCode.INVALID_ARGUMENT, () => s.changes(-1));
        await expectCode(ErrorCode.INVALID_ARGUMENT, () => s.changes(1, { limit: -1 }));
        await s.compact(3);
        await expectCode(ErrorCode.COMPACTED, () => s.changes(2));
        same(await s.changes(3), { events: [putEvent(kv('a', '2', 2, 3, 2))], more: false, next: 4, revision: 3 });
      });

      test('limit never splits a revision', async (s) => {
        await s.put('a', '1'); // 2: one event
        await s.txn({ success: ['b', 'c', 'd'].map((key) => ({ put: { key, value: '1' } })) }); // 3: three events
        await s.put('e', '1'); // 4: one event
        const [a, b, c, d, e] = (await s.changes(1)).events;
        same(await s.changes(1, { limit: 2 }), { events: [a], more: true, next: 3, revision: 4 });
        same(await s.changes(3, { limit: 2 }), { events: [b, c, d], more: true, next: 4, revision: 4 });
        same(await s.changes(3, { limit: 1 }), { events: [b, c, d], more: true, next: 4, revision: 4 });
        same(await s.changes(2, { limit: 4 }), { events: [a, b, c, d], more: true, next: 4, revision: 4 });
        same(await s.changes(2, { limit: 5 }), { events: [a, b, c, d, e], more: false, next: 5, revision: 4 });
        same(await s.changes(4, { limit: 1 }), { events: [e], more: false, next: 5, revision: 4 });
        same(await s.changes(2, { limit: 1, to: 2 }), { events: [a], more: false, next: 3, revision: 4 });
        same(await s.changes(2, { limit: 1, to: 3 }), { events: [a], more: true, next: 3, revision: 4 });
        same(await s.changes(2, { limit: 4, to: 3 }), { events: [a, b, c, d], more: false, next: 4, revision: 4 });

        // Paging through with a small limit yields every event exactly once.
        const paged: Event[] = [];
        let from = 1;
        for (let page = 0; page < 10; page++) {
          const r = await s.changes(from, { limit: 2 });
          paged.push(...r.events);
          from = r.next;
          if (!r.more) break;
        }
        same(paged, [a, b, c, d, e]);
        assert.equal(from, 5);
      });
    });

    describe('txn', () => {
      /** k: value 'v2', version 2, createRevision 2, modRevision 4, lease 7. */
      async function compareFixture(s: SuiteStore): Promise<void> {
        await s.put('k', 'v1', { lease: 7 }); // 2
        await s.put('x', 'x'); // 3
        await s.put('k', 'v2', { lease: 7 }); // 4
      }

      async function holds(s: SuiteStore, ...compare: Compare[]): Promise<boolean> {
        let result = false;
        await expectNoChange(s, async () => {
          const r = await s.txn({ compare });
          same(r, { succeeded: r.succeeded, revision: await revisionOf(s), responses: [] });
          result = r.succeeded;
        });
        return result;
      }

      leaseTest('every compare target with every result operator', async (s) => {
        await compareFixture(s);
        const targets: Array<[CompareTarget, string | number, string | number, string | number]> = [
          // target, below the actual, the actual, above the actual
          ['value', 'v1', 'v2', 'v3'],
          ['version', 1, 2, 3],
          ['createRevision', 1, 2, 3],
          ['modRevision', 3, 4, 5],
          ['lease', 6, 7, 8],
        ];
        for (const [target, below, actual, above] of targets) {
          const c = (result: CompareResult, value: string | number): Compare => ({ key: 'k', target, result, value });
          const expect: Array<[CompareResult, string | number, boolean]> = [
            ['=', actual, true],
            ['=', below, false],
            ['!=', actual, false],
            ['!=', above, true],
            ['<', above, true],
            ['<', actual, false],
            ['<', below, false],
            ['>', below, true],
            ['>', actual, false],
            ['>', above, false],
          ];
          for (const [result, value, want] of expect) {
            assert.equal(await holds(s, c(result, value)), want, `k ${target} ${result} ${value}`);
          }
        }
        // Several compares: all must hold.
        assert.equal(await holds(s, { key: 'k', target: 'version', result: '=', value: 2 }, { key: 'x', target: 'value', result: '=', value: 'x' }), true);
        assert.equal(await holds(s, { key: 'k', target: 'version', result: '=', value: 2 }, { key: 'x', target: 'value', result: '=', value: 'y' }), false);
      });

      test('value compares are byte-wise', async (s) => {
        await s.put('k', bin('\xff'));
        await s.put('e', '');
        await s.put('ab', 'ab');
        assert.equal(await holds(s, { key: 'k', target: 'value', result: '>', value: 'z' }), true);
        assert.equal(await holds(s, { key: 'k', target: 'value', result: '>', value: bin('\xfe\xff') }), true);
        assert.equal(await holds(s, { key: 'ab', target: 'value', result: '>', value: 'a' }), true);
        assert.equal(await holds(s, { key: 'ab', target: 'value', result: '<', value: 'b' }), true);
        assert.equal(await holds(s, { key: 'ab', target: 'value', result: '<', value: 'ab\x00' }), true);
        assert.equal(await holds(s, { key: 'e', target: 'value', result: '=', value: '' }), true);
        assert.equal(await holds(s, { key: 'e', target: 'value', result: '<', value: 'a' }), true);
        assert.equal(await holds(s, { key: 'e', target: 'value', result: '=', value: Buffer.alloc(0) }), true);
      });

      test('a missing key: value compares fail, number compares see 0', async (s) => {
        await s.put('gone', '1');
        await s.delete('gone');
        for (const key of ['nope', 'gone']) {
          assert.equal(await holds(s, { key, target: 'value', result: '=', value: '' }), false);
          assert.equal(await holds(s, { key, target: 'value', result: '!=', value: 'x' }), false);
          assert.equal(await holds(s, { key, target: 'value', result: '<', value: 'x' }), false);
          assert.equal(await holds(s, { key, target: 'version', result: '=', value: 0 }), true);
          assert.equal(await holds(s, { key, target: 'version', result: '>', value: 0 }), false);
          assert.equal(await holds(s, { key, target: 'createRevision', result: '<', value: 1 }), true);
          assert.equal(await holds(s, { key, target: 'modRevision', result: '=', value: 0 }), true);
          assert.equal(await holds(s, { key, target: 'lease', result: '=', value: 0 }), true);
          assert.equal(await holds(s, { key, target: 'lease', result: '!=', value: 0 }), false);
        }
      });

      test('a compare with rangeEnd must hold for every live key in the range', async (s) => {
        await s.put('a/1', '1'); // 2
        await s.put('a/2', '1'); // 3
        await s.put('a/2', '1'); // 4
        await s.put('b', '2'); // 5
        const r = (target: CompareTarget, result: CompareResult, value: string | number): Compare => ({ key: 'a/', rangeEnd: 'a0', target, result, value });
        assert.equal(await holds(s, r('value', '=', '1')), true);
        assert.equal(await holds(s, r('version', '=', 1)), false);
        assert.equal(await holds(s, r('version', '>', 0)), true);
        assert.equal(await holds(s, r('modRevision', '<', 4)), false);
        assert.equal(await holds(s, r('modRevision', '<', 5)), true);
        assert.equal(await holds(s, { key: 'a', rangeEnd: 'c', target: 'value', result: '=', value: '1' }), false);
        // No key in the range (etcd's rule, as for a missing key): value compares fail, numbers compare as 0.
        assert.equal(await holds(s, { key: 'c', rangeEnd: 'd', target: 'version', result: '>', value: 5 }), false);
        assert.equal(await holds(s, { key: 'c', rangeEnd: 'd', target: 'version', result: '=', value: 0 }), true);
        assert.equal(await holds(s, { key: 'c', rangeEnd: 'd', target: 'value', result: '=', value: 'x' }), false);
      });

      test('runs success or failure ops; responses mirror them and carry the final revision', async (s) => {
        await s.put('a', '1'); // 2
        const ops: RequestOp[] = [
          { put: { key: 'b', value: '2', prevKv: true } },
          { range: { key: 'a' } },
          { deleteRange: { key: 'a', prevKv: true } },
          { txn: { success: [{ put: { key: 'c', value: '3' } }] } },
        ];
        const failure: RequestOp[] = [{ put: { key: 'z', value: 'z' } }];
        const r = await s.txn({ compare: [{ key: 'a', target: 'value', result: '=', value: '1' }], success: ops, failure });
        same(r, {
          succeeded: true,
          revision: 3,
          responses: [
            { put: { revision: 3 } },
            { range: { kvs: [kv('a', '1', 2, 2, 1)], more: false, count: 1, revision: 3 } },
            { deleteRange: { revision: 3, deleted: 1, prevKvs: [kv('a', '1', 2, 2, 1)] } },
            { txn: { succeeded: true, revision: 3, responses: [{ put: { revision: 3 } }] } },
          ],
        });
        same((await s.prefix('')).kvs, [kv('b', '2', 3, 3, 1), kv('c', '3', 3, 3, 1)]);

        const f = await s.txn({ compare: [{ key: 'a', target: 'value', result: '=', value: '1' }], success: ops, failure });
        same(f, { succeeded: false, revision: 4, responses: [{ put: { revision: 4 } }] });
        same(keysOf((await s.prefix('')).kvs), ['b', 'c', 'z']);
      });

      leaseTest('all writes of a txn share one revision, in op order', async (s) => {
        await fill(s, ['m1', 'm2', 'z']); // 2, 3, 4
        const r = await s.txn({
          success: [
            { put: { key: 'z', value: 'zz' } },
            { put: { key: 'a', value: 'aa', lease: 9 } },
            { deleteRange: { key: 'm', rangeEnd: 'n' } },
          ],
        });
        assert.equal(r.revision, 5);
        same((await s.changes(5)).events, [
          putEvent(kv('z', 'zz', 4, 5, 2)),
          putEvent(kv('a', 'aa', 5, 5, 1, 9)),
          delEvent('m1', 5),
          delEvent('m2', 5),
        ]);
        assert.equal(await revisionOf(s), 5);
      });

      test('ops see the earlier writes of the same txn', async (s) => {
        await s.put('a', '1'); // 2
        const r = await s.txn({
          success: [
            { put: { key: 'b', value: 'new' } },
            { range: { key: 'a', rangeEnd: null } },
            { range: { key: 'a', rangeEnd: null, revision: 2 } },
            { deleteRange: { key: 'a' } },
            { range: { key: 'a', rangeEnd: 'z', countOnly: true } },
            { range: { key: 'b' } },
          ],
        });
        same(r.responses, [
          { put: { revision: 3 } },
          { range: { kvs: [kv('a', '1', 2, 2, 1), kv('b', 'new', 3, 3, 1)], more: false, count: 2, revision: 3 } },
          { range: { kvs: [kv('a', '1', 2, 2, 1)], more: false, count: 1, revision: 3 } },
          { deleteRange: { revision: 3, deleted: 1, prevKvs: [] } },
          { range: { kvs: [], more: false, count: 1, revision: 3 } },
          { range: { kvs: [kv('b', 'new', 3, 3, 1)], more: false, count: 1, revision: 3 } },
        ]);
      });

      test('a nested txn evaluates its compares at its point in the txn', async (s) => {
        await s.put('a', '1'); // 2
        const nested = (key: string): RequestOp => ({
          txn: {
            compare: [{ key: 'b', target: 'version', result: '=', value: 1 }],
            success: [{ put: { key, value: 'yes' } }],
            failure: [{ put: { key, value: 'no' } }],
          },
        });
        const r = await s.txn({ success: [nested('before'), { put: { key: 'b', value: '1' } }, nested('after')] });
        same(r, {
          succeeded: true,
          revision: 3,
          responses: [
            { txn: { succeeded: false, revision: 3, responses: [{ put: { revision: 3 } }] } },
            { put: { revision: 3 } },
            { txn: { succeeded: true, revision: 3, responses: [{ put: { revision: 3 } }] } },
          ],
        });
        same(await s.get('before'), kv('before', 'no', 3, 3, 1));
        same(await s.get('after'), kv('after', 'yes', 3, 3, 1));

        // Two levels deep, with a failed outer compare.
        const deep = await s.txn({
          compare: [{ key: 'a', target: 'value', result: '=', value: 'other' }],
          failure: [
            {
              txn: {
                compare: [{ key: 'a', target: 'value', result: '=', value: '1' }],
                success: [{ txn: { success: [{ range: { key: 'before' } }, { deleteRange: { key: 'before' } }] } }],
              },
            },
          ],
        });
        same(deep, {
          succeeded: false,
          revision: 4,
          responses: [
            {
              txn: {
                succeeded: true,
                revision: 4,
                responses: [
                  {
                    txn: {
                      succeeded: true,
                      revision: 4,
                      responses: [
                        { range: { kvs: [kv('before', 'no', 3, 3, 1)], more: false, count: 1, revision: 4 } },
                        { deleteRange: { revision: 4, deleted: 1, prevKvs: [] } },
                      ],
                    },
                  },
                ],
              },
            },
          ],
        });
        assert.equal(await s.get('before'), undefined);
      });

      test('a txn that changes nothing keeps the revision', async (s) => {
        await s.put('a', '1'); // 2
        await expectNoChange(s, async () => {
          same(await s.txn({}), { succeeded: true, revision: 2, responses: [] });
          same(await s.txn({ success: [{ range: { key: 'a' } }] }), {
            succeeded: true,
            revision: 2,
            responses: [{ range: { kvs: [kv('a', '1', 2, 2, 1)], more: false, count: 1, revision: 2 } }],
          });
          same(await s.txn({ compare: [{ key: 'a', target: 'version', result: '>', value: 5 }], success: [{ put: { key: 'b', value: '' } }] }), {
            succeeded: false,
            revision: 2,
            responses: [],
          });
          same(await s.txn({ success: [{ deleteRange: { key: 'b', rangeEnd: 'z' } }, { txn: {} }] }), {
            succeeded: true,
            revision: 2,
            responses: [{ deleteRange: { revision: 2, deleted: 0, prevKvs: [] } }, { txn: { succeeded: true, revision: 2, responses: [] } }],
          });
        });
      });

      test('writes issued together: one that fails fails alone, the others commit in order', async (s) => {
        await s.put('a', '1'); // 2
        const results = await Promise.allSettled([
          s.put('b', '1'),
          s.put('missing', '', { ignoreValue: true }),
          s.txn({ success: [{ range: { key: 'a', revision: 99 } }] }),
          s.put('c', '1'),
          s.delete('a'),
        ]);
        same(
          results.map((r) => (r.status === 'fulfilled' ? r.value.revision : (r.reason as { code: string }).code)),
          [3, ErrorCode.KEY_NOT_FOUND, ErrorCode.FUTURE_REVISION, 4, 5],
        );
        same(
          (await s.range('a', null)).kvs.map((kv) => kv.key.toString()),
          ['b', 'c'],
        );
      });

      test('writing a key twice in one txn: AXIS_DUPLICATE_KEY, nothing changes', async (s) => {
        await fill(s, ['a', 'b']);
        const put = (key: string): RequestOp => ({ put: { key, value: 'x' } });
        const bad: RequestOp[][] = [
          [put('a'), put('a')],
          [put('a'), { deleteRange: { key: 'a' } }],
          [{ deleteRange: { key: 'a' } }, put('a')],
          [{ deleteRange: { key: 'a', rangeEnd: 'c' } }, put('b')],
          [{ deleteRange: { key: 'a', rangeEnd: null } }, put('z')],
          [put('a'), { txn: { success: [put('a')] } }],
          [put('a'), { txn: { failure: [put('a')] } }],
          [{ txn: { success: [put('a')] } }, { txn: { success: [put('a')] } }],
          [{ txn: { success: [{ deleteRange: { key: 'a' } }] } }, put('a')],
          // A put in one nested txn, a delete in a later sibling: the key would change twice.
          [{ txn: { failure: [put('a')] } }, { txn: { success: [{ deleteRange: { key: 'a', rangeEnd: 'b' } }] } }],
          [{ txn: { success: [put('a')] } }, { deleteRange: { key: 'a' } }],
        ];
        for (const success of bad) {
          await expectNoChange(s, () => expectReject(ErrorCode.DUPLICATE_KEY, () => s.txn({ success })));
          await expectNoChange(s, () => expectReject(ErrorCode.DUPLICATE_KEY, () => s.txn({ failure: success })));
        }
        // Fine: the two branches of a nested txn never both run; two deletes of a key.
        const ok = await s.txn({
          success: [
            { txn: { compare: [{ key: 'a', target: 'version', result: '=', value: 1 }], success: [put('c')], failure: [put('c')] } },
            { deleteRange: { key: 'a' } },
            { deleteRange: { key: 'a', rangeEnd: 'b' } },
          ],
        });
        same(ok.responses, [
          { txn: { succeeded: true, revision: 4, responses: [{ put: { revision: 4 } }] } },
          { deleteRange: { revision: 4, deleted: 1, prevKvs: [] } },
          { deleteRange: { revision: 4, deleted: 0, prevKvs: [] } },
        ]);
      });

      test('more than the limit of compares or ops: AXIS_TOO_MANY_OPS', async (s) => {
        const puts = (n: number): RequestOp[] => Array.from({ length: n }, (_, i) => ({ put: { key: `k${i}`, value: `${i}` } }));
        const compares = (n: number): Compare[] => Array.from({ length: n }, () => ({ key: 'k', target: 'version', result: '=', value: 0 }));
        const over = Limits.maxTxnOps + 1;
        await expectNoChange(s, () => expectReject(ErrorCode.TOO_MANY_OPS, () => s.txn({ success: puts(over) })));
        await expectNoChange(s, () => expectReject(ErrorCode.TOO_MANY_OPS, () => s.txn({ failure: puts(over) })));
        await expectNoChange(s, () => expectReject(ErrorCode.TOO_MANY_OPS, () => s.txn({ compare: compares(over) })));
        const r = await s.txn({ compare: compares(Limits.maxTxnOps), success: puts(Limits.maxTxnOps) });
        assert.equal(r.succeeded, true);
        assert.equal(r.revision, 2);
        assert.equal((await s.changes(2)).events.length, Limits.maxTxnOps);
        assert.equal((await s.prefix('k')).count, Limits.maxTxnOps);
      });

      test('a failing op fails the whole txn and changes nothing', async (s) => {
        await s.put('a', '1'); // 2
        await s.put('a', '2'); // 3
        const cases: Array<[ErrorCode, RequestOp[]]> = [
          [ErrorCode.KEY_NOT_FOUND, [{ put: { key: 'b', value: '1' } }, { put: { key: 'c', value: '', ignoreValue: true } }]],
          [ErrorCode.KEY_NOT_FOUND, [{ deleteRange: { key: 'a' } }, { put: { key: 'c', value: 'x', ignoreLease: true } }]],
          [ErrorCode.FUTURE_REVISION, [{ put: { key: 'b', value: '1' } }, { range: { key: 'a', revision: 4 } }]],
          [ErrorCode.KEY_NOT_FOUND, [{ put: { key: 'b', value: '1' } }, { txn: { success: [{ put: { key: 'c', value: '', ignoreValue: true } }] } }]],
        ];
        for (const [code, success] of cases) {
          await expectNoChange(s, () => expectReject(code, () => s.txn({ success })));
        }
        await s.compact(3);
        await expectNoChange(s, () =>
          expectReject(ErrorCode.COMPACTED, () => s.txn({ success: [{ deleteRange: { key: 'a' } }, { range: { key: 'a', revision: 2 } }] })),
        );
        // A failing op on the branch not taken does nothing.
        const r = await s.txn({ success: [{ put: { key: 'b', value: '1' } }], failure: [{ put: { key: 'c', value: '', ignoreValue: true } }] });
        assert.equal(r.succeeded, true);
        same(await s.get('b'), kv('b', '1', 4, 4, 1));
        same(await s.get('a'), kv('a', '2', 2, 3, 2));
      });
    });

    describe('compaction', () => {
      async function fixture(s: SuiteStore): Promise<void> {
        await s.put('a', '1'); // 2
        await s.put('b', '1'); // 3
        await s.put('a', '2'); // 4
        await s.delete('b'); // 5
        await s.put('c', '1'); // 6
      }

      test('reads below the floor: AXIS_COMPACTED; at the floor and above they work', async (s) => {
        await fixture(s);
        same(await s.compact(4), { revision: 6 });
        await expectCode(ErrorCode.COMPACTED, () => s.get('a', { revision: 3 }));
        await expectCode(ErrorCode.COMPACTED, () => s.range('a', null, { revision: 3 }));
        await expectCode(ErrorCode.COMPACTED, () => s.prefix('', { revision: 2 }));
        await expectCode(ErrorCode.COMPACTED, () => s.history('a', { from: 3 }));
        await expectCode(ErrorCode.COMPACTED, () => s.changes(3));
        await expectCode(ErrorCode.COMPACTED, () => s.changes(1));
        same(await s.get('a', { revision: 4 }), kv('a', '2', 2, 4, 2));
        same(await s.get('b', { revision: 4 }), kv('b', '1', 3, 3, 1));
        same(await s.range('a', null, { revision: 4 }), { kvs: [kv('a', '2', 2, 4, 2), kv('b', '1', 3, 3, 1)], more: false, count: 2, revision: 6 });
        same(await s.range('a', null, { revision: 5 }), { kvs: [kv('a', '2', 2, 4, 2)], more: false, count: 1, revision: 6 });
        same((await s.changes(4)).events, [putEvent(kv('a', '2', 2, 4, 2)), delEvent('b', 5), putEvent(kv('c', '1', 6, 6, 1))]);
        same(await s.history('a'), [putEvent(kv('a', '2', 2, 4, 2))]);
        same(await s.history('b'), [delEvent('b', 5)]);
        same(await s.get('a'), kv('a', '2', 2, 4, 2));
      });

      test('the newest version at or below the floor of every live key survives', async (s) => {
        await s.put('x', '1'); // 2
        await s.put('y', '1'); // 3
        await s.put('y', '2'); // 4
        await s.put('d', '1'); // 5
        await s.delete('d'); // 6
        await s.put('z', '1'); // 7
        await s.compact(7);
        same(await s.range('a', null, { revision: 7 }), {
          kvs: [kv('x', '1', 2, 2, 1), kv('y', '2', 3, 4, 2), kv('z', '1', 7, 7, 1)],
          more: false,
          count: 3,
          revision: 7,
        });
        same(await s.get('x', { revision: 7 }), kv('x', '1', 2, 2, 1));
        assert.equal(await s.get('d'), undefined);
        same(await s.history('d'), []);
        // Versions and lifetimes go on across the floor.
        await s.put('x', '2'); // 8
        same(await s.get('x'), kv('x', '2', 2, 8, 2));
        await s.put('d', '2'); // 9
        same(await s.get('d'), kv('d', '2', 9, 9, 1));
        same(await s.history('x'), [putEvent(kv('x', '2', 2, 8, 2))]);
      });

      test('compact checks its revision', async (s) => {
        await fixture(s);
        await expectNoChange(s, () => expectReject(ErrorCode.FUTURE_REVISION, () => s.compact(7)));
        same(await s.compact(3), { revision: 6 });
        await expectReject(ErrorCode.COMPACTED, () => s.compact(3));
        await expectReject(ErrorCode.COMPACTED, () => s.compact(2));
        await expectReject(ErrorCode.INVALID_ARGUMENT, () => s.compact(-1));
        await expectReject(ErrorCode.INVALID_ARGUMENT, () => s.compact(4.5));
        same(await s.compact(5, { physical: true }), { revision: 6 });
        same(await s.compact(6), { revision: 6 });
        await expectReject(ErrorCode.COMPACTED, () => s.compact(6, { physical: true }));
        same(await s.get('a', { revision: 6 }), kv('a', '2', 2, 4, 2));
        same(await s.changes(6), { events: [putEvent(kv('c', '1', 6, 6, 1))], more: false, next: 7, revision: 6 });
        await s.put('c', '2');
        same(await s.compact(7), { revision: 7 });
        same(await s.get('c'), kv('c', '2', 6, 7, 2));
      });
    });

    if (options.snapshots) describe('snapshots', () => {
      test('a snapshot answers as of when it was taken while writes go on', async (s) => {
        await s.put('a', '1'); // 2
        await s.put('b', '1'); // 3
        const snap = snapshot(s);
        try {
          assert.equal(snap.revision, 3);
          await s.put('a', '2'); // 4
          await s.delete('b'); // 5
          await s.put('c', '1'); // 6
          same(await snap.get('a'), kv('a', '1', 2, 2, 1));
          same(await snap.get('b'), kv('b', '1', 3, 3, 1));
          assert.equal(await snap.get('c'), undefined);
          same(await snap.range('a', null), { kvs: [kv('a', '1', 2, 2, 1), kv('b', '1', 3, 3, 1)], more: false, count: 2, revision: 3 });
          same(await snap.prefix(''), await snap.range('a', null));
          same(await snap.history('a'), [putEvent(kv('a', '1', 2, 2, 1))]);
          same(await snap.changes(1), { events: [putEvent(kv('a', '1', 2, 2, 1)), putEvent(kv('b', '1', 3, 3, 1))], more: false, next: 4, revision: 3 });
          same(await snap.changes(4), { events: [], more: false, next: 4, revision: 3 });
          same(await snap.get('a', { revision: 2 }), kv('a', '1', 2, 2, 1));
          assert.equal(await snap.get('b', { revision: 2 }), undefined);
          await expectCode(ErrorCode.FUTURE_REVISION, () => snap.get('a', { revision: 4 }));
          await expectCode(ErrorCode.FUTURE_REVISION, () => snap.range('a', null, { revision: 4 }));
          await expectCode(ErrorCode.FUTURE_REVISION, () => snap.changes(5));
          await expectCode(ErrorCode.FUTURE_REVISION, () => snap.changes(1, { to: 4 }));
          await expectCode(ErrorCode.FUTURE_REVISION, () => snap.history('a', { to: 4 }));
          // The store itself has moved on.
          same(keysOf((await s.prefix('')).kvs), ['a', 'c']);
          assert.equal(await revisionOf(s), 6);
        } finally {
          snap.release();
        }
      });

      test('a snapshot is pinned against later compactions', async (s) => {
        await s.put('a', '1'); // 2
        await s.put('a', '2'); // 3
        const snap = snapshot(s);
        try {
          await s.put('a', '3'); // 4
          await s.compact(4);
          await expectCode(ErrorCode.COMPACTED, () => s.get('a', { revision: 3 }));
          same(await snap.get('a'), kv('a', '2', 2, 3, 2));
          same(await snap.get('a', { revision: 2 }), kv('a', '1', 2, 2, 1));
          same((await snap.range('a', null, { revision: 2 })).kvs, [kv('a', '1', 2, 2, 1)]);
          same(await snap.history('a'), [putEvent(kv('a', '1', 2, 2, 1)), putEvent(kv('a', '2', 2, 3, 2))]);
          same((await snap.changes(1)).events, [putEvent(kv('a', '1', 2, 2, 1)), putEvent(kv('a', '2', 2, 3, 2))]);
        } finally {
          snap.release();
        }
      });

      test('a snapshot taken after a compaction keeps that floor', async (s) => {
        await s.put('a', '1'); // 2
        await s.put('a', '2'); // 3
        await s.compact(3);
        const snap = snapshot(s);
        try {
          await expectCode(ErrorCode.COMPACTED, () => snap.get('a', { revision: 2 }));
          await expectCode(ErrorCode.COMPACTED, () => snap.changes(2));
          same(await snap.get('a', { revision: 3 }), kv('a', '2', 2, 3, 2));
          same(await snap.history('a'), [putEvent(kv('a', '2', 2, 3, 2))]);
        } finally {
          snap.release();
        }
      });

      test('several snapshots are independent', async (s) => {
        const snaps: Snapshot[] = [];
        try {
          for (let i = 1; i <= 3; i++) {
            snaps.push(snapshot(s));
            await s.put('k', `${i}`);
          }
          for (const [i, snap] of snaps.entries()) {
            assert.equal(snap.revision, i + 1);
            assert.equal((await snap.get('k'))?.value.toString(), i === 0 ? undefined : `${i}`);
            assert.equal((await snap.prefix('')).count, i === 0 ? 0 : 1);
          }
          snaps[1]!.release();
          same(await snaps[2]!.get('k'), kv('k', '2', 2, 3, 2));
        } finally {
          for (const snap of snaps) snap.release();
        }
      });

      test('after release, every read: AXIS_SNAPSHOT_RELEASED', async (s) => {
        await s.put('a', '1');
        const snap = snapshot(s);
        snap.release();
        await expectCode(ErrorCode.SNAPSHOT_RELEASED, () => snap.get('a'));
        await expectCode(ErrorCode.SNAPSHOT_RELEASED, () => snap.range('a', null));
        await expectCode(ErrorCode.SNAPSHOT_RELEASED, () => snap.prefix(''));
        await expectCode(ErrorCode.SNAPSHOT_RELEASED, () => snap.history('a'));
        await expectCode(ErrorCode.SNAPSHOT_RELEASED, () => snap.changes(1));
        snap.release(); // twice is fine
        same(await s.get('a'), kv('a', '1', 2, 2, 1));
      });
    });

    describe('bad input is refused and changes nothing', () => {
      const big = 'k'.repeat(Limits.maxKeyBytes + 1);
      const hugeValue = Buffer.alloc(Limits.maxValueBytes + 1);
      const any = <T>(x: unknown): T => x as T;

      test('AXIS_EMPTY_KEY', async (s) => {
        await s.put('a', '1');
        await expectNoChange(s, async () => {
          const c = ErrorCode.EMPTY_KEY;
          await expectReject(c, () => s.put('', 'v'));
          await expectReject(c, () => s.put(new Uint8Array(0), 'v'));
          await expectReject(c, () => s.delete(''));
          await expectReject(c, () => s.deleteRange('', 'b'));
          await expectReject(c, () => s.txn({ compare: [{ key: '', target: 'version', result: '=', value: 0 }] }));
          await expectReject(c, () => s.txn({ success: [{ put: { key: '', value: 'v' } }] }));
          await expectReject(c, () => s.txn({ failure: [{ range: { key: '' } }] }));
          await expectReject(c, () => s.txn({ success: [{ txn: { success: [{ deleteRange: { key: '' } }] } }] }));
          await expectCode(c, () => s.get(''));
          await expectCode(c, () => s.range('', 'b'));
          await expectCode(c, () => s.history(''));
        });
      });

      test('AXIS_KEY_TOO_LARGE', async (s) => {
        await s.put('a', '1');
        await expectNoChange(s, async () => {
          const c = ErrorCode.KEY_TOO_LARGE;
          await expectReject(c, () => s.put(big, 'v'));
          await expectReject(c, () => s.delete(big));
          await expectReject(c, () => s.deleteRange('a', big));
          await expectReject(c, () => s.txn({ success: [{ put: { key: big, value: 'v' } }] }));
          await expectCode(c, () => s.get(big));
          await expectCode(c, () => s.range('a', big));
          await expectCode(c, () => s.prefix(big));
          await expectCode(c, () => s.history(big));
        });
      });

      test('AXIS_VALUE_TOO_LARGE', async (s) => {
        await s.put('a', '1');
        await expectNoChange(s, async () => {
          const c = ErrorCode.VALUE_TOO_LARGE;
          await expectReject(c, () => s.put('a', hugeValue));
          await expectReject(c, () => s.txn({ success: [{ put: { key: 'b', value: hugeValue } }] }));
          await expectReject(c, () => s.txn({ compare: [{ key: 'a', target: 'value', result: '=', value: hugeValue }] }));
        });
      });

      test('AXIS_INVALID_RANGE', async (s) => {
        await fill(s, ['a', 'b', 'c']);
        await expectNoChange(s, async () => {
          const c = ErrorCode.INVALID_RANGE;
          await expectReject(c, () => s.deleteRange('c', 'a'));
          await expectReject(c, () => s.txn({ success: [{ deleteRange: { key: 'c', rangeEnd: 'a' } }] }));
          await expectReject(c, () => s.txn({ success: [{ range: { key: 'c', rangeEnd: 'a' } }] }));
          await expectReject(c, () => s.txn({ compare: [{ key: 'c', rangeEnd: 'a', target: 'version', result: '=', value: 0 }] }));
          await expectCode(c, () => s.range('c', 'a'));
          await expectCode(c, () => s.range('b', ''));
          await expectCode(c, () => s.history('a', { from: 3, to: 2 }));
        });
      });

      test('AXIS_INVALID_ARGUMENT', async (s) => {
        await s.put('a', '1');
        await expectNoChange(s, async () => {
          const c = ErrorCode.INVALID_ARGUMENT;
          await expectReject(c, () => s.put('a', 'v', { lease: -1 }));
          await expectReject(c, () => s.put('a', 'v', { lease: 1.5 }));
          await expectReject(c, () => s.put(any(42), 'v'));
          await expectReject(c, () => s.put('a', any(null)));
          await expectReject(c, () => s.txn({ compare: [{ key: 'a', target: any('size'), result: '=', value: 0 }] }));
          await expectReject(c, () => s.txn({ compare: [{ key: 'a', target: 'version', result: any('>='), value: 0 }] }));
          await expectReject(c, () => s.txn({ compare: [{ key: 'a', target: 'version', result: '=', value: -1 }] }));
          await expectReject(c, () => s.txn({ compare: [{ key: 'a', target: 'value', result: '=', value: 3 }] }));
          await expectReject(c, () => s.txn({ success: [any({ bogus: {} })] }));
          await expectReject(c, () => s.txn({ success: [{ range: { key: 'a', limit: -1 } }] }));
          await expectReject(c, () => s.txn(any(null)));
          await expectReject(c, () => s.compact(-1));
          await expectCode(c, () => s.get(any(42)));
          await expectCode(c, () => s.get('a', { revision: -1 }));
          await expectCode(c, () => s.get('a', { revision: 1.5 }));
          await expectCode(c, () => s.range('a', null, { limit: -1 }));
          await expectCode(c, () => s.range('a', null, { limit: 2.5 }));
          await expectCode(c, () => s.range('a', null, { minModRevision: -1 }));
          await expectCode(c, () => s.range('a', null, { maxCreateRevision: 0.5 }));
          await expectCode(c, () => s.range('a', null, { sort: { target: any('size') } }));
          await expectCode(c, () => s.range('a', null, { sort: { order: any('up') } }));
          await expectCode(c, () => s.prefix('a', { revision: -2 }));
          await expectCode(c, () => s.history('a', { from: -1 }));
          await expectCode(c, () => s.changes(0));
          await expectCode(c, () => s.changes(1, { to: -1 }));
        });
      });
    });

    describe('close', () => {
      it('after close every method fails with AXIS_CLOSED', async () => {
        const s = await open();
        await s.put('a', '1');
        await s.close();
        const c = ErrorCode.CLOSED;
        await expectReject(c, () => s.put('a', '2'));
        await expectReject(c, () => s.delete('a'));
        await expectReject(c, () => s.deleteRange('a', null));
        await expectReject(c, () => s.txn({}));
        await expectReject(c, () => s.compact(1));
        await expectCode(c, () => s.get('a'));
        await expectCode(c, () => s.range('a', null));
        await expectCode(c, () => s.prefix(''));
        await expectCode(c, () => s.history('a'));
        await expectCode(c, () => s.changes(1));
        if (options.snapshots) await expectCode(c, () => snapshot(s));
      });
    });
  });
}
