/** Runs test/support/crash-writer in a child process, bounded in time, collecting its JSON lines. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WRITER = fileURLToPath(new URL('./crash-writer.js', import.meta.url));

export type Line = Record<string, unknown> & { op?: string };

export interface ChildRun {
  lines: Line[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs crash-writer (or `script`) with `args`. `killAfterReady`: SIGKILL this many ms after its 'ready' line.
 * Always bounded: killed after `timeoutMs` whatever happens. Only complete lines count: a line cut
 * short by the kill is dropped (it acknowledges nothing).
 */
export function runWriter(args: string[], opts: { timeoutMs: number; killAfterReady?: number; onReady?: (kill: () => void) => void; node?: string[]; script?: string; env?: Record<string, string> }): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(opts.node ?? []), opts.script ?? WRITER, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}) });
    const lines: Line[] = [];
    let buf = '';
    let stderr = '';
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr += s;
    });
    child.stdout.on('data', (s: string) => {
      buf += s;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let line: Line;
        try {
          line = JSON.parse(text) as Line;
        } catch {
          line = { op: 'garbage', text };
        }
        lines.push(line);
        if (line.op === 'ready') {
          opts.onReady?.(() => child.kill('SIGKILL'));
          if (opts.killAfterReady !== undefined) killTimer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterReady);
        }
      }
    });
    child.on('error', (err) => {
      clearTimeout(deadline);
      clearTimeout(killTimer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(deadline);
      clearTimeout(killTimer);
      resolve({ lines, code, signal, stderr, timedOut });
    });
  });
}

