/** `axis lock NAME [-- COMMAND ...]` and `axis elect NAME [PROPOSAL]`, as etcdctl's. */
import { spawn } from 'node:child_process';
import { connect, Election, Session, type Client } from '../client/index.js';
import { AxisError, ErrorCode } from '../errors/index.js';
import { clusterConnectOptions } from './keys.js';

interface RecipeFlags {
  endpoints?: string;
  'key-file'?: string;
  'data-dir'?: string;
  ttl?: string;
}

async function clusterClient(flags: RecipeFlags, what: string): Promise<Client> {
  if (flags['data-dir'] !== undefined) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `${what} needs a cluster (--endpoints), not --data-dir`);
  return connect(clusterConnectOptions(flags));
}

function ttlOf(flags: RecipeFlags): number {
  if (flags.ttl === undefined) return 60;
  const n = Number(flags.ttl);
  if (!Number.isSafeInteger(n) || n <= 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, '--ttl must be a positive integer (seconds)');
  return n;
}

/** Resolves on SIGINT/SIGTERM. */
function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/**
 * Takes the lock, then runs COMMAND with AXIS_LOCK_KEY and AXIS_LOCK_REVISION (the fencing token)
 * in its environment and releases the lock when it exits, exiting with its code; without a command,
 * prints the key and revision and holds the lock until Ctrl-C.
 */
export async function lockCommand(args: string[], command: string[], flags: RecipeFlags): Promise<number> {
  if (args.length !== 1) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'lock takes a name: axis lock NAME [-- COMMAND ...]');
  const ttl = ttlOf(flags);
  const client = await clusterClient(flags, 'lock');
  try {
    const held = await client.lock(args[0]!, { ttl });
    try {
      if (command.length === 0) {
        console.log(`${held.key}\nrevision ${held.revision}`);
        await interrupted();
        return 0;
      }
      const child = spawn(command[0]!, command.slice(1), {
        stdio: 'inherit',
        env: { ...process.env, AXIS_LOCK_KEY: held.key, AXIS_LOCK_REVISION: String(held.revision) },
      });
      const code = await new Promise<number>((resolve) => {
        child.on('error', (err) => {
          console.error(`axis: cannot run ${command[0]}: ${err.message}`);
          resolve(127);
        });
        child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
      });
      return code;
    } finally {
      await held.unlock();
    }
  } finally {
    await client.close();
  }
}

/**
 * With PROPOSAL: campaigns, prints the key and revision once elected, and leads until Ctrl-C
 * (then resigns). Without: prints the leader's value, then every change, until Ctrl-C.
 */
export async function electCommand(args: string[], flags: RecipeFlags): Promise<number> {
  if (args.length < 1 || args.length > 2) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'elect takes a name and an optional proposal: axis elect NAME [PROPOSAL]');
  const ttl = ttlOf(flags);
  const client = await clusterClient(flags, 'elect');
  try {
    const [name, proposal] = args as [string, string | undefined];
    if (proposal === undefined) {
      const stop = interrupted();
      const it = Election.observe(client, name);
      for (;;) {
        const next = await Promise.race([it.next(), stop.then(() => undefined)]);
        if (!next || next.done) break;
        const kv = next.value;
        console.log(kv ? `${kv.key.toString()}\n${kv.value.toString()}` : '(no leader)');
      }
      // The generator is still waiting on its watch: closing the client ends it (no await here).
      void it.return(undefined);
      return 0;
    }
    const session = await Session.create(client, { ttl });
    const e = new Election(session, name);
    try {
      const won = await e.campaign(proposal);
      console.log(`${won.key}\n${proposal}\nrevision ${won.revision}`);
      await interrupted();
      await e.resign();
      return 0;
    } finally {
      await session.close();
    }
  } finally {
    await client.close();
  }
}
