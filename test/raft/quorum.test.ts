/**
 * Majority and joint quorums: etcd-io/raft's quorum testdata (majority_commit, joint_commit,
 * majority_vote, joint_vote) as tables, with the extra checks etcd's harness runs on every case,
 * and seeded random configs against a brute-force computation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { INFINITE_INDEX, JointConfig, MajorityConfig, type AckedIndexer, type VoteResult } from '../../ts/raft/quorum.js';
import { mulberry32 } from '../support/prng.js';

/** A case as etcd writes it: "cfg=(1,2) cfgj=(2,3) idx=(_,5,7)"; cfgj=zero is an empty outgoing half. */
interface Case {
  cfg: number[];
  cfgj: number[] | undefined;
  /** In order of cfg then cfgj, each id once; undefined for '_'. */
  values: (string | undefined)[];
}

function parseCase(spec: string): Case {
  const args = new Map<string, string[]>();
  for (const m of spec.matchAll(/(\w+)=\(([^)]*)\)|(\w+)=(\w+)/g)) {
    const key = m[1] ?? m[3] ?? '';
    const raw = m[2] ?? m[4] ?? '';
    args.set(key, raw.split(',').map((v) => v.trim()).filter((v) => v !== ''));
  }
  const cfgj = args.get('cfgj');
  const values = args.get('idx') ?? args.get('votes') ?? [];
  return {
    cfg: (args.get('cfg') ?? []).map(Number),
    cfgj: cfgj === undefined ? undefined : cfgj[0] === 'zero' ? [] : cfgj.map(Number),
    values: values.map((v) => (v === '_' ? undefined : v)),
  };
}

/** Maps the listed values onto the ids of cfg then cfgj, each id once, as etcd's harness does. */
function valuesById(c: Case): Map<number, string> {
  const byId = new Map<number, string>();
  const seen = new Set<number>();
  let next = 0;
  for (const id of [...c.cfg, ...(c.cfgj ?? [])]) {
    if (seen.has(id)) continue;
    seen.add(id);
    const v = c.values[next++];
    if (v !== undefined) byId.set(id, v);
  }
  assert.equal(next, c.values.length, 'one value (or _) per distinct voter');
  return byId;
}

function ackedOf(byId: ReadonlyMap<number, number>): AckedIndexer {
  return (id) => byId.get(id);
}

/** etcd's alternativeMajorityCommittedIndex: the highest index that a majority has reached. */
function bruteForceCommitted(ids: readonly number[], acked: AckedIndexer): number {
  if (ids.length === 0) return INFINITE_INDEX;
  const quorum = Math.floor(ids.length / 2) + 1;
  let best = 0;
  for (const candidate of ids.map((id) => acked(id) ?? 0)) {
    const reached = ids.filter((id) => (acked(id) ?? 0) >= candidate).length;
    if (reached >= quorum && candidate > best) best = candidate;
  }
  return best;
}

/** Computes the committed index of a case and runs etcd's harness checks on it. */
function committedOf(spec: string): number {
  const c = parseCase(spec);
  const acks = new Map([...valuesById(c)].map(([id, v]) => [id, Number(v)]));
  const acked = ackedOf(acks);
  const majority = new MajorityConfig(c.cfg);
  if (c.cfgj !== undefined) {
    const other = new MajorityConfig(c.cfgj);
    const index = new JointConfig(majority, other).committedIndex(acked);
    assert.equal(new JointConfig(other, majority).committedIndex(acked), index, `${spec}: symmetry`);
    return index;
  }
  const index = majority.committedIndex(acked);
  assert.equal(bruteForceCommitted(c.cfg, acked), index, `${spec}: alternative computation`);
  assert.equal(new JointConfig(majority).committedIndex(acked), index, `${spec}: zero-joint quorum`);
  assert.equal(new JointConfig(majority, majority).committedIndex(acked), index, `${spec}: self-joint quorum`);
  // Lowering a voter that is already below the committed index must not change it.
  for (const id of c.cfg) {
    const own = acks.get(id) ?? 0;
    if (own > 0 && own < index) {
      for (const lowered of [own - 1, 0]) {
        const overlay = new Map(acks).set(id, lowered);
        assert.equal(majority.committedIndex(ackedOf(overlay)), index, `${spec}: overlaying ${id}->${lowered}`);
      }
    }
  }
  return index;
}

function voteOf(spec: string): VoteResult {
  const c = parseCase(spec);
  const votes = new Map([...valuesById(c)].map(([id, v]) => [id, v === 'y']));
  const majority = new MajorityConfig(c.cfg);
  if (c.cfgj === undefined) return majority.voteResult(votes);
  const other = new MajorityConfig(c.cfgj);
  const result = new JointConfig(majority, other).voteResult(votes);
  assert.equal(new JointConfig(other, majority).voteResult(votes), result, `${spec}: symmetry`);
  return result;
}

function describeOf(spec: string): string {
  const c = parseCase(spec);
  const acked = ackedOf(new Map([...valuesById(c)].map(([id, v]) => [id, Number(v)])));
  return c.cfgj === undefined ? new MajorityConfig(c.cfg).describe(acked) : new JointConfig(new MajorityConfig(c.cfg), new MajorityConfig(c.cfgj)).describe(acked);
}

const INF = INFINITE_INDEX;

describe('MajorityConfig.committedIndex (majority_commit.txt)', () => {
  const cases: [string, number][] = [
    // The empty quorum commits "everything", which suits its use in joint quorums.
    ['cfg=()', INF],
    // A single voter is not final while its index is unknown; once known, that is the answer.
    ['cfg=(1) idx=(_)', 0],
    ['cfg=(1) idx=(12)', 12],
    // With two voters the quorum is both, so the result is the smaller index.
    ['cfg=(1, 2) idx=(_,_)', 0],
    ['cfg=(1, 2) idx=(12,_)', 0],
    ['cfg=(1,2) idx=(12,5)', 5],
    ['cfg=(1,2,3) idx=(_,_,_)', 0],
    ['cfg=(1,2,3) idx=(12,_,_)', 0],
    // Committed so far, but a higher index from the last voter could still raise it.
    ['cfg=(1,2,3) idx=(12,5,_)', 5],
    ['cfg=(1,2,3) idx=(12,5,6)', 6],
    ['cfg=(1,2,3) idx=(12,5,4)', 5],
    // The pending voter cannot sway the outcome: nobody in the quorum agrees on more.
    ['cfg=(1,2,3) idx=(5,5,_)', 5],
    ['cfg=(1,2,3) idx=(5,5,12)', 5],
    ['cfg=(1, 2, 3) idx=(100, 101, 103)', 101],
    // Final already: no index above 103 is one short of a quorum.
    ['cfg=(1, 2, 3, 4, 5) idx=(101, 104, 103, 103,_)', 103],
    // Not final: one more voter at >= 103 would change it.
    ['cfg=(1, 2, 3, 4, 5) idx=(101, 102, 103, 103,_)', 102],
  ];
  for (const [spec, want] of cases) {
    it(spec, () => assert.equal(committedOf(spec), want));
  }
});

describe('JointConfig.committedIndex (joint_commit.txt)', () => {
  const cases: [string, number][] = [
    // A majority joint with the empty majority is that majority.
    ['cfg=(1,2,3) cfgj=zero idx=(100,101,99)', 100],
    // Joint non-overlapping singletons: the lower of the two, once both are known.
    ['cfg=(1) cfgj=(2) idx=(_,_)', 0],
    ['cfg=(1) cfgj=(2) idx=(100,_)', 0],
    ['cfg=(1) cfgj=(2) idx=(13, 100)', 13],
    // Joint identical singletons.
    ['cfg=(1) cfgj=(1) idx=(_)', 0],
    ['cfg=(1) cfgj=(1) idx=(100)', 100],
    // A two-voter config joint with a disjoint singleton.
    ['cfg=(1,3) cfgj=(2) idx=(_,_,_)', 0],
    ['cfg=(1,3) cfgj=(2) idx=(100,_,_)', 0],
    ['cfg=(1,3) cfgj=(2) idx=(100,_,50)', 0],
    ['cfg=(1,3) cfgj=(2) idx=(100,45,50)', 45],
    // A two-voter config joint with an overlapping singleton.
    ['cfg=(1,2) cfgj=(2) idx=(_,_)', 0],
    ['cfg=(1,2) cfgj=(2) idx=(100,_)', 0],
    ['cfg=(1,2) cfgj=(2) idx=(_,100)', 0],
    ['cfg=(1,2) cfgj=(2) idx=(50,100)', 50],
    ['cfg=(1,2) cfgj=(2) idx=(100,50)', 50],
    // Disjoint two-voter configs.
    ['cfg=(1,2) cfgj=(3,4) idx=(50,_,_,_)', 0],
    ['cfg=(1,2) cfgj=(3,4) idx=(50,_,49,_)', 0],
    ['cfg=(1,2) cfgj=(3,4) idx=(50,48,49,_)', 0],
    ['cfg=(1,2) cfgj=(3,4) idx=(50,48,49,47)', 47],
    // Overlapping two-voter configs.
    ['cfg=(1,2) cfgj=(2,3) idx=(_,_,_)', 0],
    ['cfg=(1,2) cfgj=(2,3) idx=(100,_,_)', 0],
    ['cfg=(1,2) cfgj=(2,3) idx=(_,100,_)', 0],
    ['cfg=(1,2) cfgj=(2,3) idx=(_,100,99)', 0],
    ['cfg=(1,2) cfgj=(2,3) idx=(101,100,99)', 99],
    // Identical two-voter configs.
    ['cfg=(1,2) cfgj=(1,2) idx=(_,_)', 0],
    ['cfg=(1,2) cfgj=(1,2) idx=(_,40)', 0],
    ['cfg=(1,2) cfgj=(1,2) idx=(41,40)', 40],
    // Disjoint three-voter configs.
    ['cfg=(1,2,3) cfgj=(4,5,6) idx=(_,_,_,_,_,_)', 0],
    ['cfg=(1,2,3) cfgj=(4,5,6) idx=(100,_,_,_,_,_)', 0],
    ['cfg=(1,2,3) cfgj=(4,5,6) idx=(100,_,_,90,_,_)', 0],
    ['cfg=(1,2,3) cfgj=(4,5,6) idx=(100,99,_,_,_,_)', 0],
    // First half <= 99, second <= 97: both guarantee 90.
    ['cfg=(1,2,3) cfgj=(4,5,6) idx=(_,99,90,97,95,_)', 90],
    // The first half collapses to 92; the second already had 95.
    ['cfg=(1,2,3) cfgj=(4,5,6) idx=(92,99,90,97,95,_)', 92],
    ['cfg=(1,2,3) cfgj=(4,5,6) idx=(92,99,90,97,95,77)', 92],
    // Overlapping three-voter configs.
    ['cfg=(1,2,3) cfgj=(1,4,5) idx=(_,_,_,_,_)', 0],
    ['cfg=(1,2,3) cfgj=(1,4,5) idx=(100,_,_,_,_)', 0],
    ['cfg=(1,2,3) cfgj=(1,4,5) idx=(100,101,_,_,_)', 0],
    ['cfg=(1,2,3) cfgj=(1,4,5) idx=(100,101,100,_,_)', 0],
    // The second half could commit 98 or 99, but the first is open.
    ['cfg=(1,2,3) cfgj=(1,4,5) idx=(_,100,_,99,98)', 0],
    ['cfg=(1,2,3) cfgj=(1,4,5) idx=(_,100,99,99,98)', 98],
    ['cfg=(1,2,3) cfgj=(1,4,5) idx=(1,100,99,99,98)', 98],
    ['cfg=(1,2,3) cfgj=(1,4,5) idx=(100,100,99,99,98)', 99],
    // More overlap.
    ['cfg=(1,2,3) cfgj=(2,3,4) idx=(_,_,_,_)', 0],
    ['cfg=(1,2,3) cfgj=(2,3,4) idx=(_,100,99,_)', 99],
    ['cfg=(1,2,3) cfgj=(2,3,4) idx=(98,100,99,_)', 99],
    ['cfg=(1,2,3) cfgj=(2,3,4) idx=(100,100,99,_)', 99],
    ['cfg=(1,2,3) cfgj=(2,3,4) idx=(100,100,99,98)', 99],
    ['cfg=(1,2,3) cfgj=(2,3,4) idx=(100,_,_,101)', 0],
    ['cfg=(1,2,3) cfgj=(2,3,4) idx=(100,99,_,101)', 99],
    ['cfg=(1,2,3) cfgj=(1,2,3) idx=(50,45,_)', 45],
  ];
  for (const [spec, want] of cases) {
    it(spec, () => assert.equal(committedOf(spec), want));
  }
});

describe('describe draws the acknowledged indexes as etcd does', () => {
  const cases: [string, string][] = [
    ['cfg=()', '<empty majority quorum>'],
    ['cfg=(1) idx=(_)', '     idx\n?      0    (id=1)\n'],
    ['cfg=(1,2,3) idx=(12,5,_)', '       idx\nxx>     12    (id=1)\nx>       5    (id=2)\n?        0    (id=3)\n'],
    // Equal indexes get equal bars.
    ['cfg=(1,2,3) idx=(5,5,_)', '       idx\nx>       5    (id=1)\nx>       5    (id=2)\n?        0    (id=3)\n'],
    [
      'cfg=(1, 2, 3, 4, 5) idx=(101, 104, 103, 103,_)',
      '         idx\nx>       101    (id=1)\nxxxx>    104    (id=2)\nxx>      103    (id=3)\nxx>      103    (id=4)\n?          0    (id=5)\n',
    ],
    // A joint config draws the union of its halves.
    [
      'cfg=(1,2,3) cfgj=(1,4,5) idx=(100,100,99,99,98)',
      '         idx\nxxx>     100    (id=1)\nxxx>     100    (id=2)\nx>        99    (id=3)\nx>        99    (id=4)\n>         98    (id=5)\n',
    ],
  ];
  for (const [spec, want] of cases) {
    it(spec, () => assert.equal(describeOf(spec), want));
  }
});

describe('MajorityConfig.voteResult (majority_vote.txt)', () => {
  const cases: [string, VoteResult][] = [
    // The empty config always wins.
    ['cfg=()', 'won'],
    ['cfg=(1) votes=(_)', 'pending'],
    ['cfg=(1) votes=(n)', 'lost'],
    ['cfg=(123) votes=(y)', 'won'],
    ['cfg=(4,8) votes=(_,_)', 'pending'],
    // With two voters a single rejection loses.
    ['cfg=(4,8) votes=(n,_)', 'lost'],
    ['cfg=(4,8) votes=(y,_)', 'pending'],
    ['cfg=(4,8) votes=(n,y)', 'lost'],
    ['cfg=(4,8) votes=(y,y)', 'won'],
    ['cfg=(2,4,7) votes=(_,_,_)', 'pending'],
    ['cfg=(2,4,7) votes=(n,_,_)', 'pending'],
    ['cfg=(2,4,7) votes=(y,_,_)', 'pending'],
    ['cfg=(2,4,7) votes=(n,n,_)', 'lost'],
    ['cfg=(2,4,7) votes=(y,n,_)', 'pending'],
    ['cfg=(2,4,7) votes=(y,y,_)', 'won'],
    ['cfg=(2,4,7) votes=(y,y,n)', 'won'],
    ['cfg=(2,4,7) votes=(n,y,n)', 'lost'],
    ['cfg=(1,2,3,4,5,6,7) votes=(y,y,n,y,_,_,_)', 'pending'],
    ['cfg=(1,2,3,4,5,6,7) votes=(_,y,y,_,n,y,n)', 'pending'],
    ['cfg=(1,2,3,4,5,6,7) votes=(y,y,n,y,_,n,y)', 'won'],
    ['cfg=(1,2,3,4,5,6,7) votes=(y,y,_,n,y,n,n)', 'pending'],
    ['cfg=(1,2,3,4,5,6,7) votes=(y,y,n,y,n,n,n)', 'lost'],
  ];
  for (const [spec, want] of cases) {
    it(spec, () => assert.equal(voteOf(spec), want));
  }
});

describe('JointConfig.voteResult (joint_vote.txt)', () => {
  const cases: [string, VoteResult][] = [
    // The empty joint config wins every vote (never used in production).
    ['cfgj=zero', 'won'],
    ['cfg=(1) cfgj=zero votes=(_)', 'pending'],
    ['cfg=(1) cfgj=zero votes=(y)', 'won'],
    ['cfg=(1) cfgj=zero votes=(n)', 'lost'],
    ['cfg=(1) cfgj=(1) votes=(_)', 'pending'],
    ['cfg=(1) cfgj=(1) votes=(y)', 'won'],
    ['cfg=(1) cfgj=(1) votes=(n)', 'lost'],
    ['cfg=(1) cfgj=(2) votes=(_,_)', 'pending'],
    ['cfg=(1) cfgj=(2) votes=(y,_)', 'pending'],
    ['cfg=(1) cfgj=(2) votes=(y,y)', 'won'],
    ['cfg=(1) cfgj=(2) votes=(y,n)', 'lost'],
    ['cfg=(1) cfgj=(2) votes=(n,_)', 'lost'],
    ['cfg=(1) cfgj=(2) votes=(n,n)', 'lost'],
    ['cfg=(1) cfgj=(2) votes=(n,y)', 'lost'],
    ['cfg=(1,2) cfgj=(3,4) votes=(_,_,_,_)', 'pending'],
    ['cfg=(1,2) cfgj=(3,4) votes=(y,_,_,_)', 'pending'],
    ['cfg=(1,2) cfgj=(3,4) votes=(y,y,_,_)', 'pending'],
    ['cfg=(1,2) cfgj=(3,4) votes=(y,y,n,_)', 'lost'],
    ['cfg=(1,2) cfgj=(3,4) votes=(y,y,n,n)', 'lost'],
    ['cfg=(1,2) cfgj=(3,4) votes=(y,y,y,n)', 'lost'],
    ['cfg=(1,2) cfgj=(3,4) votes=(y,y,y,y)', 'won'],
    ['cfg=(1,2) cfgj=(2,3) votes=(_,_,_)', 'pending'],
    ['cfg=(1,2) cfgj=(2,3) votes=(_,n,_)', 'lost'],
    ['cfg=(1,2) cfgj=(2,3) votes=(y,y,_)', 'pending'],
    ['cfg=(1,2) cfgj=(2,3) votes=(y,y,n)', 'lost'],
    ['cfg=(1,2) cfgj=(2,3) votes=(y,y,y)', 'won'],
    ['cfg=(1,2) cfgj=(1,2) votes=(_,_)', 'pending'],
    ['cfg=(1,2) cfgj=(1,2) votes=(y,_)', 'pending'],
    ['cfg=(1,2) cfgj=(1,2) votes=(y,n)', 'lost'],
    ['cfg=(1,2) cfgj=(1,2) votes=(n,_)', 'lost'],
    ['cfg=(1,2) cfgj=(1,2) votes=(n,n)', 'lost'],
    ['cfg=(1,2,3) cfgj=(2,3,4) votes=(_,_,_,_)', 'pending'],
    ['cfg=(1,2,3) cfgj=(2,3,4) votes=(_,n,_,_)', 'pending'],
    ['cfg=(1,2,3) cfgj=(2,3,4) votes=(_,n,n,_)', 'lost'],
    ['cfg=(1,2,3) cfgj=(2,3,4) votes=(_,y,y,_)', 'won'],
    ['cfg=(1,2,3) cfgj=(2,3,4) votes=(y,y,_,_)', 'pending'],
    ['cfg=(1,2,3) cfgj=(2,3,4) votes=(y,y,n,_)', 'pending'],
    ['cfg=(1,2,3) cfgj=(2,3,4) votes=(y,y,n,n)', 'lost'],
    ['cfg=(1,2,3) cfgj=(2,3,4) votes=(y,y,n,y)', 'won'],
  ];
  for (const [spec, want] of cases) {
    it(spec, () => assert.equal(voteOf(spec), want));
  }
});

describe('configs as values', () => {
  it('ids are sorted and unique; toString reads like etcd', () => {
    const joint = new JointConfig(new MajorityConfig([3, 1, 2]), new MajorityConfig([4, 2, 10]));
    assert.deepEqual(joint.incoming.ids(), [1, 2, 3]);
    assert.deepEqual(joint.ids(), [1, 2, 3, 4, 10]);
    assert.equal(joint.toString(), '(1 2 3)&&(2 4 10)');
    assert.equal(new JointConfig(new MajorityConfig([2, 1])).toString(), '(1 2)');
    assert.equal(joint.isJoint(), true);
    assert.equal(new JointConfig(new MajorityConfig([1])).isJoint(), false);
    assert.equal(joint.has(10), true);
    assert.equal(joint.has(5), false);
  });

  it('a MajorityConfig does not change when the ids it was built from do', () => {
    const ids = new Set([1, 2]);
    const config = new MajorityConfig(ids);
    ids.add(3);
    assert.equal(config.size, 2);
  });
});

describe('random configs against brute force (seeded)', () => {
  it('committedIndex and voteResult agree with counting, for majority and joint configs', () => {
    const rand = mulberry32(20240611);
    const pick = (n: number) => Math.floor(rand() * n);
    const randomConfig = () => new MajorityConfig(Array.from({ length: pick(8) }, () => 1 + pick(10)));
    for (let round = 0; round < 2000; round++) {
      const a = randomConfig();
      const b = randomConfig();
      const acks = new Map<number, number>();
      const votes = new Map<number, boolean>();
      for (let id = 1; id <= 10; id++) {
        if (rand() < 0.8) acks.set(id, pick(20));
        if (rand() < 0.7) votes.set(id, rand() < 0.5);
      }
      const acked = ackedOf(acks);
      assert.equal(a.committedIndex(acked), bruteForceCommitted(a.ids(), acked));
      const joint = new JointConfig(a, b);
      assert.equal(joint.committedIndex(acked), Math.min(bruteForceCommitted(a.ids(), acked), bruteForceCommitted(b.ids(), acked)));

      // A vote is won when a majority says yes whatever the missing say, lost when it cannot be won.
      const bruteVote = (config: MajorityConfig): VoteResult => {
        const ids = config.ids();
        const quorum = Math.floor(ids.length / 2) + 1;
        if (ids.length === 0) return 'won';
        const yes = ids.filter((id) => votes.get(id) === true).length;
        const possible = ids.filter((id) => votes.get(id) !== false).length;
        return yes >= quorum ? 'won' : possible >= quorum ? 'pending' : 'lost';
      };
      assert.equal(a.voteResult(votes), bruteVote(a));
      const [ra, rb] = [bruteVote(a), bruteVote(b)];
      const wantJoint = ra === 'lost' || rb === 'lost' ? 'lost' : ra === 'won' && rb === 'won' ? 'won' : 'pending';
      assert.equal(joint.voteResult(votes), wantJoint);
    }
  });
});
