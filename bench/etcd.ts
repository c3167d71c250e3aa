/**
 * A 3-member etcd on 127.0.0.1 for the side-by-side figures, when the `etcd` binary is installed
 * (Debian's etcd-server). Every address is loopback; data lives under the bench's scratch root
 * and goes with it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { exited, keepTail, stopAll, track } from './children.js';
import { freePorts, sleep, type Scratch } from './util.js';

export interface EtcdMember {
  name: string;
  pid: number;
  clientUrl: string;
  child: ChildProcess;
  tail: string[];
}

export interface EtcdCluster {
  members: EtcdMember[];
  version: string;
  /** The member all agreed on when it came up. */
  leader: string;
  seconds: number;
  stop(boundSec: number): ReturnType<typeof stopAll>;
}

/** The etcd binary on PATH and its version, or why there is none. */
export function findEtcd(): { bin: string; version: string } | { missing: string } {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const bin = path.join(dir, 'etcd');
    try {
      fs.accessSync(bin, fs.constants.X_OK);
    } catch {
      continue;
    }
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    const version = /etcd Version: (\S+)/.exec(r.stdout ?? '')?.[1];
    if (r.status === 0 && version) return { bin, version: `etcd ${version}` };
    return { missing: `${bin} --version failed (${r.error?.message ?? r.stderr?.trim() ?? r.status})` };
  }
  return { missing: 'no etcd binary on PATH (Debian: apt-get install etcd-server)' };
}

export async function startEtcd(scratch: Scratch, log: (line: string) => void, startSec: number): Promise<EtcdCluster> {
  const found = findEtcd();
  if ('missing' in found) throw new Error(found.missing);
  const t0 = Date.now();
  const ports = await freePorts(6);
  const names = ['e1', 'e2', 'e3'];
  const peerUrl = (i: number): string => `http://127.0.0.1:${ports[2 * i]}`;
  const clientUrl = (i: number): string => `http://127.0.0.1:${ports[2 * i + 1]}`;
  const initial = names.map((n, i) => `${n}=${peerUrl(i)}`).join(',');
  const members: EtcdMember[] = [];
  let stopping = false;
  const stop = (boundSec: number): ReturnType<typeof stopAll> => {
    stopping = true;
    return stopAll(members, boundSec);
  };
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const dir = scratch.dir(`etcd-${name}`);
    const args = [
      '--name', name, '--data-dir', dir,
      '--listen-peer-urls', peerUrl(i), '--initial-advertise-peer-urls', peerUrl(i),
      '--listen-client-urls', clientUrl(i), '--advertise-client-urls', clientUrl(i),
      '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `axis-bench-${process.pid}`,
      '--log-level', 'warn',
    ];
    const child = track(spawn(found.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    const m: EtcdMember = { name, pid: child.pid ?? -1, clientUrl: clientUrl(i), child, tail: [] };
    keepTail(child, m.tail);
    child.on('exit', (code, signal) => {
      if (!stopping) log(`  etcd ${name} exited unexpectedly (${signal ?? `code ${code}`}); last output:\n    ${m.tail.join('\n    ')}`);
    });
    members.push(m);
  }
  try {
    const leader = await agreedLeader(members, startSec);
    const seconds = (Date.now() - t0) / 1000;
    log(`  3-member etcd (${found.version}) up in ${seconds.toFixed(1)}s: leader ${leader}; members ${members.map((m) => `${m.name}@${m.clientUrl}`).join(', ')}`);
    return { members, version: found.version, leader, seconds, stop };
  } catch (err) {
    await stop(5);
    throw err;
  }
}

/** Asks each member for its status until all name the same leader. */
async function agreedLeader(members: EtcdMember[], startSec: number): Promise<string> {
  const clients = members.map((m) => new Etcd3({ hosts: [m.clientUrl], dialTimeout: 1000 }));
  const deadline = Date.now() + startSec * 1000;
  let last = '';
  try {
    for (;;) {
      const dead = members.filter((m) => exited(m.child));
      if (dead.length) throw new Error(`etcd ${dead.map((m) => m.name).join(', ')} exited during start-up:\n${dead.map((m) => m.tail.join('\n')).join('\n')}`);
      try {
        const st = await Promise.all(clients.map((c) => c.maintenance.status({ deadline: Date.now() + 1000 })));
        const leaders = new Set(st.map((s) => String(s.leader)));
        if (leaders.size === 1 && !leaders.has('0')) {
          const i = st.findIndex((s) => String(s.header.member_id) === String(st[0]!.leader));
          if (i >= 0) return members[i]!.name;
        }
        last = JSON.stringify(st.map((s) => ({ member: String(s.header.member_id), leader: String(s.leader) })));
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline) throw new Error(`etcd agreed on no leader within ${startSec}s (last: ${last})`);
      await sleep(100);
    }
  } finally {
    for (const c of clients) c.close();
  }
}
