/**
 * Hostile input, property-based (fast-check, seeded: AXIS_FUZZ_SEED picks another seed, AXIS_FUZZ_RUNS
 * raises the run count):
 * - the embedded API called with arbitrary arguments either answers or fails with an AxisError of
 *   a known code, and a failed call changes nothing (the key space hashes the same, the revision
 *   stays);
 * - a member's client port fed arbitrary frames, truncated requests and well-formed requests with
 *   wrong contents answers only with decodable replies carrying known codes, never crashes, and
 *   nothing is written.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Dealer } from 'zeromq';
import { AxisError, ErrorCode } from '../ts/errors/index.js';
import { API_VERSION, decodeReply, encodeRequest, joinFrame, splitFrame, type PbRequest } from '../ts/proto/api.js';
import { open, type Store } from '../ts/storage/index.js';
import { startCluster, type TestCluster } from './support/cluster.js';
import { tempDirs } from './support/fixtures.js';

const dir = tempDirs('fuzz');
const RUNS = Number(process.env.AXIS_FUZZ_RUNS ?? 300);
const SEED = Number(process.env.AXIS_FUZZ_SEED ?? 4242);
const CODES = new Set<string>(Object.values(ErrorCode));

/** Anything a caller might pass: well-typed values, edge cases, and junk. */
const arg = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
  fc.integer({ min: -3, max: 40 }),
  fc.constantFrom(0, -1, 1.5, NaN, Infinity, 2 ** 53, 2 ** 64, '', null, undefined, true, [], {}),
  fc.anything({ maxDepth: 2 }),
);

const OPS = ['put', 'get', 'range', 'prefix', 'delete', 'deleteRange', 'txn', 'compact', 'history', 'changes', 'leaseGrant', 'leaseRevoke', 'leaseKeepAlive', 'leaseTimeToLive', 'watch'] as const;

const call = fc.record({
  op: fc.constantFrom(...OPS),
  args: fc.array(arg, { maxLength: 3 }),
  // Sometimes a txn-shaped object with junk inside.
  txn: fc.record({ compare: fc.array(fc.record({ key: arg, target: arg, result: arg, value: arg }), { maxLength: 2 }), success: fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 2 }) }),
});

async function state(s: Store): Promise<string> {
  return `${s.revision()}:${(await s.hashKv()).hash}:${JSON.stringify(s.leases())}`;
}

describe('hostile input', { timeout: 120_000 + RUNS * 300 }, () => {
  let store: Store | undefined;
  let cluster: TestCluster | undefined;
  after(async () => {
    await store?.close();
    await cluster?.close();
  });

  it('the embedded API: an answer, or a coded AxisError that changed nothing', async () => {
    store = await open(await dir(), { durability: 'nosync' });
    const s = store;
    for (let i = 0; i < 20; i++) await s.put(`k${i}`, `v${i}`);
    let failures = 0;
    let answers = 0;
    await fc.assert(
      fc.asyncProperty(call, async ({ op, args, txn }) => {
        const before = await state(s);
        const a = op === 'txn' && args.length === 0 ? [txn] : args;
        let failed: unknown;
        try {
          const r = (s as unknown as Record<string, (...x: unknown[]) => unknown>)[op]!.apply(s, a);
          const v = r instanceof Promise ? await r : r;
          if (op === 'watch') (v as { cancel(): void }).cancel();
          answers++;
        } catch (err) {
          failed = err;
        }
        if (failed === undefined) return;
        failures++;
        assert.ok(failed instanceof AxisError, `${op}(${fc.stringify(a)}) threw ${fc.stringify(failed)}`);
        assert.ok(CODES.has(failed.code), `${op}: unknown code ${failed.code}`);
        assert.equal(await state(s), before, `${op} failed with ${failed.code} but changed the store`);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    // The runs exercised both paths.
    assert.ok(failures > RUNS / 10 && answers > 0, `${failures} failures, ${answers} answers`);
  });

  it('a member\'s client port: only coded replies, no crash, nothing written', async () => {
    cluster = await startCluster(1, dir);
    const c = cluster;
    await c.leader();
    const cl = await c.client();
    await cl.put('k', 'v');
    const revision = (await cl.get('k'))!.modRevision;
    const endpoint = c.endpoints[0]!;
    // Replies come within milliseconds in-process; a frame that gets none (nothing in it to answer) costs this wait.
    const d = new Dealer({ linger: 0, receiveTimeout: 100 });
    d.connect(endpoint);
    const requestish = fc.record({
      version: fc.oneof(fc.constant(API_VERSION), fc.integer({ min: 0, max: 9 })),
      id: fc.integer({ min: 0, max: 2 ** 31 }),
      get: fc.option(fc.record({ key: fc.uint8Array({ maxLength: 4 }), revision: fc.integer({ min: 0, max: 2 ** 40 }) }), { nil: undefined }),
      range: fc.option(fc.record({ key: fc.uint8Array({ maxLength: 4 }), rangeEnd: fc.uint8Array({ maxLength: 4 }), endKind: fc.integer({ min: 0, max: 5 }) }), { nil: undefined }),
      compact: fc.option(fc.record({ revision: fc.integer({ min: 1000, max: 2 ** 40 }) }), { nil: undefined }),
      leaseRevoke: fc.option(fc.record({ id: fc.integer({ min: 1, max: 2 ** 40 }) }), { nil: undefined }),
      watchCancel: fc.option(fc.record({ watchId: fc.integer({ min: 0, max: 1000 }) }), { nil: undefined }),
    });
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
      requestish.map((r) => {
        const bytes = encodeRequest(r as PbRequest);
        return joinFrame([bytes]);
      }),
      // A valid request cut short, or with a byte flipped.
      fc.tuple(requestish, fc.nat(), fc.nat(255)).map(([r, at, x]) => {
        const f = Buffer.from(joinFrame([encodeRequest(r as PbRequest)]));
        if (at % 2 === 0) return f.subarray(0, at % Math.max(1, f.length));
        f[at % f.length] = x;
        return f;
      }),
    );
    let replies = 0;
    try {
      await fc.assert(
        fc.asyncProperty(frame, async (f) => {
          await d.send(f);
          for (;;) {
            let got: Buffer[];
            try {
              got = (await d.receive()) as Buffer[];
            } catch {
              break; // no (more) reply in time
            }
            for (const r of splitFrame(got[0]!).map(decodeReply)) {
              replies++;
              if (r.error) assert.ok(CODES.has(r.error.code), `unknown code ${r.error.code}`);
            }
          }
        }),
        { numRuns: Math.ceil(RUNS / 3), seed: SEED + 1 },
      );
    } finally {
      d.close();
    }
    assert.ok(replies > 0, 'the member answered');
    // Still serving, and nothing was written: the only key is as it was, at the same revision.
    const kvs = await cl.prefix('');
    assert.deepEqual(kvs.kvs.map((kv) => [kv.key.toString(), kv.value.toString(), kv.modRevision]), [['k', 'v', revision]]);
    assert.equal(kvs.revision, revision);
    assert.equal(c.servers[0]!.member.status().leader, c.servers[0]!.member.id);
  });
});
