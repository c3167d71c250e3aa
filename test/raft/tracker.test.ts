/**
 * The tracker: the in-flight window (etcd's inflights_test, by count and by bytes, across the
 * ring's wrap, and against a plain-array model), Progress transitions (etcd's progress_test), and
 * the ProgressTracker's commit index, votes and CheckQuorum on joint configs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isRaftError } from '../../ts/raft/errors.js';
import { JointConfig, MajorityConfig } from '../../ts/raft/quorum.js';
import { Inflights, Progress, ProgressTracker, describeConfig, describeProgress, type ProgressState } from '../../ts/raft/tracker.js';
import { mulberry32 } from '../support/prng.js';

describe('Inflights', () => {
  it('fills up by count, and frees up to an index (etcd TestInflightsAdd / TestInflightFreeTo)', () => {
    const inflights = new Inflights(10);
    for (let i = 0; i < 10; i++) {
      assert.equal(inflights.full(), false);
      inflights.add(i, 0);
    }
    assert.equal(inflights.count, 10);
    assert.equal(inflights.full(), true);
    inflights.freeLE(0);
    assert.equal(inflights.count, 9);
    inflights.freeLE(4);
    assert.equal(inflights.count, 5);
    inflights.freeLE(8);
    assert.equal(inflights.count, 1);
    // The ring wraps: 10..14 go to the slots freed at its start.
    for (let i = 10; i < 15; i++) inflights.add(i, 0);
    assert.equal(inflights.count, 6);
    inflights.freeLE(12);
    assert.equal(inflights.count, 2);
    inflights.freeLE(14);
    assert.equal(inflights.count, 0);
    assert.equal(inflights.full(), false);
  });

  it('ignores frees below the window and frees everything above it', () => {
    const inflights = new Inflights(4);
    inflights.add(10, 1);
    inflights.add(20, 1);
    inflights.freeLE(9);
    assert.equal(inflights.count, 2);
    inflights.freeLE(15);
    assert.equal(inflights.count, 1);
    inflights.freeLE(1000);
    assert.equal(inflights.count, 0);
    inflights.freeLE(1000);
    assert.equal(inflights.count, 0);
  });

  it('is full once the byte limit is reached; the message crossing it is still accepted', () => {
    const inflights = new Inflights(10, 1000);
    inflights.add(1, 400);
    inflights.add(2, 500);
    assert.equal(inflights.full(), false);
    inflights.add(3, 300); // 900 < 1000 before, 1200 after: soft limit
    assert.equal(inflights.bytes, 1200);
    assert.equal(inflights.full(), true);
    inflights.freeLE(1);
    assert.equal(inflights.bytes, 800);
    assert.equal(inflights.full(), false);
    inflights.add(4, 200);
    assert.equal(inflights.full(), true, 'exactly at the limit is full');
  });

  it('has no byte limit when maxBytes is 0', () => {
    const inflights = new Inflights(3, 0);
    inflights.add(1, 1e12);
    inflights.add(2, 1e12);
    assert.equal(inflights.full(), false);
    inflights.add(3, 0);
    assert.equal(inflights.full(), true);
  });

  it('refuses to add into a full window', () => {
    const inflights = new Inflights(1);
    inflights.add(1, 0);
    assert.throws(() => inflights.add(2, 0), (err) => isRaftError(err, 'AXIS_INTERNAL'));
  });

  it('reset empties the window; clone shares nothing', () => {
    const inflights = new Inflights(3, 100);
    inflights.add(1, 10);
    inflights.add(2, 20);
    const copy = inflights.clone();
    inflights.reset();
    assert.equal(inflights.count, 0);
    assert.equal(inflights.bytes, 0);
    assert.equal(copy.count, 2);
    assert.equal(copy.bytes, 30);
    copy.freeLE(1);
    assert.equal(copy.count, 1);
    assert.equal(copy.bytes, 20);
  });

  it('matches a plain-array model through random adds and frees across many wraps (seeded)', () => {
    const rand = mulberry32(4242);
    for (let run = 0; run < 50; run++) {
      const capacity = 1 + Math.floor(rand() * 12);
      const maxBytes = rand() < 0.5 ? 0 : 1 + Math.floor(rand() * 200);
      const inflights = new Inflights(capacity, maxBytes);
      const model: { index: number; bytes: number }[] = [];
      let last = 0;
      for (let step = 0; step < 400; step++) {
        const modelBytes = model.reduce((sum, m) => sum + m.bytes, 0);
        const modelFull = model.length === capacity || (maxBytes !== 0 && modelBytes >= maxBytes);
        assert.equal(inflights.full(), modelFull);
        if (!modelFull && rand() < 0.55) {
          last += 1 + Math.floor(rand() * 3);
          const bytes = Math.floor(rand() * 60);
          inflights.add(last, bytes);
          model.push({ index: last, bytes });
        } else {
          const to = last - Math.floor(rand() * 6);
          inflights.freeLE(to);
          while (model.length > 0 && (model[0]?.index ?? Infinity) <= to) model.shift();
        }
        assert.equal(inflights.count, model.length);
        assert.equal(inflights.bytes, model.reduce((sum, m) => sum + m.bytes, 0));
      }
    }
  });
});

function progress(init: { state?: ProgressState; match?: number; next: number; pendingSnapshot?: number; paused?: boolean }): Progress {
  const pr = new Progress({ match: init.match ?? 0, next: init.next, inflights: new Inflights(256) });
  pr.state = init.state ?? 'probe';
  pr.pendingSnapshot = init.pendingSnapshot ?? 0;
  pr.msgAppFlowPaused = init.paused ?? false;
  return pr;
}

describe('Progress', () => {
  it('isPaused: a paused flow, or any snapshot (etcd TestProgressIsPaused)', () => {
    const cases: [ProgressState, boolean, boolean][] = [
      ['probe', false, false],
      ['probe', true, true],
      ['replicate', false, false],
      ['replicate', true, true],
      ['snapshot', false, true],
      ['snapshot', true, true],
    ];
    for (const [state, paused, want] of cases) {
      assert.equal(progress({ state, paused, next: 1 }).isPaused(), want, `${state} paused=${paused}`);
    }
  });

  it('maybeDecrTo and maybeUpdate resume a paused flow (etcd TestProgressResume)', () => {
    const pr = progress({ next: 2, paused: true });
    pr.maybeDecrTo(1, 1);
    assert.equal(pr.msgAppFlowPaused, false);
    pr.msgAppFlowPaused = true;
    pr.maybeUpdate(2);
    assert.equal(pr.msgAppFlowPaused, false);
  });

  it('becomeProbe probes from match+1, or past a snapshot just sent (etcd TestProgressBecomeProbe)', () => {
    const cases: [Progress, number][] = [
      [progress({ state: 'replicate', match: 1, next: 5 }), 2],
      // Snapshot finished: continue after it.
      [progress({ state: 'snapshot', match: 1, next: 5, pendingSnapshot: 10 }), 11],
      // Snapshot failed: back to match+1.
      [progress({ state: 'snapshot', match: 1, next: 5, pendingSnapshot: 0 }), 2],
    ];
    for (const [pr, wantNext] of cases) {
      pr.inflights.add(4, 1);
      pr.becomeProbe();
      assert.equal(pr.state, 'probe');
      assert.equal(pr.match, 1);
      assert.equal(pr.next, wantNext);
      assert.equal(pr.pendingSnapshot, 0);
      assert.equal(pr.inflights.count, 0, 'the window is forgotten');
    }
  });

  it('becomeReplicate streams from match+1 (etcd TestProgressBecomeReplicate)', () => {
    const pr = progress({ match: 1, next: 5, paused: true });
    pr.becomeReplicate();
    assert.equal(pr.state, 'replicate');
    assert.equal(pr.match, 1);
    assert.equal(pr.next, 2);
    assert.equal(pr.msgAppFlowPaused, false);
  });

  it('becomeSnapshot waits for the snapshot and continues right after it (etcd TestProgressBecomeSnapshot)', () => {
    const pr = progress({ match: 1, next: 5 });
    pr.becomeSnapshot(10);
    assert.equal(pr.state, 'snapshot');
    assert.equal(pr.match, 1);
    assert.equal(pr.pendingSnapshot, 10);
    assert.equal(pr.next, 11);
    assert.equal(pr.pendingCommit, 10);
    assert.equal(pr.isPaused(), true);
  });

  it('maybeUpdate never moves match or next back (etcd TestProgressUpdate)', () => {
    const [prevMatch, prevNext] = [3, 5];
    const cases: [number, number, number, boolean][] = [
      [prevMatch - 1, prevMatch, prevNext, false], // do not decrease match, next
      [prevMatch, prevMatch, prevNext, false], // do not decrease next
      [prevMatch + 1, prevMatch + 1, prevNext, true], // increase match, do not decrease next
      [prevMatch + 2, prevMatch + 2, prevNext + 1, true], // increase match, next
    ];
    for (const [update, wantMatch, wantNext, wantOk] of cases) {
      const pr = progress({ match: prevMatch, next: prevNext });
      assert.equal(pr.maybeUpdate(update), wantOk, `update ${update}`);
      assert.equal(pr.match, wantMatch);
      assert.equal(pr.next, wantNext);
    }
  });

  it('maybeDecrTo backs off on genuine rejections only, probing straight to the hint (etcd TestProgressMaybeDecr)', () => {
    const cases: { state: ProgressState; match: number; next: number; rejected: number; hint: number; ok: boolean; wantNext: number; why: string }[] = [
      { state: 'replicate', match: 5, next: 10, rejected: 5, hint: 5, ok: false, wantNext: 10, why: 'rejected <= match is stale' },
      { state: 'replicate', match: 5, next: 10, rejected: 4, hint: 4, ok: false, wantNext: 10, why: 'rejected <= match is stale' },
      { state: 'replicate', match: 5, next: 10, rejected: 9, hint: 9, ok: true, wantNext: 6, why: 'back to match+1' },
      { state: 'probe', match: 0, next: 0, rejected: 0, hint: 0, ok: false, wantNext: 0, why: 'next-1 != rejected is stale' },
      { state: 'probe', match: 0, next: 10, rejected: 5, hint: 5, ok: false, wantNext: 10, why: 'next-1 != rejected is stale' },
      { state: 'probe', match: 0, next: 10, rejected: 9, hint: 9, ok: true, wantNext: 9, why: 'one back' },
      { state: 'probe', match: 0, next: 2, rejected: 1, hint: 1, ok: true, wantNext: 1, why: 'one back' },
      { state: 'probe', match: 0, next: 1, rejected: 0, hint: 0, ok: true, wantNext: 1, why: 'never below 1' },
      { state: 'probe', match: 0, next: 10, rejected: 9, hint: 2, ok: true, wantNext: 3, why: 'straight to min(rejected, hint+1)' },
      { state: 'probe', match: 0, next: 10, rejected: 9, hint: 0, ok: true, wantNext: 1, why: 'hint 0 probes from 1' },
      { state: 'probe', match: 4, next: 10, rejected: 9, hint: 1, ok: true, wantNext: 5, why: 'never below match+1' },
    ];
    for (const c of cases) {
      const pr = progress({ state: c.state, match: c.match, next: c.next });
      assert.equal(pr.maybeDecrTo(c.rejected, c.hint), c.ok, c.why);
      assert.equal(pr.match, c.match, c.why);
      assert.equal(pr.next, c.wantNext, c.why);
    }
  });

  it('updateOnEntriesSend in replicate: next moves past the entries, the window takes them, a full window pauses', () => {
    const pr = new Progress({ match: 4, next: 5, inflights: new Inflights(2, 0) });
    pr.becomeReplicate();
    pr.updateOnEntriesSend(3, 30, 5);
    assert.equal(pr.next, 8);
    assert.equal(pr.inflights.count, 1);
    assert.equal(pr.msgAppFlowPaused, false);
    pr.updateOnEntriesSend(0, 0, 8); // an empty append changes nothing but the pause
    assert.equal(pr.next, 8);
    assert.equal(pr.inflights.count, 1);
    pr.updateOnEntriesSend(2, 20, 8);
    assert.equal(pr.next, 10);
    assert.equal(pr.msgAppFlowPaused, true, 'the window is full');
    assert.equal(pr.isPaused(), true);
    // The follower acknowledges: the window frees and the flow resumes.
    assert.equal(pr.maybeUpdate(7), true);
    pr.inflights.freeLE(7);
    assert.equal(pr.isPaused(), false);
    assert.equal(pr.describe(), 'replicate match=7 next=10 inactive inflight=1');
  });

  it('updateOnEntriesSend in probe pauses after a non-empty append only; in snapshot it is refused', () => {
    const pr = progress({ match: 0, next: 3 });
    pr.updateOnEntriesSend(0, 0, 3);
    assert.equal(pr.msgAppFlowPaused, false);
    pr.updateOnEntriesSend(2, 10, 3);
    assert.equal(pr.msgAppFlowPaused, true);
    assert.equal(pr.next, 3, 'probing does not move next optimistically');
    assert.equal(pr.inflights.count, 0);
    pr.becomeSnapshot(9);
    assert.throws(() => pr.updateOnEntriesSend(1, 1, 10), (err) => isRaftError(err, 'AXIS_INTERNAL'));
  });

  it('canBumpCommit / sentCommit: a commit index is worth sending only if the follower could use it', () => {
    const pr = new Progress({ match: 4, next: 5, inflights: new Inflights(8) });
    pr.becomeReplicate();
    pr.updateOnEntriesSend(5, 50, 5); // next = 10
    assert.equal(pr.canBumpCommit(7), true);
    pr.sentCommit(7);
    assert.equal(pr.canBumpCommit(7), false, 'already sent');
    assert.equal(pr.canBumpCommit(8), true);
    pr.sentCommit(9);
    assert.equal(pr.canBumpCommit(12), false, 'the follower cannot commit past next-1 = 9');
    // A rejection sends next back to match+1 and the commit index in flight with it.
    assert.equal(pr.maybeDecrTo(9, 4), true);
    assert.equal(pr.next, 5);
    assert.equal(pr.pendingCommit, 4);
    assert.equal(pr.canBumpCommit(12), false, 'next-1 = match = 4');
  });

  it('describe reads like etcd; clone shares nothing', () => {
    const pr = new Progress({ match: 2, next: 3, inflights: new Inflights(1), isLearner: true });
    pr.becomeSnapshot(123);
    pr.inflights.add(123, 1);
    assert.equal(pr.describe(), 'snapshot match=2 next=124 learner paused pendingSnap=123 inactive inflight=1[full]');
    const copy = pr.clone();
    pr.becomeProbe();
    pr.isLearner = false;
    assert.equal(copy.describe(), 'snapshot match=2 next=124 learner paused pendingSnap=123 inactive inflight=1[full]');
    assert.equal(copy.pendingCommit, 123);
  });
});

/** A tracker with the given joint config; every voter and learner tracked with match 0. */
function trackerWith(incoming: number[], outgoing: number[] = [], learners: number[] = []): ProgressTracker {
  const tracker = new ProgressTracker(16);
  tracker.config = {
    voters: new JointConfig(new MajorityConfig(incoming), new MajorityConfig(outgoing)),
    autoLeave: false,
    learners: new Set(learners),
    learnersNext: new Set(),
  };
  for (const id of [...incoming, ...outgoing, ...learners]) {
    tracker.progress.set(id, new Progress({ next: 1, inflights: new Inflights(16), isLearner: learners.includes(id) }));
  }
  return tracker;
}

function setMatches(tracker: ProgressTracker, matches: Record<number, number>): void {
  for (const [id, match] of Object.entries(matches)) {
    const pr = tracker.progress.get(Number(id));
    assert.ok(pr);
    pr.maybeUpdate(match);
  }
}

describe('ProgressTracker', () => {
  it('committed: a majority of each half, learners never counted', () => {
    const tracker = trackerWith([1, 2, 3], [], [4]);
    setMatches(tracker, { 1: 10, 2: 5, 4: 100 });
    assert.equal(tracker.committed(), 5);
    setMatches(tracker, { 3: 8 });
    assert.equal(tracker.committed(), 8);

    const joint = trackerWith([1, 2, 3], [3, 4, 5]);
    setMatches(joint, { 1: 10, 2: 10, 3: 7, 4: 6 });
    assert.equal(joint.committed(), 6, 'min(incoming 10, outgoing 6)');
    setMatches(joint, { 5: 9 });
    assert.equal(joint.committed(), 7);
  });

  it('committed of an empty config is "infinity", as in etcd', () => {
    assert.equal(new ProgressTracker(1).committed(), Number.MAX_SAFE_INTEGER);
  });

  it('votes: first answer counts, learners are not tallied, joint needs both halves', () => {
    const tracker = trackerWith([1, 2, 3], [3, 4, 5], [6]);
    tracker.recordVote(1, true);
    tracker.recordVote(1, false); // ignored: 1 already answered
    tracker.recordVote(2, true);
    tracker.recordVote(6, true); // a learner: not counted
    assert.deepEqual(tracker.tallyVotes(), { granted: 2, rejected: 0, result: 'pending' });
    tracker.recordVote(4, false);
    tracker.recordVote(5, false);
    assert.deepEqual(tracker.tallyVotes(), { granted: 2, rejected: 2, result: 'lost' });
    tracker.resetVotes();
    for (const id of [3, 4, 1]) tracker.recordVote(id, true);
    assert.deepEqual(tracker.tallyVotes(), { granted: 3, rejected: 0, result: 'won' });
  });

  it('votes from nodes no longer tracked still decide nothing and are not tallied', () => {
    const tracker = trackerWith([1, 2, 3]);
    tracker.recordVote(9, true);
    tracker.recordVote(1, true);
    assert.deepEqual(tracker.tallyVotes(), { granted: 1, rejected: 0, result: 'pending' });
  });

  it('quorumActive: recently active voters of both halves; learners do not help', () => {
    const tracker = trackerWith([1, 2, 3], [3, 4, 5], [6]);
    const activate = (...ids: number[]) => {
      for (const [id, pr] of tracker.progress) pr.recentActive = ids.includes(id);
    };
    activate(1, 2, 6);
    assert.equal(tracker.quorumActive(), false);
    activate(1, 3, 4);
    assert.equal(tracker.quorumActive(), true);
    activate(1, 2, 4, 5, 6);
    assert.equal(tracker.quorumActive(), true);
    activate(1, 4, 6);
    assert.equal(tracker.quorumActive(), false);
  });

  it('visits in ascending id order; lists voters, learners and the ConfState sorted', () => {
    const tracker = trackerWith([3, 1, 2], [5, 2], [9, 7]);
    const seen: number[] = [];
    tracker.visit((id) => seen.push(id));
    assert.deepEqual(seen, [1, 2, 3, 5, 7, 9]);
    assert.deepEqual(tracker.voterNodes(), [1, 2, 3, 5]);
    assert.deepEqual(tracker.learnerNodes(), [7, 9]);
    assert.deepEqual(tracker.confState(), { voters: [1, 2, 3], votersOutgoing: [2, 5], learners: [7, 9], learnersNext: [], autoLeave: false });
    assert.equal(describeConfig(tracker.config), 'voters=(1 2 3)&&(2 5) learners=(7 9)');
    assert.equal(describeProgress(tracker.progress).split('\n')[0], '1: probe match=0 next=1 inactive');
  });

  it('isSingleton: one voter and not joint', () => {
    assert.equal(trackerWith([1]).isSingleton(), true);
    assert.equal(trackerWith([1], [], [2]).isSingleton(), true);
    assert.equal(trackerWith([1], [2]).isSingleton(), false);
    assert.equal(trackerWith([1, 2]).isSingleton(), false);
  });
});
