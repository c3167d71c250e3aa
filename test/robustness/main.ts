/**
 * `npm run robustness`: runs fault families against real members and prints what held.
 *
 *   --profile ci            every family (or those of --family) for a short while each (the default)
 *   --minutes N             each family for N minutes instead
 *   --family a,b            only these (kill, pause, partition, failpoint, slow-disk, membership)
 *   --seed N                replays a run's choices (the seed every run prints)
 *   --members N             cluster size instead of the family's (3, or 5 for partition)
 *   --out DIR               where run directories go (default: $TMPDIR/axis-robustness)
 *   --keep-data             keep the members' data directories of runs that found nothing
 *   --recheck FILE          check a run's history file again (linearizability, revision order) and say what
 *                           failed, with the checker's witness; --epoch N: that epoch only
 *
 * Exit code 1 when a correctness check failed (availability beyond its bound is reported, not failed).
 */
import os from 'node:os';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { checkHistory, describeHistory } from '../support/linearizability.js';
import { CORRECTNESS, checkerOps, revisionOrder } from './checks.js';
import { FAMILIES, family } from './families.js';
import { readHistory } from './history.js';
import { killAll } from './members.js';
import { CI_MS, type FamilyReport, runFamily } from './run.js';
import { Epoch, type Recorded } from './workload.js';

function table(reports: FamilyReport[]): string {
  const head = ['family', 'seed', 'members', 'time', 'operations (unknown)', 'leases', 'watch responses', 'faults', 'lin', 'lost', 'watch', 'lease', 'hash', 'crash', 'harness', 'recovery median/max ms (over 2 ET)', 'lease late max ms', 'epochs checked (unchecked)'];
  const rows = reports.map((r) => [
    r.family, String(r.seed), String(r.members), `${(r.ms / 60_000).toFixed(1)} min`, `${r.ops} (${r.unknownOps})`, String(r.leases), String(r.watchResponses),
    String(r.faults), ...CORRECTNESS.map((c) => String(r.counts[c as keyof typeof r.counts])),
    `${r.recovery.medianMs}/${r.recovery.maxMs} (${r.recovery.over})`, r.leaseLateMaxMs === undefined ? '-' : String(r.leaseLateMaxMs),
    `${r.epochsChecked} (${r.epochsUnchecked})`,
  ]);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

function recheck(file: string, only?: number): number {
  const lines = readHistory(file);
  const epochs = new Map<number, Epoch>();
  for (const l of lines) {
    if (l.t === 'epoch') epochs.set(l.epoch as number, new Epoch(l.epoch as number, l.at as number, l.startRev as number, 0));
  }
  const keys = new Map<number, Set<string>>();
  for (const l of lines) {
    const e = epochs.get(l.epoch as number);
    if (!e) continue;
    if (l.t === 'op') {
      const { t: _t, ...op } = l;
      e.ops.push(op as unknown as Recorded);
      const k = (op as { key?: string }).key;
      if (k !== undefined) keys.set(e.n, (keys.get(e.n) ?? new Set()).add(k));
    } else if (l.t === 'closing-read') {
      e.ops.push({ kind: 'range', prefix: e.prefix, kvs: l.kvs as [string, string][], rev: l.revision as number, epoch: e.n, client: 99, call: l.call as number, ret: l.ret as number, ok: true });
    }
  }
  let bad = 0;
  for (const e of epochs.values()) {
    if (only !== undefined && e.n !== only) continue;
    e.keys.push(...[...(keys.get(e.n) ?? [])].filter((k) => /\/k\d+$/.test(k)).sort());
    const ops = checkerOps(e);
    const r = checkHistory(ops, { timeoutMs: 120_000 });
    const order = revisionOrder(e.ops);
    if (r.ok === true && order.length === 0) continue;
    bad++;
    console.log(`epoch ${e.n}: ${r.ok === false ? `not linearizable on ${r.key}: ${r.reason}\n${describeHistory(r.witness)}` : r.ok === 'unknown' ? `check timed out on ${r.key}` : 'linearizable'}`);
    for (const m of order) console.log(`epoch ${e.n}: ${m}`);
  }
  console.log(`${epochs.size} epochs read, ${bad} with findings`);
  return bad > 0 ? 1 : 0;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      profile: { type: 'string' }, minutes: { type: 'string' }, family: { type: 'string' }, seed: { type: 'string' },
      members: { type: 'string' }, out: { type: 'string' }, 'keep-data': { type: 'boolean' }, recheck: { type: 'string' }, epoch: { type: 'string' },
    },
  });
  if (values.recheck) return recheck(values.recheck, values.epoch === undefined ? undefined : Number(values.epoch));
  if (values.profile !== undefined && values.profile !== 'ci') throw new Error(`unknown profile ${values.profile} (ci, or --minutes N)`);
  const families = values.family ? values.family.split(',').map((f) => family(f.trim())) : FAMILIES;
  const seed = values.seed === undefined ? randomInt(1, 2 ** 31) : Number(values.seed);
  const durationMs = values.minutes === undefined ? CI_MS : Number(values.minutes) * 60_000;
  const root = values.out ?? path.join(os.tmpdir(), 'axis-robustness');
  console.log(`robustness: seed ${seed}; ${families.map((f) => f.name).join(', ')}, ${Math.round(durationMs / 1000)} s each; runs under ${root}`);
  const reports: FamilyReport[] = [];
  for (const f of families) {
    const r = await runFamily({
      family: f.name, seed, durationMs, root, ...(values.members ? { members: Number(values.members) } : {}),
      keepData: values['keep-data'] ?? false, log: (line) => console.log(`[${f.name} ${new Date().toISOString().slice(11, 19)}] ${line}`),
    });
    reports.push(r);
    console.log(`${f.name}: ${r.failed ? 'FAILED' : 'held'}; ${r.ops} operations, ${r.faults} faults; history in ${r.runDir}`);
  }
  console.log(`\nseed ${seed}\n${table(reports)}`);
  for (const r of reports) for (const v of r.violations) console.log(`${r.family}: ${v.category}${v.epoch === undefined ? '' : ` (epoch ${v.epoch})`}: ${v.message}`);
  const failed = reports.filter((r) => CORRECTNESS.some((c) => r.counts[c] > 0));
  if (failed.length > 0) console.log(`\ncorrectness violations in ${failed.map((r) => r.family).join(', ')}; replay with --seed ${seed} --family ${failed.map((r) => r.family).join(',')}`);
  return failed.length > 0 ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
