/**
 * Unreachable reports, as both transports make them: asynchronous (never from inside send()),
 * coalesced to one per peer per event-loop turn, and never after close.
 */
import { ErrorCode } from '../errors/index.js';
import type { NodeId } from '../raft/types.js';

export class UnreachableReports {
  private readonly pending = new Set<NodeId>();

  constructor(
    private readonly report: (peer: NodeId) => void,
    private readonly log: (line: string) => void,
    private readonly closed: () => boolean,
  ) {}

  add(peer: NodeId): void {
    if (this.closed()) return;
    if (this.pending.size === 0) setImmediate(() => this.flush());
    this.pending.add(peer);
  }

  clear(): void {
    this.pending.clear();
  }

  private flush(): void {
    const ids = [...this.pending];
    this.pending.clear();
    for (const id of ids) {
      if (this.closed()) return;
      try {
        this.report(id);
      } catch (err) {
        this.log(`${ErrorCode.INTERNAL}: onUnreachable threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    }
  }
}
