/**
 * Seeded simulations of 3- and 5-node clusters under message loss, duplication, reordering,
 * partitions (symmetric and one-way), crashes and restarts. Safety is checked after every step;
 * liveness once the faults heal. AXIS_RAFT_SEEDS=n runs more seeds; AXIS_RAFT_SEED=s replays one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Simulation } from './sim.js';
import { checkHistory } from '../support/linearizability.js';

const one = process.env.AXIS_RAFT_SEED;
const count = Number(process.env.AXIS_RAFT_SEEDS ?? 1000);
const seeds = one !== undefined ? [Number(one)] : Array.from({ length: count }, (_, i) => 1 + i);

describe('raft simulation: safety under faults, liveness after healing', () => {
  for (const nodes of [3, 5]) {
    it(`${nodes} nodes, ${seeds.length} seeds`, () => {
      let applied = 0;
      let answered = 0;
      for (const seed of seeds) {
        // Half the runs keep Readies unpersisted longer, so messages race the disk more.
        const sim = new Simulation({ seed: seed * 10 + nodes, nodes, drop: 0.05, duplicate: 0.05, lazyPersist: seed % 2 ? 0.3 : 0.85 });
        for (let s = 0; s < 3000; s++) {
          sim.randomStep();
          if (s % 20 === 19) sim.checkLogMatching(); // the other safety checks run after every step
        }
        sim.checkLogMatching();
        assert.ok(sim.recover(), `seed ${seed * 10 + nodes}: no leader committed a proposal within 500 ticks after healing`);
        sim.checkLogMatching();
        sim.finishClients();
        const lin = checkHistory(sim.history);
        assert.equal(lin.ok, true, `seed ${seed * 10 + nodes}: client history is not linearizable: ${lin.ok === true ? '' : lin.reason}`);
        applied += sim.appliedCount();
        answered += sim.history.filter((o) => o.return !== Infinity).length;
      }
      // The runs did real work: entries were committed and applied.
      assert.ok(applied > seeds.length, `only ${applied} entries applied over ${seeds.length} seeds`);
      assert.ok(answered > seeds.length, `only ${answered} client requests answered over ${seeds.length} seeds`);
    });
  }

  it('with membership changes and leadership transfers under load', () => {
    for (const seed of seeds) {
      const s = seed * 10 + 9;
      const sim = new Simulation({ seed: s, nodes: 5, drop: 0.05, duplicate: 0.05, membershipChanges: true });
      for (let i = 0; i < 3000; i++) sim.randomStep();
      sim.checkLogMatching();
      assert.ok(sim.recover(), `seed ${s}: no progress after healing`);
      sim.finishClients();
      const lin = checkHistory(sim.history);
      assert.equal(lin.ok, true, `seed ${s}: client history is not linearizable: ${lin.ok === true ? '' : lin.reason}`);
    }
  });

  it('without PreVote and CheckQuorum too', () => {
    for (const seed of seeds.slice(0, 100)) {
      const sim = new Simulation({ seed: seed * 10 + 7, nodes: 3, drop: 0.05, duplicate: 0.05, preVote: false, checkQuorum: false });
      for (let s = 0; s < 3000; s++) sim.randomStep();
      sim.checkLogMatching();
      assert.ok(sim.recover(), `seed ${seed * 10 + 7}: no progress after healing`);
    }
  });
});
