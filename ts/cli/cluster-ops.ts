/** `axis member ...`, `axis move-leader`, `axis snapshot save|restore`: running a cluster. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { connect, type Client, type MemberListing } from '../client/index.js';
import { AxisError, ErrorCode } from '../errors/index.js';
import { memberId, parseInitialCluster } from '../server/config.js';
import { restoreSnapshot } from '../server/snapshot.js';
import { clusterConnectOptions } from './keys.js';
import type { Flags } from './main.js';

function hexId(arg: string | undefined, what: string): number {
  const id = arg !== undefined && /^[0-9a-fA-F]{1,13}$/.test(arg) ? parseInt(arg, 16) : NaN;
  if (!Number.isSafeInteger(id) || id <= 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `${what} is a member id in hex, as \`axis member list\` prints it`);
  return id;
}

async function withClient<T>(flags: Flags, f: (c: Client) => Promise<T>): Promise<T> {
  const c = await connect(clusterConnectOptions(flags));
  try {
    return await f(c);
  } finally {
    await c.close();
  }
}

function printMembers(r: MemberListing, json: boolean): void {
  if (json) {
    console.log(JSON.stringify({ ...r, clusterId: r.clusterId.toString(16), members: r.members.map((m) => ({ ...m, id: m.id.toString(16) })) }, null, 2));
    return;
  }
  console.log('ID\tNAME\tPEER URL\tCLIENT URL\tLEARNER');
  for (const m of r.members) console.log([m.id.toString(16), m.name, m.peerUrl, m.clientUrl || '-', m.learner].join('\t'));
}

export async function memberCommand(args: string[], flags: Flags, usage: string): Promise<number> {
  const [sub, ...rest] = args;
  const json = flags['write-out'] === 'json';
  const need = (n: number) => {
    if (rest.length !== n) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `member ${sub} takes ${n} argument${n === 1 ? '' : 's'}\n\n${usage}`);
  };
  switch (sub) {
    case 'list':
      need(0);
      printMembers(await withClient(flags, (c) => c.memberList()), json);
      return 0;
    case 'add': {
      need(1);
      const peerUrl = flags['peer-urls'];
      if (!peerUrl) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'member add NAME needs --peer-urls URL');
      const r = await withClient(flags, (c) => c.memberAdd({ name: rest[0]!, peerUrl, ...(flags['client-urls'] ? { clientUrl: flags['client-urls'] } : {}), learner: flags.learner ?? false }));
      if (json) return printMembers(r, true), 0;
      const m = r.member!;
      console.log(`Member ${m.id.toString(16)} added to cluster ${r.clusterId.toString(16)}${m.learner ? ' as a learner' : ''}\n`);
      const initial = r.members.map((x) => `${x.name}=${x.peerUrl}`).join(',');
      console.log('Start it with:');
      console.log(`  axis serve --name ${m.name} --data-dir <DIR> --peer-listen ${m.peerUrl} --client-listen ${m.clientUrl || '<URL>'} \\`);
      console.log(`    --initial-cluster ${initial} --initial-cluster-state existing --cluster-id ${r.clusterId.toString(16)}`);
      if (m.learner) console.log(`then, once it has caught up: axis member promote ${m.id.toString(16)}`);
      return 0;
    }
    case 'remove': {
      need(1);
      const id = hexId(rest[0], 'member remove ID');
      const r = await withClient(flags, (c) => c.memberRemove(id));
      if (json) printMembers(r, true);
      else console.log(`Member ${id.toString(16)} removed from cluster ${r.clusterId.toString(16)}`);
      return 0;
    }
    case 'promote': {
      need(1);
      const id = hexId(rest[0], 'member promote ID');
      const r = await withClient(flags, (c) => c.memberPromote(id));
      if (json) printMembers(r, true);
      else console.log(`Member ${id.toString(16)} promoted in cluster ${r.clusterId.toString(16)}`);
      return 0;
    }
    case 'update': {
      need(1);
      const id = hexId(rest[0], 'member update ID');
      if (!flags['peer-urls'] && !flags['client-urls']) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'member update ID needs --peer-urls and/or --client-urls');
      const r = await withClient(flags, (c) => c.memberUpdate(id, { ...(flags['peer-urls'] ? { peerUrl: flags['peer-urls'] } : {}), ...(flags['client-urls'] ? { clientUrl: flags['client-urls'] } : {}) }));
      if (json) printMembers(r, true);
      else console.log(`Member ${id.toString(16)} updated in cluster ${r.clusterId.toString(16)}`);
      return 0;
    }
    default:
      throw new AxisError(ErrorCode.INVALID_ARGUMENT, `member takes list, add, remove, promote or update\n\n${usage}`);
  }
}

export async function moveLeaderCommand(args: string[], flags: Flags): Promise<number> {
  if (args.length !== 1) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'move-leader takes the id (hex) of the member to lead');
  const id = hexId(args[0], 'move-leader ID');
  const leader = await withClient(flags, (c) => c.moveLeader(id));
  console.log(`Leadership moved to ${leader.toString(16)}`);
  return 0;
}

export async function snapshotCommand(args: string[], flags: Flags, usage: string): Promise<number> {
  const [sub, file, ...rest] = args;
  if (!file || rest.length > 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `snapshot save|restore takes a file\n\n${usage}`);
  if (sub === 'save') {
    const endpoints = clusterConnectOptions(flags).endpoints;
    if (endpoints.length !== 1) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'snapshot save reads one member: give exactly one --endpoints URL');
    const tmp = `${file}.part`;
    const out = await fs.open(tmp, 'w', 0o600);
    let info: { index: number; revision: number; size: number } | undefined;
    try {
      await withClient(flags, async (c) => {
        let r = await c.snapshotRead(0, 0);
        info = r;
        let offset = 0;
        for (;;) {
          await out.write(r.data, 0, r.data.length, offset);
          offset += r.data.length;
          if (offset >= r.size || r.data.length === 0) break;
          r = await c.snapshotRead(r.id, offset);
        }
        if (offset !== r.size) throw new AxisError(ErrorCode.STORAGE, `the snapshot ended at ${offset} of ${r.size} bytes`);
      });
      await out.sync();
    } finally {
      await out.close();
    }
    await fs.rename(tmp, file);
    console.log(`Snapshot saved to ${file}: ${info!.size} bytes, revision ${info!.revision}, raft index ${info!.index}`);
    return 0;
  }
  if (sub === 'restore') {
    const dir = flags['data-dir'];
    if (!dir || !flags.name || !flags['initial-cluster']) {
      throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'snapshot restore FILE needs --data-dir, --name and --initial-cluster (the new cluster, this member in it)');
    }
    const initial = parseInitialCluster(flags['initial-cluster']);
    if (!initial.has(flags.name)) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `the initial cluster does not include ${flags.name}`);
    const members = [...initial].map(([name, peerUrl]) => ({ id: memberId(name), name, peerUrl }));
    await fs.mkdir(path.resolve(dir), { recursive: true });
    const r = await restoreSnapshot(path.resolve(file), path.resolve(dir), members);
    console.log(`Restored ${file} into ${dir} (revision ${r.revision}, raft index ${r.index}); start every member of the new cluster with the same --initial-cluster`);
    return 0;
  }
  throw new AxisError(ErrorCode.INVALID_ARGUMENT, `snapshot takes save or restore\n\n${usage}`);
}

export async function alarmCommand(args: string[], flags: Flags, usage: string): Promise<number> {
  const [sub, ...rest] = args;
  if (rest.length > 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `alarm ${sub ?? ''} takes no arguments\n\n${usage}`);
  const type = flags.type?.toUpperCase();
  if (type !== undefined && type !== 'NOSPACE' && type !== 'CORRUPT') throw new AxisError(ErrorCode.INVALID_ARGUMENT, '--type is NOSPACE or CORRUPT');
  let list: { type: string; member: number }[];
  if (sub === 'list') list = await withClient(flags, (c) => c.alarmList());
  else if (sub === 'disarm') {
    const member = flags.member === undefined ? undefined : hexId(flags.member, '--member');
    list = await withClient(flags, (c) => c.alarmDisarm({ ...(type ? { type: type as 'NOSPACE' | 'CORRUPT' } : {}), ...(member ? { member } : {}) }));
  } else throw new AxisError(ErrorCode.INVALID_ARGUMENT, `alarm takes list or disarm\n\n${usage}`);
  if (flags['write-out'] === 'json') console.log(JSON.stringify(list.map((a) => ({ ...a, member: a.member.toString(16) }))));
  else for (const a of list) console.log(`memberID:${a.member.toString(16)} alarm:${a.type}`);
  return 0;
}

/** `axis hashkv`: each endpoint's hash at one revision (the first answer's current one unless --rev); exit 1 if they differ. */
export async function hashKvCommand(args: string[], flags: Flags): Promise<number> {
  if (args.length > 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'hashkv takes no arguments');
  const options = clusterConnectOptions(flags);
  let rev = flags.rev === undefined ? 0 : Number(flags.rev);
  if (!Number.isSafeInteger(rev) || rev < 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, '--rev must be a revision');
  const rows: { endpoint: string; hash?: string; revision?: number; compactRevision?: number; error?: string }[] = [];
  for (const endpoint of options.endpoints) {
    try {
      const h = await withClient({ ...flags, endpoints: endpoint }, (c) => c.hashKv(rev));
      rev ||= h.revision;
      rows.push({ endpoint, ...h });
    } catch (err) {
      rows.push({ endpoint, error: (err as Error).message });
    }
  }
  if (flags['write-out'] === 'json') console.log(JSON.stringify(rows, null, 2));
  else for (const r of rows) console.log(r.error ? `${r.endpoint}\terror: ${r.error}` : `${r.endpoint}\t${r.hash}\trevision ${r.revision}\tcompacted ${r.compactRevision}`);
  const first = rows.find((r) => r.hash);
  const differ = rows.some((r) => r.hash && first && r.compactRevision === first.compactRevision && r.hash !== first.hash);
  return differ ? 1 : 0;
}
