/**
 * Membership changes: etcd-io/raft's confchange testdata replayed as scenarios (the same script
 * format: a command, its changes, "----", the resulting config or error), etcd's quick test (simple
 * changes one by one end where a joint config does) and restore round-trips on seeded random
 * ConfStates, and the ConfChange encoding.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConfChanger,
  decodeConfChange,
  encodeConfChange,
  entersJoint,
  leavesJoint,
  restore,
  toConfState,
  type ConfChangeResult,
  type Membership,
} from '../../ts/raft/confchange.js';
import { isRaftError } from '../../ts/raft/errors.js';
import { describeConfig, describeProgress, emptyTrackerConfig } from '../../ts/raft/tracker.js';
import type { ConfChange, ConfChangeSingle, ConfChangeType, ConfState } from '../../ts/raft/types.js';
import { mulberry32 } from '../support/prng.js';

const LIMITS = { maxInflight: 10, maxInflightBytes: 0 };

function emptyMembership(): Membership {
  return { config: emptyTrackerConfig(), progress: new Map(), ...LIMITS };
}

function membershipOf(result: ConfChangeResult): Membership {
  return { ...result, ...LIMITS };
}

function show(m: { config: Membership['config']; progress: Membership['progress'] }): string {
  return `${describeConfig(m.config)}\n${describeProgress(m.progress)}`;
}

/** "v1 l2 r3": make 1 a voter, 2 a learner, remove 3. */
function parseChanges(text: string): ConfChangeSingle[] {
  const types: Record<string, ConfChangeType> = { v: 'addNode', l: 'addLearner', r: 'removeNode' };
  return text
    .split(/\s+/)
    .filter((tok) => tok !== '')
    .map((tok) => {
      const type = types[tok[0] ?? ''];
      assert.ok(type !== undefined && /^\d+$/.test(tok.slice(1)), `bad token ${tok}`);
      return { type, nodeId: Number(tok.slice(1)) };
    });
}

interface Step {
  command: string;
  args: Map<string, string>;
  input: string;
  want: string;
}

/** etcd's datadriven format: '#' comments, then per step a command line, input lines, '----', output up to a blank line. */
function parseScript(script: string): Step[] {
  const lines = script.split('\n');
  const steps: Step[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = (lines[i] ?? '').trim();
    i++;
    if (line === '' || line.startsWith('#')) continue;
    const [command = '', ...rest] = line.split(/\s+/);
    const args = new Map(rest.map((kv) => kv.split('=') as [string, string]));
    const input: string[] = [];
    while (i < lines.length && (lines[i] ?? '').trim() !== '----') input.push((lines[i++] ?? '').trim());
    i++; // ----
    const want: string[] = [];
    while (i < lines.length && (lines[i] ?? '').trim() !== '') want.push((lines[i++] ?? '').trim());
    steps.push({ command, args, input: input.join(' '), want: `${want.join('\n')}\n` });
  }
  return steps;
}

/**
 * Replays a script as etcd's harness does: each step starts from the previous result, and the
 * last index (where new members start probing) grows by one per step, failed or not. Every step
 * also checks that its input was left as it was.
 */
function replay(script: string): void {
  let membership = emptyMembership();
  let lastIndex = 0;
  for (const step of parseScript(script)) {
    const input = membership;
    const before = show(input);
    const changer = new ConfChanger(membership, lastIndex++);
    const changes = parseChanges(step.input);
    let got: string;
    try {
      let result: ConfChangeResult;
      if (step.command === 'simple') result = changer.simple(changes);
      else if (step.command === 'enter-joint') result = changer.enterJoint(step.args.get('autoleave') === 'true', changes);
      else if (step.command === 'leave-joint') {
        assert.equal(changes.length, 0, 'leave-joint takes no input');
        result = changer.leaveJoint();
      } else throw new Error(`unknown command ${step.command}`);
      for (const [id, pr] of result.progress) assert.notEqual(membership.progress.get(id), pr, 'a Progress is never shared');
      membership = membershipOf(result);
      got = show(result);
    } catch (err) {
      if (!isRaftError(err, 'AXIS_CONF_CHANGE_INVALID')) throw err;
      got = `${err.message}\n`;
    }
    assert.equal(show(input), before, 'the input is left as it was');
    assert.equal(got, step.want, `${step.command} ${step.input}`);
  }
}

describe('ConfChanger scenarios (etcd confchange/testdata)', () => {
  it('joint_autoleave: autoLeave is carried by the joint config and cleared on leaving', () =>
    replay(`
simple
v1
----
voters=(1)
1: probe match=0 next=1

# autoLeave is reflected in the config.
enter-joint autoleave=true
v2 v3
----
voters=(1 2 3)&&(1) autoleave
1: probe match=0 next=1
2: probe match=0 next=1
3: probe match=0 next=1

# Can't enter-joint twice, even if autoleave changes.
enter-joint autoleave=false
----
config is already joint

leave-joint
----
voters=(1 2 3)
1: probe match=0 next=1
2: probe match=0 next=1
3: probe match=0 next=1
`));

  it('joint_idempotency: removing an absent node, re-adding, and re-demoting are harmless', () =>
    replay(`
simple
v1
----
voters=(1)
1: probe match=0 next=1

enter-joint
r1 r2 r9 v2 v3 v4 v2 v3 v4 l2 l2 r4 r4 l1 l1
----
voters=(3)&&(1) learners=(2) learners_next=(1)
1: probe match=0 next=1
2: probe match=0 next=1 learner
3: probe match=0 next=1

leave-joint
----
voters=(3) learners=(1 2)
1: probe match=0 next=1 learner
2: probe match=0 next=1 learner
3: probe match=0 next=1
`));

  it('joint_learners_next: a demoted voter waits in learnersNext and keeps its Progress', () =>
    replay(`
simple
v1
----
voters=(1)
1: probe match=0 next=1

enter-joint
v2 l1
----
voters=(2)&&(1) learners_next=(1)
1: probe match=0 next=1
2: probe match=0 next=1

leave-joint
----
voters=(2) learners=(1)
1: probe match=0 next=1 learner
2: probe match=0 next=1
`));

  it('joint_safety: entering and leaving only when allowed', () =>
    replay(`
leave-joint
----
can't leave a non-joint config

enter-joint
----
can't make a zero-voter config joint

enter-joint
v1
----
can't make a zero-voter config joint

simple
v1
----
voters=(1)
1: probe match=0 next=3

leave-joint
----
can't leave a non-joint config

# Can enter into joint config.
enter-joint
----
voters=(1)&&(1)
1: probe match=0 next=3

enter-joint
----
config is already joint

leave-joint
----
voters=(1)
1: probe match=0 next=3

leave-joint
----
can't leave a non-joint config

# Can enter again, this time with some ops.
enter-joint
r1 v2 v3 l4
----
voters=(2 3)&&(1) learners=(4)
1: probe match=0 next=3
2: probe match=0 next=9
3: probe match=0 next=9
4: probe match=0 next=9 learner

enter-joint
----
config is already joint

enter-joint
v12
----
config is already joint

simple
l15
----
can't apply simple config change in joint config

leave-joint
----
voters=(2 3) learners=(4)
2: probe match=0 next=9
3: probe match=0 next=9
4: probe match=0 next=9 learner

simple
l9
----
voters=(2 3) learners=(4 9)
2: probe match=0 next=9
3: probe match=0 next=9
4: probe match=0 next=9 learner
9: probe match=0 next=14 learner
`));

  it('simple_idempotency: repeating a simple change changes nothing', () =>
    replay(`
simple
v1
----
voters=(1)
1: probe match=0 next=1

simple
v1
----
voters=(1)
1: probe match=0 next=1

simple
v2
----
voters=(1 2)
1: probe match=0 next=1
2: probe match=0 next=2

simple
l1
----
voters=(2) learners=(1)
1: probe match=0 next=1 learner
2: probe match=0 next=2

simple
l1
----
voters=(2) learners=(1)
1: probe match=0 next=1 learner
2: probe match=0 next=2

simple
r1
----
voters=(2)
2: probe match=0 next=2

simple
r1
----
voters=(2)
2: probe match=0 next=2

simple
v3
----
voters=(2 3)
2: probe match=0 next=2
3: probe match=0 next=7

simple
r3
----
voters=(2)
2: probe match=0 next=2

simple
r3
----
voters=(2)
2: probe match=0 next=2

simple
r4
----
voters=(2)
2: probe match=0 next=2
`));

  it('simple_promote_demote: promotions and demotions keep the Progress', () =>
    replay(`
simple
v1
----
voters=(1)
1: probe match=0 next=1

simple
v2
----
voters=(1 2)
1: probe match=0 next=1
2: probe match=0 next=1

simple
v3
----
voters=(1 2 3)
1: probe match=0 next=1
2: probe match=0 next=1
3: probe match=0 next=2

# Can atomically demote and promote without a hitch (pointless, but possible).
simple
l1 v1
----
voters=(1 2 3)
1: probe match=0 next=1
2: probe match=0 next=1
3: probe match=0 next=2

# Can demote a voter.
simple
l2
----
voters=(1 3) learners=(2)
1: probe match=0 next=1
2: probe match=0 next=1 learner
3: probe match=0 next=2

# Can atomically promote and demote the same voter (pointless, but possible).
simple
v2 l2
----
voters=(1 3) learners=(2)
1: probe match=0 next=1
2: probe match=0 next=1 learner
3: probe match=0 next=2

# Can promote a voter.
simple
v2
----
voters=(1 2 3)
1: probe match=0 next=1
2: probe match=0 next=1
3: probe match=0 next=2
`));

  it('simple_safety: no voterless config, at most one voter changed', () =>
    replay(`
simple
l1
----
removed all voters

simple
v1
----
voters=(1)
1: probe match=0 next=1

simple
v2 l3
----
voters=(1 2) learners=(3)
1: probe match=0 next=1
2: probe match=0 next=2
3: probe match=0 next=2 learner

simple
r1 v5
----
more than one voter changed without entering joint config

simple
r1 r2
----
removed all voters

simple
v3 v4
----
more than one voter changed without entering joint config

simple
l1 v5
----
more than one voter changed without entering joint config

simple
l1 l2
----
removed all voters

simple
l2 l3 l4 l5
----
voters=(1) learners=(2 3 4 5)
1: probe match=0 next=1
2: probe match=0 next=2 learner
3: probe match=0 next=2 learner
4: probe match=0 next=8 learner
5: probe match=0 next=8 learner

simple
r1
----
removed all voters

simple
r2 r3 r4 r5
----
voters=(1)
1: probe match=0 next=1
`));

  it('zero: node id 0 is ignored', () =>
    replay(`
# NodeID zero is ignored.
simple
v1 r0 v0 l0
----
voters=(1)
1: probe match=0 next=1
`));
});

describe('ConfChanger refusals', () => {
  const twoVoters = (): Membership => membershipOf(new ConfChanger(membershipOf(new ConfChanger(emptyMembership(), 1).simple([{ type: 'addNode', nodeId: 1 }])), 1).simple([{ type: 'addNode', nodeId: 2 }]));

  it('an unknown change type or an id that is no uint64 is refused', () => {
    const changer = new ConfChanger(twoVoters(), 5);
    const bad: [unknown, string][] = [
      [{ type: 'updateNode', nodeId: 1 }, 'unexpected conf type updateNode'],
      [{ type: 'addNode', nodeId: -1 }, 'invalid node id -1'],
      [{ type: 'addNode', nodeId: 1.5 }, 'invalid node id 1.5'],
      [{ type: 'addNode', nodeId: 2 ** 53 }, `invalid node id ${2 ** 53}`],
    ];
    for (const [change, message] of bad) {
      assert.throws(
        () => changer.simple([change as ConfChangeSingle]),
        (err) => isRaftError(err, 'AXIS_CONF_CHANGE_INVALID') && err.message === message,
      );
    }
  });

  it('an input whose config and progress disagree is refused, naming the broken rule', () => {
    const base = twoVoters();
    const cases: [Membership, string][] = [
      [{ ...base, progress: new Map([...base.progress].filter(([id]) => id !== 2)) }, 'no progress for 2'],
      [{ ...base, config: { ...base.config, learners: new Set([2]) } }, '2 is in learners and in the incoming voters'],
      [{ ...base, config: { ...base.config, learnersNext: new Set([2]) } }, '2 is in learnersNext, but not in the outgoing voters'],
      [{ ...base, config: { ...base.config, autoLeave: true } }, 'autoLeave must be false when not joint'],
    ];
    for (const [membership, message] of cases) {
      assert.throws(
        () => new ConfChanger(membership, 1).simple([]),
        (err) => isRaftError(err, 'AXIS_CONF_CHANGE_INVALID') && err.message === message,
      );
    }
  });
});

describe('ConfChanger.apply follows the transition, as Raft does on commit', () => {
  const start = (): Membership => membershipOf(new ConfChanger(emptyMembership(), 1).simple([{ type: 'addNode', nodeId: 1 }]));
  const v = (nodeId: number): ConfChangeSingle => ({ type: 'addNode', nodeId });
  const apply = (m: Membership, cc: ConfChange) => describeConfig(new ConfChanger(m, 1).apply(cc).config);

  it("'auto': one change applies simply, several go through a joint config left automatically", () => {
    assert.equal(apply(start(), { transition: 'auto', changes: [v(2)] }), 'voters=(1 2)');
    assert.equal(apply(start(), { transition: 'auto', changes: [v(2), v(3)] }), 'voters=(1 2 3)&&(1) autoleave');
  });

  it("'implicit' and 'explicit' always go through a joint config; only 'implicit' leaves by itself", () => {
    assert.equal(apply(start(), { transition: 'implicit', changes: [v(2)] }), 'voters=(1 2)&&(1) autoleave');
    assert.equal(apply(start(), { transition: 'explicit', changes: [v(2)] }), 'voters=(1 2)&&(1)');
  });

  it('the empty ConfChange leaves the joint config (its context aside)', () => {
    const joint = membershipOf(new ConfChanger(start(), 1).apply({ transition: 'explicit', changes: [v(2)] }));
    assert.equal(apply(joint, { transition: 'auto', changes: [], context: new Uint8Array([1]) }), 'voters=(1 2)');
    assert.throws(() => apply(start(), { transition: 'auto', changes: [] }), /can't leave a non-joint config/);
    assert.equal(leavesJoint({ transition: 'explicit', changes: [] }), false);
    assert.deepEqual(entersJoint({ transition: 'explicit', changes: [] }), { autoLeave: false });
    assert.equal(entersJoint({ transition: 'auto', changes: [] }), undefined);
  });
});

describe('etcd TestConfChangeQuick: simple changes one by one end where a joint config does (seeded)', () => {
  it('1000 random setups and change lists', () => {
    const rand = mulberry32(7);
    const int = (n: number) => Math.floor(rand() * n);
    const types: ConfChangeType[] = ['addNode', 'addLearner', 'removeNode'];
    const simpleOneByOne = (m: Membership, changes: ConfChangeSingle[]): Membership => {
      let current = m;
      for (const cc of changes) current = membershipOf(new ConfChanger(current, 10).simple([cc]));
      return current;
    };
    for (let round = 0; round < 1000; round++) {
      // Node 1 is a voter throughout, so no change list can empty the config.
      const setup: ConfChangeSingle[] = [{ type: 'addNode', nodeId: 1 }];
      for (let n = 1 + int(5); n > 0; n--) setup.push({ type: 'addNode', nodeId: 1 + int(5) });
      const changes: ConfChangeSingle[] = [];
      for (let n = 1 + int(9); n > 0; n--) changes.push({ type: types[int(types.length)] ?? 'addNode', nodeId: 2 + int(9) });

      const initial = simpleOneByOne(emptyMembership(), setup);
      const bySimple = simpleOneByOne(initial, changes);

      const joint = new ConfChanger(initial, 10).enterJoint(false, changes);
      const jointAuto = new ConfChanger(initial, 10).enterJoint(true, changes);
      assert.equal(jointAuto.config.autoLeave, true);
      assert.equal(show(jointAuto).replace(' autoleave', ''), show(joint));
      const left = new ConfChanger(membershipOf(joint), 10).leaveJoint();
      assert.equal(show(new ConfChanger(membershipOf(jointAuto), 10).leaveJoint()), show(left));

      assert.equal(show(left), show(bySimple), `changes ${JSON.stringify(changes)}`);
    }
  });
});

/** etcd's rndConfChange generator: a random valid ConfState, joint or not, never empty. */
function randomConfState(rand: () => number): ConfState {
  const int = (n: number) => Math.floor(rand() * n);
  const nVoters = 1 + int(5);
  const nLearners = int(5);
  // Voters of the outgoing config that are not incoming voters.
  const nRemovedVoters = int(3);
  const pool = Array.from({ length: 2 * (nVoters + nLearners + nRemovedVoters) }, (_, i) => i + 1);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = int(i + 1);
    [pool[i], pool[j]] = [pool[j] ?? 0, pool[i] ?? 0];
  }
  const voters = pool.splice(0, nVoters);
  const learners = pool.splice(0, nLearners);
  const retained = int(nVoters + 1);
  const votersOutgoing = [...voters.slice(0, retained), ...pool.slice(0, nRemovedVoters)];
  // Only removed voters can be demoted to learners on leaving.
  const learnersNext = nRemovedVoters > 0 ? pool.slice(0, int(nRemovedVoters + 1)) : [];
  return { voters, learners, votersOutgoing, learnersNext, autoLeave: votersOutgoing.length > 0 && int(2) === 1 };
}

function sorted(cs: ConfState): ConfState {
  const by = (ids: number[]) => [...ids].sort((a, b) => a - b);
  return { voters: by(cs.voters), votersOutgoing: by(cs.votersOutgoing), learners: by(cs.learners), learnersNext: by(cs.learnersNext), autoLeave: cs.autoLeave };
}

describe('restore (etcd TestRestore)', () => {
  const ids = (...xs: number[]) => xs;
  const unitCases: ConfState[] = [
    { voters: [], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false },
    { voters: ids(1, 2, 3), votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false },
    { voters: ids(1, 2, 3), votersOutgoing: [], learners: ids(4, 5, 6), learnersNext: [], autoLeave: false },
    { voters: ids(1, 2, 3), votersOutgoing: ids(1, 2, 4, 6), learners: ids(5), learnersNext: ids(4), autoLeave: false },
    { voters: ids(3, 1), votersOutgoing: ids(6, 1), learners: ids(9), learnersNext: ids(6), autoLeave: true },
  ];
  for (const cs of unitCases) {
    it(`round-trips ${JSON.stringify(cs)}`, () => {
      const restored = restore(cs, 10, LIMITS);
      assert.deepEqual(toConfState(restored.config), sorted(cs));
      for (const id of [...cs.voters, ...cs.votersOutgoing, ...cs.learners]) {
        const pr = restored.progress.get(id);
        assert.ok(pr, `progress for ${id}`);
        assert.equal(pr.next, 10);
        assert.equal(pr.isLearner, cs.learners.includes(id));
        assert.equal(pr.inflights.capacity, LIMITS.maxInflight);
      }
      assert.equal(restored.progress.size, new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners]).size);
    });
  }

  it('round-trips 1000 random ConfStates (seeded)', () => {
    const rand = mulberry32(99);
    for (let round = 0; round < 1000; round++) {
      const cs = randomConfState(rand);
      assert.deepEqual(toConfState(restore(cs, 10, LIMITS).config), sorted(cs), JSON.stringify(cs));
    }
  });

  it('refuses a ConfState with learners but no voters', () => {
    const cs: ConfState = { voters: [], votersOutgoing: [], learners: [1], learnersNext: [], autoLeave: false };
    assert.throws(() => restore(cs, 1, LIMITS), (err) => isRaftError(err, 'AXIS_CONF_CHANGE_INVALID') && err.message === 'removed all voters');
  });
});

describe('ConfChange encoding', () => {
  it('lays out version, transition, changes and context as documented', () => {
    const cc: ConfChange = {
      transition: 'explicit',
      changes: [
        { type: 'addNode', nodeId: 1 },
        { type: 'removeNode', nodeId: 300 },
        { type: 'addLearner', nodeId: 2 },
      ],
      context: new Uint8Array([0xaa]),
    };
    const bytes = encodeConfChange(cc);
    assert.deepEqual([...bytes], [1, 2, 3, 0, 1, 1, 0xac, 0x02, 3, 2, 1, 1, 0xaa]);
    assert.deepEqual(decodeConfChange(bytes), cc);
    assert.deepEqual([...encodeConfChange({ transition: 'auto', changes: [] })], [1, 0, 0, 0]);
  });

  it('round-trips random ConfChanges, large ids and empty context included (seeded)', () => {
    const rand = mulberry32(31337);
    const int = (n: number) => Math.floor(rand() * n);
    const types: ConfChangeType[] = ['addNode', 'addLearner', 'removeNode'];
    const transitions: ConfChange['transition'][] = ['auto', 'implicit', 'explicit'];
    for (let round = 0; round < 500; round++) {
      const cc: ConfChange = {
        transition: transitions[int(3)] ?? 'auto',
        changes: Array.from({ length: int(6) }, () => ({
          type: types[int(3)] ?? 'addNode',
          nodeId: [0, 1, 127, 128, 16384, Number.MAX_SAFE_INTEGER][int(6)] ?? int(1e6),
        })),
      };
      const contextKind = int(3);
      if (contextKind === 1) cc.context = new Uint8Array(0);
      if (contextKind === 2) cc.context = Uint8Array.from({ length: int(200) }, () => int(256));
      const decoded = decodeConfChange(encodeConfChange(cc));
      assert.deepEqual(decoded, cc);
    }
  });

  it('decoding copies the context out of the input', () => {
    const bytes = encodeConfChange({ transition: 'auto', changes: [], context: new Uint8Array([5, 6]) });
    const cc = decodeConfChange(bytes);
    bytes.fill(0);
    assert.deepEqual(cc.context, new Uint8Array([5, 6]));
  });

  it('refuses malformed input with reason conf-change-malformed', () => {
    const cases: [number[], RegExp][] = [
      [[], /truncated at version/],
      [[2, 0, 0, 0], /unknown encoding version 2/],
      [[1, 3, 0, 0], /unknown transition code 3/],
      [[1, 0], /truncated at change count/],
      [[1, 0, 1, 0], /exceeds the 1 bytes left/],
      [[1, 0, 1, 2, 1, 0], /unknown change type code 2/], // etcd's updateNode is not a ConfChangeType here
      [[1, 0, 1, 9, 1, 0], /unknown change type code 9/],
      [[1, 0, 1, 0, 0x81, 0x00, 0], /node id is not minimally encoded/],
      [[1, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0], /node id exceeds 2\^53-1/],
      [[1, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0], /longer than 8 bytes/],
      [[1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80], /truncated at change count/],
      [[1, 0, 0x90, 0x4e, 0, 0, 0, 0], /change count 10000 exceeds/],
      [[1, 0, 0], /truncated at context flag/],
      [[1, 0, 0, 2], /bad context flag 2/],
      [[1, 0, 0, 1, 5, 1, 2], /context: 5 bytes declared, 2 left/],
      [[1, 0, 0, 0, 0], /1 trailing bytes/],
    ];
    for (const [bytes, message] of cases) {
      assert.throws(
        () => decodeConfChange(Uint8Array.from(bytes)),
        (err) => isRaftError(err, 'AXIS_CONF_CHANGE_MALFORMED') && message.test(err.message),
        `${JSON.stringify(bytes)} should fail with ${message}`,
      );
    }
  });

  it('mutated encodings either fail as malformed or decode to a ConfChange that encodes back to the same bytes (seeded)', () => {
    const rand = mulberry32(555);
    const int = (n: number) => Math.floor(rand() * n);
    const valid = encodeConfChange({
      transition: 'implicit',
      changes: [
        { type: 'addNode', nodeId: 200 },
        { type: 'addLearner', nodeId: 3 },
      ],
      context: new Uint8Array([1, 2, 3]),
    });
    for (let round = 0; round < 3000; round++) {
      const bytes = [...valid];
      for (let edits = 1 + int(3); edits > 0; edits--) {
        const at = int(bytes.length + 1);
        const kind = int(3);
        if (kind === 0 && bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = int(256);
        else if (kind === 1) bytes.splice(at, 1);
        else bytes.splice(at, 0, int(256));
      }
      const input = Uint8Array.from(bytes);
      let decoded: ConfChange;
      try {
        decoded = decodeConfChange(input);
      } catch (err) {
        assert.ok(isRaftError(err, 'AXIS_CONF_CHANGE_MALFORMED'), String(err));
        continue;
      }
      assert.deepEqual(encodeConfChange(decoded), input);
    }
  });

  it('refuses to encode what is no ConfChange', () => {
    const bad: unknown[] = [
      { transition: 'sometimes', changes: [] },
      { transition: 'auto', changes: [{ type: 'updateNode', nodeId: 1 }] },
      { transition: 'auto', changes: [{ type: 'addNode', nodeId: -3 }] },
      { transition: 'auto', changes: [{ type: 'toString', nodeId: 1 }] },
    ];
    for (const cc of bad) {
      assert.throws(() => encodeConfChange(cc as ConfChange), (err) => isRaftError(err, 'AXIS_CONF_CHANGE_INVALID'), JSON.stringify(cc));
    }
  });
});
