/** Scenario tests of the Raft state machine, named after what they show (and the paper's sections). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Raft } from '../../ts/raft/raft.js';
import { isAxisError } from '../../ts/errors/index.js';
import { MemoryStorage } from '../../ts/raft/storage.js';
import { MAX_TERM } from '../../ts/raft/impossible.js';
import { type Entry, MessageType, Role, emptyConfState, message } from '../../ts/raft/types.js';
import { Cluster, entries } from './cluster.js';

describe('leader election (§5.2)', () => {
  it('a node that campaigns wins with a majority and commits a no-op of its term', () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    assert.equal(c.get(1).role, Role.Leader);
    assert.equal(c.get(1).term, 2);
    for (const id of [2, 3]) {
      assert.equal(c.get(id).role, Role.Follower);
      assert.equal(c.get(id).lead, 1);
    }
    // The no-op (index 2, term 2) is committed and applied everywhere.
    for (const id of [1, 2, 3]) assert.deepEqual(c.member(id).applied.map((e) => [e.index, e.term, e.data.length]), [[2, 2, 0]]);
  });

  it('an election timeout starts a campaign by itself', () => {
    const c = new Cluster([1, 2, 3]);
    c.tick(2, 10);
    c.stabilize();
    assert.equal(c.get(2).role, Role.Leader);
  });

  it('a candidate with an out-of-date log loses: voters refuse it (§5.4.1)', () => {
    const c = new Cluster([1, 2, 3], {}, new Map([
      [2, entries(2, 2)],
      [3, entries(2, 2)],
    ]));
    c.campaign(1); // its log ends at (1, 1); theirs at (3, 2)
    assert.notEqual(c.get(1).role, Role.Leader);
    const refusals = c.delivered.filter((m) => m.type === MessageType.VoteResp && m.reject);
    assert.equal(refusals.length, 2);
  });

  it('with PreVote, a node back from a partition does not disrupt the leader', () => {
    const c = new Cluster([1, 2, 3], { preVote: true, checkQuorum: true });
    c.campaign(1);
    c.isolate(3);
    c.tick(3, 30); // campaigns again and again, alone
    assert.equal(c.get(3).term, 2, 'a pre-candidate never raises its term');
    c.heal();
    c.tick(3, 10);
    c.stabilize();
    assert.equal(c.get(1).role, Role.Leader);
    assert.equal(c.get(1).term, 2);
  });

  it('without PreVote, the same node raises its term and forces an election', () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    c.tick(3, 30);
    assert.ok(c.get(3).term > 2);
    c.heal();
    c.tick(3, 10);
    c.stabilize();
    assert.ok(c.get(1).term > 2, 'the old leader stepped down to a higher term');
  });

  it('with CheckQuorum, a leader that hears from no quorum for a whole election timeout steps down', () => {
    const c = new Cluster([1, 2, 3], { checkQuorum: true });
    c.campaign(1);
    c.isolate(1);
    // The first check still counts what was heard before the cut; the next finds nobody.
    c.tick(1, 10);
    assert.equal(c.get(1).role, Role.Leader);
    c.tick(1, 10);
    assert.equal(c.get(1).role, Role.Follower);
    assert.equal(c.get(1).lead, 0);
  });

  it('with CheckQuorum, followers that hear from the leader ignore vote requests (leader lease)', () => {
    const c = new Cluster([1, 2, 3], { checkQuorum: true });
    c.campaign(1);
    c.get(2).step({ type: MessageType.Vote, from: 3, to: 2, term: 5, logTerm: 2, index: 2, entries: [], commit: 0, reject: false, rejectHint: 0 });
    c.process();
    assert.equal(c.get(2).term, 2, 'a vote request in the lease is dropped');
  });
});

describe('log replication (§5.3)', () => {
  it('a proposal commits once a majority holds it, then every node applies it', () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.propose(1, 'x=1');
    for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ['x=1']);
  });

  it('a follower forwards proposals to the leader', () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.propose(3, 'from-3');
    for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ['from-3']);
  });

  it('with no leader, a proposal is refused with a reason', () => {
    const c = new Cluster([1, 2, 3]);
    assert.throws(() => c.get(2).propose(Buffer.from('x')), (err: unknown) => isAxisError(err, 'AXIS_NO_LEADER'));
  });

  it('one follower down: the other makes the majority; the lagging one catches up when back', () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    for (let i = 0; i < 5; i++) c.propose(1, `v${i}`);
    assert.deepEqual(c.appliedData(2), ['v0', 'v1', 'v2', 'v3', 'v4']);
    assert.deepEqual(c.appliedData(3), []);
    c.heal();
    c.tick(1); // a heartbeat: the leader learns it is behind and sends what it lacks
    c.stabilize();
    assert.deepEqual(c.appliedData(3), ['v0', 'v1', 'v2', 'v3', 'v4']);
  });

  it('fast backtracking: a follower with a long divergent tail is repaired in few round trips', () => {
    // Node 3 holds 30 entries of term 2 that nobody else has; 1 and 2 have 5 entries of term 3.
    const c = new Cluster([1, 2, 3], {}, new Map([
      [1, entries(3, 3, 3, 3, 3)],
      [2, entries(3, 3, 3, 3, 3)],
      [3, entries(...Array.from({ length: 30 }, () => 2))],
    ]));
    c.campaign(1);
    const rejections = c.delivered.filter((m) => m.type === MessageType.AppResp && m.reject && m.from === 3);
    assert.ok(rejections.length <= 2, `${rejections.length} rejected appends`);
    const log3 = c.member(3).storage;
    assert.equal(log3.lastIndex(), c.member(1).storage.lastIndex());
    assert.equal(log3.term(6), 3);
  });

  it('pipelining: at most maxInflightMsgs appends are in flight to a follower', () => {
    const c = new Cluster([1, 2], { maxInflightMsgs: 2, maxSizePerMsg: 1 });
    c.campaign(1);
    c.queue = [];
    // Deliver nothing while proposing: each proposal would go in its own message (maxSizePerMsg 1).
    for (let i = 0; i < 5; i++) {
      c.get(1).propose(Buffer.from(`p${i}`));
      c.process();
    }
    const apps = c.queue.filter((m) => m.type === MessageType.App && m.to === 2 && m.entries.length > 0);
    assert.equal(apps.length, 2);
    c.stabilize();
    assert.deepEqual(c.appliedData(2), ['p0', 'p1', 'p2', 'p3', 'p4']);
  });

  it('the uncommitted log is capped: proposals are refused until entries commit', () => {
    const c = new Cluster([1, 2, 3], { maxUncommittedEntriesSize: 10 });
    c.campaign(1);
    c.isolate(1); // nothing can commit
    c.get(1).propose(Buffer.from('123456'));
    assert.throws(() => c.get(1).propose(Buffer.from('123456')), (err: unknown) => isAxisError(err, 'AXIS_TOO_MANY_REQUESTS'));
    c.process();
    c.heal();
    c.tick(1);
    c.stabilize();
    assert.deepEqual(c.appliedData(2), ['123456']);
    c.propose(1, '123456'); // room again
    assert.deepEqual(c.appliedData(2), ['123456', '123456']);
  });
});

describe('safety (§5.4)', () => {
  it('a leader commits entries of earlier terms only through an entry of its own (Figure 8)', () => {
    // 1 is leader in term 2 and appends an entry only 2 receives.
    const c = new Cluster([1, 2, 3, 4, 5]);
    c.campaign(1);
    c.cutLink(1, 3);
    c.cutLink(1, 4);
    c.cutLink(1, 5);
    c.propose(1, 'old');
    assert.deepEqual(c.appliedData(1), [], 'not committed: only 2 of 5 hold it');
    // 2 becomes leader in a later term; the old entry is on a minority until 2's no-op commits it.
    c.heal();
    c.campaign(2);
    assert.equal(c.get(2).role, Role.Leader);
    for (const id of [1, 2, 3, 4, 5]) assert.deepEqual(c.appliedData(id), ['old']);
    const noop = c.member(2).applied.at(-1)!;
    assert.equal(noop.term, c.get(2).term, 'committed together with the new term\'s no-op');
  });

  it('acknowledgements of earlier terms\' entries do not commit them; one of the leader\'s own term does', () => {
    // 1 holds entries 2 and 3 of term 2 and becomes leader of term 3 (no-op at 4).
    const c = new Cluster([1, 2], {}, new Map([[1, entries(2, 2)]]));
    c.get(1).campaign();
    c.process();
    while (c.get(1).role !== Role.Leader) c.deliverNext();
    c.queue = []; // hold back the appends: we play the follower's answers by hand
    const ack = (index: number) => ({ type: MessageType.AppResp, from: 2, to: 1, term: c.get(1).term, logTerm: 0, index, entries: [], commit: 0, reject: false, rejectHint: 0 });
    c.get(1).step(ack(3));
    assert.equal(c.get(1).log.committed, 1, 'a majority holds entry 3, but it is of term 2');
    c.get(1).step(ack(4));
    assert.equal(c.get(1).log.committed, 4, 'the no-op of term 3 commits, and everything before it');
  });

  it('a node grants one vote per term', () => {
    const c = new Cluster([1, 2, 3]);
    const vote = (from: number) => ({ type: MessageType.Vote, from, to: 3, term: 5, logTerm: 1, index: 1, entries: [], commit: 0, reject: false, rejectHint: 0 });
    c.get(3).step(vote(1));
    c.get(3).step(vote(2));
    const rd = c.get(3).ready();
    const resps = rd.messagesAfterPersist.filter((m) => m.type === MessageType.VoteResp);
    assert.deepEqual(resps.map((m) => [m.to, m.reject]), [[1, false], [2, true]]);
    assert.equal(rd.hardState?.vote, 1);
  });

  it('a vote goes out only after it is durable: it waits in messagesAfterPersist with the hard state', () => {
    const c = new Cluster([1, 2, 3]);
    c.get(3).step({ type: MessageType.Vote, from: 1, to: 3, term: 2, logTerm: 1, index: 1, entries: [], commit: 0, reject: false, rejectHint: 0 });
    const rd = c.get(3).ready();
    assert.deepEqual(rd.messages.filter((m) => m.type === MessageType.VoteResp), []);
    assert.equal(rd.messagesAfterPersist.length, 1);
    assert.deepEqual(rd.hardState, { term: 2, vote: 1, commit: 1 });
  });
});

describe('reads (§6.4)', () => {
  it('ReadIndex: one heartbeat round confirms reads queued before it', () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.propose(1, 'x');
    c.get(1).readIndex(Buffer.from('r1'));
    c.get(1).readIndex(Buffer.from('r2'));
    c.process();
    c.stabilize();
    const rs = c.member(1).readStates.map((r) => [Buffer.from(r.requestId).toString(), r.index]);
    assert.deepEqual(rs, [['r1', 3], ['r2', 3]]);
  });

  it('a follower\'s read is confirmed through the leader', () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.get(3).readIndex(Buffer.from('f'));
    c.process();
    c.stabilize();
    assert.deepEqual(c.member(3).readStates.map((r) => Buffer.from(r.requestId).toString()), ['f']);
    assert.equal(c.member(3).readStates[0]!.index, c.get(1).log.committed);
  });

  it('a read arriving before the new leader\'s no-op commits waits for it', () => {
    const c = new Cluster([1, 2, 3]);
    c.get(1).campaign();
    c.process();
    // Win the election but hold back the appends that would commit the no-op.
    for (let i = 0; i < 100 && c.get(1).role !== Role.Leader; i++) c.deliverNext();
    assert.equal(c.get(1).role, Role.Leader);
    c.get(1).readIndex(Buffer.from('early'));
    c.process();
    assert.deepEqual(c.member(1).readStates, []);
    c.stabilize();
    assert.deepEqual(c.member(1).readStates.map((r) => Buffer.from(r.requestId).toString()), ['early']);
  });

  it('lease reads need CheckQuorum', () => {
    const storage = new MemoryStorage();
    storage.applySnapshot({ meta: { index: 1, term: 1, confState: { ...emptyConfState(), voters: [1] } }, data: new Uint8Array() });
    assert.throws(() => new Raft({ id: 1, storage, electionTick: 10, heartbeatTick: 1, random: () => 0, readOnly: 'lease' }), /lease reads need checkQuorum/);
  });
});

describe('membership changes (§4 of the thesis, joint consensus)', () => {
  const add = (type: 'addNode' | 'addLearner' | 'removeNode', nodeId: number) => ({ type, nodeId });

  it('a learner replicates but does not vote; promoted, it becomes a voter', () => {
    const c = new Cluster([1, 2, 3, 4], { voters: [1, 2, 3] });
    c.campaign(1);
    c.get(1).proposeConfChange({ transition: 'auto', changes: [add('addLearner', 4)] });
    c.process();
    c.stabilize();
    assert.deepEqual(c.member(1).confState?.learners, [4]);
    c.propose(1, 'x');
    assert.deepEqual(c.appliedData(4), ['x'], 'the learner receives the log');
    // A learner never campaigns.
    c.tick(4, 30);
    c.stabilize();
    assert.equal(c.get(1).role, Role.Leader);
    c.get(1).proposeConfChange({ transition: 'auto', changes: [add('addNode', 4)] });
    c.process();
    c.stabilize();
    assert.deepEqual(c.member(1).confState?.voters, [1, 2, 3, 4]);
    assert.deepEqual(c.member(4).confState?.voters, [1, 2, 3, 4]);
  });

  it('replacing two voters at once goes through a joint configuration, left automatically', () => {
    const c = new Cluster([1, 2, 3, 4, 5], { voters: [1, 2, 3] });
    c.campaign(1);
    c.get(1).proposeConfChange({ transition: 'auto', changes: [add('addNode', 4), add('addNode', 5), add('removeNode', 2), add('removeNode', 3)] });
    c.process();
    c.stabilize();
    // The joint config was entered and, once applied, left by the leader on its own.
    const cs = c.member(1).confState!;
    assert.deepEqual(cs.voters, [1, 4, 5]);
    assert.deepEqual(cs.votersOutgoing, []);
    const ccEntries = c.member(1).applied.filter((e) => e.type === 1);
    assert.equal(ccEntries.length, 2, 'enter joint, then leave joint');
    c.propose(1, 'after');
    for (const id of [1, 4, 5]) assert.deepEqual(c.appliedData(id), ['after']);
  });

  it('only one change at a time: the next is refused until the last is applied', () => {
    const c = new Cluster([1, 2, 3, 4], { voters: [1, 2, 3] });
    c.campaign(1);
    c.get(1).proposeConfChange({ transition: 'auto', changes: [add('addLearner', 4)] });
    assert.throws(
      () => c.get(1).proposeConfChange({ transition: 'auto', changes: [add('addNode', 4)] }),
      (err: unknown) => isAxisError(err, 'AXIS_CONF_CHANGE_PENDING'),
    );
    c.process();
    c.stabilize();
    c.get(1).proposeConfChange({ transition: 'auto', changes: [add('addNode', 4)] }); // fine now
  });

  it('an empty change outside a joint configuration is refused', () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    assert.throws(
      () => c.get(1).proposeConfChange({ transition: 'auto', changes: [] }),
      (err: unknown) => isAxisError(err, 'AXIS_CONF_CHANGE_INVALID'),
    );
  });

  it('a leader removed from the configuration steps down, and the rest elect a new one', () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.get(1).proposeConfChange({ transition: 'auto', changes: [add('removeNode', 1)] });
    c.process();
    c.stabilize();
    assert.equal(c.get(1).role, Role.Follower);
    c.tick(2, 20);
    c.stabilize();
    assert.equal(c.get(2).role, Role.Leader);
    c.propose(2, 'without 1');
    assert.deepEqual(c.appliedData(3), ['without 1']);
  });
});

describe('leadership transfer (§3.10 of the thesis)', () => {
  it('a caught-up target is told to campaign and wins at once', () => {
    const c = new Cluster([1, 2, 3], { preVote: true, checkQuorum: true });
    c.campaign(1);
    c.get(1).transferLeader(3);
    c.process();
    c.stabilize();
    assert.equal(c.get(3).role, Role.Leader);
    assert.equal(c.get(1).role, Role.Follower);
    assert.equal(c.get(1).lead, 3);
  });

  it('a lagging target is caught up first; proposals are refused meanwhile', () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    c.propose(1, 'missed');
    c.heal();
    c.get(1).transferLeader(3);
    assert.throws(() => c.get(1).propose(Buffer.from('during')), (err: unknown) => isAxisError(err, 'AXIS_TRANSFER_IN_PROGRESS'));
    c.process();
    c.stabilize();
    assert.equal(c.get(3).role, Role.Leader);
    assert.ok(c.member(3).storage.lastIndex() >= 3, 'it had caught up before winning');
  });

  it('a transfer asked for at a follower is forwarded to the leader', () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.get(2).transferLeader(2);
    c.process();
    c.stabilize();
    assert.equal(c.get(2).role, Role.Leader);
  });

  it('a transfer that cannot finish is abandoned after an election timeout', () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    c.isolate(3);
    c.get(1).transferLeader(3);
    c.process();
    assert.equal(c.get(1).leadTransferee, 3);
    c.tick(1, 10);
    assert.equal(c.get(1).leadTransferee, 0);
    assert.equal(c.get(1).role, Role.Leader);
    c.get(1).propose(Buffer.from('after abort')); // accepted again
  });
});

describe('snapshots and log compaction (§7)', () => {
  it('a follower too far behind gets a snapshot, then the log after it', () => {
    const c = new Cluster([1, 2, 3], { compaction: { snapshotEvery: 5, keep: 2 } });
    c.campaign(1);
    c.isolate(3);
    for (let i = 0; i < 20; i++) c.propose(1, `v${i}`);
    assert.ok(c.member(1).storage.firstIndex() > 3, 'the leader compacted what 3 lacks');
    c.heal();
    c.tick(1);
    c.stabilize();
    assert.ok(c.delivered.some((m) => m.type === MessageType.Snap && m.to === 3), 'a snapshot was sent');
    c.propose(1, 'after');
    const want = [...Array.from({ length: 20 }, (_, i) => `v${i}`), 'after'];
    assert.deepEqual(c.appliedData(3), want);
    assert.deepEqual(c.appliedData(1), want);
  });

  it('a large snapshot is streamed in chunks and installed once the last one is in', () => {
    const c = new Cluster([1, 2, 3], { compaction: { snapshotEvery: 5, keep: 2 }, maxSnapshotChunk: 64 });
    c.campaign(1);
    c.isolate(3);
    for (let i = 0; i < 20; i++) c.propose(1, `v${i}`);
    c.heal();
    c.tick(1);
    c.stabilize();
    const chunks = c.delivered.filter((m) => m.type === MessageType.Snap && m.to === 3);
    assert.ok(chunks.length > 1, `${chunks.length} chunk(s)`);
    assert.ok(chunks.every((m) => m.snapshot!.data.length <= 64));
    assert.deepEqual(c.appliedData(3), Array.from({ length: 20 }, (_, i) => `v${i}`));
  });

  it('chunks are put back in order, duplicates ignored; half a snapshot is never installed', () => {
    const c = new Cluster([1, 2]);
    c.campaign(1);
    const r2 = c.get(2);
    const meta = { index: 50, term: r2.term, confState: { ...emptyConfState(), voters: [1, 2] } };
    const data = Buffer.from('0123456789abcdef');
    const chunk = (offset: number) => ({
      type: MessageType.Snap, from: 1, to: 2, term: r2.term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0,
      snapshot: { meta, data: data.subarray(offset, offset + 8) }, chunk: { offset, total: 16 },
    });
    r2.step(chunk(8)); // the second half first
    r2.step(chunk(8)); // and again
    assert.equal(r2.log.unstableSnapshot(), undefined, 'half a snapshot is not installed');
    r2.step(chunk(0));
    assert.equal(r2.log.unstableSnapshot()?.meta.index, 50);
    assert.deepEqual(Buffer.from(r2.log.unstableSnapshot()!.data), data);
  });

  it('compaction keeps the log bounded under steady writes', () => {
    const c = new Cluster([1, 2, 3], { compaction: { snapshotEvery: 10, keep: 3 } });
    c.campaign(1);
    for (let i = 0; i < 100; i++) c.propose(1, `w${i}`);
    for (const id of [1, 2, 3]) {
      const s = c.member(id).storage;
      assert.ok(s.lastIndex() - s.firstIndex() + 1 <= 10 + 3 + 1, `node ${id} holds ${s.lastIndex() - s.firstIndex() + 1} entries`);
    }
  });

  it('a snapshot ending at an entry the follower has only moves its commit', () => {
    const c = new Cluster([1, 2]);
    c.campaign(1);
    c.propose(1, 'x');
    const r2 = c.get(2);
    const last = r2.log.lastIndex();
    const before = r2.log.committed;
    r2.step({
      type: MessageType.Snap, from: 1, to: 2, term: r2.term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0,
      snapshot: { meta: { index: last, term: r2.log.term(last)!, confState: { ...emptyConfState(), voters: [1, 2] } }, data: new Uint8Array() },
    });
    assert.equal(r2.log.committed, Math.max(before, last));
    assert.equal(r2.log.unstableSnapshot(), undefined, 'nothing to install');
  });
});

describe('flow control', () => {
  it('an append carries at most maxSizePerMsg bytes of entries (but at least one entry)', () => {
    const c = new Cluster([1, 2], { maxSizePerMsg: 10 });
    c.campaign(1);
    c.isolate(2);
    for (let i = 0; i < 6; i++) c.propose(1, 'abcd'); // 4 bytes each
    c.heal();
    c.delivered = [];
    c.tick(1);
    c.stabilize();
    const sizes = c.delivered.filter((m) => m.type === MessageType.App && m.entries.length > 0).map((m) => m.entries.reduce((s, e) => s + e.data.length, 0));
    assert.ok(sizes.length >= 3, `${sizes.length} appends`);
    assert.ok(sizes.every((s) => s <= 10), JSON.stringify(sizes));
    assert.equal(c.appliedData(2).length, 6);
  });

  it('in-flight bytes are capped: the leader stops sending until acknowledgements free room', () => {
    const c = new Cluster([1, 2], { maxInflightMsgs: 100, maxInflightBytes: 8, maxSizePerMsg: 4 });
    c.campaign(1);
    c.queue = [];
    for (let i = 0; i < 6; i++) {
      c.get(1).propose(Buffer.from('abcd'));
      c.process();
    }
    const apps = c.queue.filter((m) => m.type === MessageType.App && m.to === 2 && m.entries.length > 0);
    assert.equal(apps.length, 2, 'two 4-byte appends fill the 8-byte window');
    c.stabilize();
    assert.equal(c.appliedData(2).length, 6);
  });
});

describe('lease reads (§6.4.1)', () => {
  it('with readOnly "lease" and CheckQuorum, the leader answers reads without a heartbeat round', () => {
    const c = new Cluster([1, 2, 3], { checkQuorum: true, readOnly: 'lease' });
    c.campaign(1);
    c.propose(1, 'x');
    c.queue = [];
    c.get(1).readIndex(Buffer.from('lease-read'));
    c.process();
    assert.deepEqual(c.member(1).readStates.map((r) => [Buffer.from(r.requestId).toString(), r.index]), [['lease-read', c.get(1).log.committed]]);
    assert.deepEqual(c.queue.filter((m) => m.type === MessageType.Heartbeat), [], 'no heartbeat round was needed');
  });
});

describe('sending while a Ready is written (§10.2.1)', () => {
  it("takeMessages hands out a leader's new appends at once; the next Ready does not repeat them", () => {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    const leader = c.get(1);
    leader.propose(Buffer.from('a'));
    const rd = leader.ready(); // being written: the driver may not call ready() again yet
    assert.equal(rd.entries.length, 1);
    leader.propose(Buffer.from('b'));
    const early = leader.takeMessages();
    const apps = early.filter((m) => m.type === MessageType.App);
    assert.deepEqual(apps.map((m) => m.to).sort(), [2, 3]);
    for (const m of apps) assert.deepEqual(m.entries.map((e) => Buffer.from(e.data).toString()), ['b']);
    assert.deepEqual(leader.takeMessages(), [], 'taken once');
    leader.advance(rd);
    const next = leader.ready();
    assert.deepEqual(next.entries.map((e) => Buffer.from(e.data).toString()), ['b'], 'still to persist');
    assert.equal(next.messages.filter((m) => m.type === MessageType.App && m.entries.some((e) => Buffer.from(e.data).toString() === 'b')).length, 0);
    assert.equal(next.messagesAfterPersist.length, 0);
  });
});

describe('messages no correct node sends (hostile peers, test/peer-fuzz.test.ts)', () => {
  /** Node 1 leads at term 2; every node applied the no-op. */
  function led(): Cluster {
    const c = new Cluster([1, 2, 3]);
    c.campaign(1);
    return c;
  }

  it('a peer message without a term is not taken for a local one: a candidate keeps its term', () => {
    const c = led();
    c.isolate(3);
    c.tick(3, 10); // campaigns alone: a candidate at term 3
    assert.equal(c.get(3).role, Role.Candidate);
    c.get(3).step(message({ type: MessageType.Heartbeat, from: 1, to: 3, term: 0 }));
    c.get(3).step(message({ type: MessageType.App, from: 1, to: 3, term: 0, index: 2, logTerm: 2 }));
    assert.equal(c.get(3).term, 3, 'the term never goes back');
    assert.equal(c.get(3).role, Role.Candidate);
  });

  it('a term beyond any election count is ignored (no room would be left to count the next ones)', () => {
    const c = led();
    c.get(2).step(message({ type: MessageType.Vote, from: 3, to: 2, term: 2 ** 53 - 1, index: 99, logTerm: 2 ** 48 }));
    c.get(2).step(message({ type: MessageType.Heartbeat, from: 3, to: 2, term: MAX_TERM + 1 }));
    assert.equal(c.get(2).term, 2);
    assert.equal(c.get(2).lead, 1);
  });

  it('an append whose entries do not follow its index, or outrun its term, is ignored', () => {
    const c = led();
    c.propose(1, 'x');
    const before = c.get(2).log.lastIndex();
    const committed = c.get(2).log.committed;
    for (const bad of [
      // An entry below the commit index (it used to throw: a conflict with a committed entry).
      [{ index: 1, term: 9, type: 0, data: new Uint8Array() }],
      // A gap after the matching entry.
      [{ index: before + 5, term: 2, type: 0, data: new Uint8Array() }],
      // A term past the leader's own.
      [{ index: before + 1, term: 7, type: 0, data: new Uint8Array() }],
    ] as Entry[][]) {
      assert.doesNotThrow(() => c.get(2).step(message({ type: MessageType.App, from: 1, to: 2, term: 2, index: before, logTerm: 2, entries: bad, commit: before + 1 })));
    }
    c.process();
    assert.equal(c.get(2).log.lastIndex(), before);
    assert.equal(c.get(2).log.committed, committed);
    assert.deepEqual(c.appliedData(2), ['x']);
  });

  it('a proposal without entries is ignored, not a crash', () => {
    const c = led();
    assert.doesNotThrow(() => c.get(1).step(message({ type: MessageType.Prop, from: 2, to: 1 })));
    assert.equal(c.get(1).role, Role.Leader);
  });

  it('an acknowledgement of entries the leader never had commits nothing', () => {
    const c = led();
    c.isolate(1);
    c.get(1).propose(Buffer.from('alone'));
    c.process();
    const last = c.get(1).log.lastIndex();
    const committed = c.get(1).log.committed;
    // Node 2 never got the entry; a forged ack of it, and of far more, must not make a majority.
    c.get(1).step(message({ type: MessageType.AppResp, from: 2, to: 1, term: 2, index: last + 100 }));
    c.process();
    assert.equal(c.get(1).log.committed, committed);
    assert.ok(committed < last);
  });

  it("a heartbeat's commit past the follower's log commits nothing (it used to commit the follower's whole tail)", () => {
    // Node 3 holds two entries of term 1 nobody else has; it has committed only the bootstrap.
    const c = new Cluster([1, 2, 3], {}, new Map([[3, entries(1, 1)]]));
    assert.equal(c.get(3).log.committed, 1);
    c.get(3).step(message({ type: MessageType.Heartbeat, from: 1, to: 3, term: 2, commit: 1000 }));
    c.process();
    assert.equal(c.get(3).log.committed, 1);
    assert.equal(c.member(3).applied.length, 0);
  });
});
