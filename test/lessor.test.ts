/**
 * The Lessor alone, on a manual clock and scheduler: what every member tracks while following,
 * what a new leader's grace does, and how an expiry that lost the race to a keepalive is handled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AxisError, ErrorCode } from '../ts/errors/index.js';
import { Decoder, Encoder } from '../ts/storage/codec.js';
import { Lessor, type Scheduler, type StoredLease } from '../ts/storage/lessor.js';
import type { PreparedWrite } from '../ts/storage/write-request.js';

/** Intervals fired by hand: `advance(ms)` moves the clock and runs what falls due, in time order. */
class ManualTime implements Scheduler {
  now = 0;
  private timers: { every: number; next: number; fn: () => void }[] = [];
  every(ms: number, fn: () => void): () => void {
    const t = { every: ms, next: this.now + ms, fn };
    this.timers.push(t);
    return () => {
      this.timers = this.timers.filter((x) => x !== t);
    };
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.next <= end).sort((a, b) => a.next - b.next)[0];
      if (!due) break;
      this.now = due.next;
      due.next += due.every;
      due.fn();
    }
    this.now = end;
  }
}

/** A write the lessor submitted: its bytes, and a way to answer it. */
interface Submitted {
  bytes: Buffer;
  answer(result: Buffer | AxisError): void;
}

function harness(stored: StoredLease[] = []) {
  const time = new ManualTime();
  const submitted: Submitted[] = [];
  const lessor = new Lessor(
    () => stored,
    <T>(w: PreparedWrite<T>) =>
      new Promise<T>((resolve, reject) => {
        const e = new Encoder(64);
        w.encode(e);
        submitted.push({
          bytes: Buffer.from(e.take()),
          answer: (r) => (r instanceof AxisError ? reject(r) : resolve(w.decode(new Decoder(r)))),
        });
      }),
    { expiryIntervalMs: 100, checkpointIntervalMs: 60_000, revokeRate: 1000, clock: () => time.now, scheduler: time },
  );
  return { time, submitted, lessor };
}

/** kind 10 LEASE_EXPIRE u64 id, u64 renewals */
function expiry(s: Submitted): { id: number; renewals: number } {
  assert.equal(s.bytes[0], 10, 'a LEASE_EXPIRE');
  const d = new Decoder(s.bytes.subarray(1));
  return { id: d.u64(), renewals: d.u64() };
}

const settle = () => new Promise((r) => setImmediate(r));

test('a following lessor counts down what was applied and decides nothing', () => {
  const { time, submitted, lessor } = harness([{ id: 7, ttl: 30, remainingMs: 12_000, renewals: 3 }]);
  assert.equal(lessor.remainingMs(7), 12_000, 'loaded: the checkpointed remaining TTL from now');
  lessor.applied({ started: { id: 1, ttl: 10, renewals: 0 } });
  time.advance(4_000);
  assert.equal(lessor.remainingMs(1), 6_000);
  lessor.applied({ checkpointed: [{ id: 1, remainingMs: 5_000 }, { id: 99, remainingMs: 1 }] });
  assert.equal(lessor.remainingMs(1), 5_000, 'a checkpoint from the leader restates it');
  assert.equal(lessor.remainingMs(99), undefined, 'an unknown id in a checkpoint is skipped');
  time.advance(10_000);
  assert.equal(lessor.expired(1), false, 'only a deciding lessor says expired');
  assert.equal(submitted.length, 0);
  lessor.applied({ revoked: { id: 1 } });
  assert.equal(lessor.remainingMs(1), undefined);
});

test('a new leader keeps the deadlines it counted, and gives none less than the grace', async () => {
  const { time, submitted, lessor } = harness();
  lessor.applied({ started: { id: 1, ttl: 10, renewals: 0 } });
  lessor.applied({ started: { id: 2, ttl: 2, renewals: 4 } });
  time.advance(1_800);
  lessor.lead(1_000);
  assert.equal(lessor.remainingMs(1), 8_200, 'not reset to its full TTL, nor extended');
  assert.equal(lessor.remainingMs(2), 1_000, 'due in 200 ms: given the grace');
  time.advance(999);
  assert.equal(submitted.length, 0);
  time.advance(101);
  assert.equal(submitted.length, 1);
  assert.deepEqual(expiry(submitted[0]!), { id: 2, renewals: 4 });
  // While its expiry is on the way it is not proposed again.
  time.advance(500);
  assert.equal(submitted.length, 1);
  submitted[0]!.answer(Buffer.alloc(16)); // revision, deleted
  await settle();
  assert.equal(lessor.remainingMs(2), undefined);
  lessor.follow();
  time.advance(20_000);
  assert.equal(submitted.length, 1, 'a follower proposes nothing');
});

test('an expiry that loses to a keepalive leaves the lease counting from the keepalive', async () => {
  const { time, submitted, lessor } = harness();
  lessor.lead(0);
  lessor.applied({ started: { id: 5, ttl: 2, renewals: 0 } });
  time.advance(2_000);
  assert.equal(lessor.expired(5), true);
  assert.deepEqual(expiry(submitted[0]!), { id: 5, renewals: 0 });
  // A keepalive proposed elsewhere was applied first; the expiry is then refused by the store.
  lessor.applied({ started: { id: 5, ttl: 2, renewals: 1 } });
  submitted[0]!.answer(new AxisError(ErrorCode.LEASE_RENEWED, 'renewed'));
  await settle();
  assert.equal(lessor.remainingMs(5), 2_000);
  assert.equal(lessor.expired(5), false);
  time.advance(1_900);
  assert.equal(submitted.length, 1);
  time.advance(100);
  assert.deepEqual(expiry(submitted[1]!), { id: 5, renewals: 1 }, 'the next expiry counts the keepalive');
});

test('checkpoints carry long leases\' remaining TTLs only, while deciding: at once, then every interval', async () => {
  const { time, submitted, lessor } = harness();
  lessor.applied({ started: { id: 1, ttl: 600, renewals: 0 } });
  lessor.applied({ started: { id: 2, ttl: 60, renewals: 0 } }); // not longer than the interval
  time.advance(5_000);
  assert.equal(submitted.length, 0);
  const checkpoints = () =>
    submitted.filter((s) => s.bytes[0] === 8).map((s) => {
      const d = new Decoder(s.bytes.subarray(1));
      return Array.from({ length: d.u32() }, () => ({ id: d.u64(), remainingMs: d.u64() }));
    });
  lessor.lead(0);
  assert.deepEqual(checkpoints(), [[{ id: 1, remainingMs: 595_000 }]]);
  submitted[0]!.answer(Buffer.alloc(8)); // revision
  await settle();
  time.advance(60_000);
  assert.deepEqual(checkpoints(), [[{ id: 1, remainingMs: 595_000 }], [{ id: 1, remainingMs: 535_000 }]]);
});
