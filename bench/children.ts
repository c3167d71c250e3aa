/**
 * The bench's child processes (cluster members, etcd, perf): a registry every exit path (a
 * failure, SIGINT, the watchdog, process exit) can kill synchronously, and a bounded stop.
 */
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let exitHook = false;

/** SIGKILLs every child the bench started that is still running (for abort paths). */
export function killChildren(): void {
  for (const c of live) {
    try {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Registers a child so that every exit path kills it. */
export function track(c: ChildProcess): ChildProcess {
  live.add(c);
  c.once('exit', () => live.delete(c));
  if (!exitHook) {
    exitHook = true;
    process.on('exit', killChildren);
  }
  return c;
}

export function exited(c: ChildProcess): boolean {
  return c.exitCode !== null || c.signalCode !== null;
}

/** Waits for a child to exit, at most `ms`; true if it did. */
export function waitExit(c: ChildProcess, ms: number): Promise<boolean> {
  if (exited(c)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      c.off('exit', done);
      resolve(exited(c));
    }, ms);
    const done = (): void => {
      clearTimeout(t);
      resolve(true);
    };
    c.once('exit', done);
  });
}

/** Keeps the last `keep` lines a child printed (stdout and stderr) in `tail`, for failure reports. */
export function keepTail(c: ChildProcess, tail: string[], keep = 40): void {
  for (const stream of [c.stdout, c.stderr]) {
    let rest = '';
    stream?.on('data', (d: Buffer) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) {
        tail.push(l);
        if (tail.length > keep) tail.shift();
      }
    });
  }
}

/** SIGTERM every child, wait up to `boundSec`, SIGKILL what is left; never throws. */
export async function stopAll(children: { name: string; child: ChildProcess }[], boundSec: number): Promise<{ clean: string[]; killed: string[]; codes: Record<string, string> }> {
  const clean: string[] = [];
  const killed: string[] = [];
  const codes: Record<string, string> = {};
  for (const m of children) if (!exited(m.child)) m.child.kill('SIGTERM');
  await Promise.all(
    children.map(async (m) => {
      if (await waitExit(m.child, boundSec * 1000)) {
        clean.push(m.name);
      } else {
        m.child.kill('SIGKILL');
        await waitExit(m.child, 5000);
        killed.push(m.name);
      }
      codes[m.name] = m.child.signalCode ?? String(m.child.exitCode);
    }),
  );
  return { clean, killed, codes };
}
