/**
 * The bench's `perf trace` parser (bench/cluster.ts): a syscall that another thread's output
 * interrupts is printed as an entry line with no duration and a "[continued]" end; its fd is the
 * entry's. (It once was dropped: every interrupted fdatasync lost its fd, so the journal's were
 * counted as the store's.)
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePerfTrace } from '../bench/cluster.js';

const TRACE = [
  '     0.000 ( 1.836 ms): node/2776 fdatasync(fd: 23)                                                     = 0',
  '     1.255 (         ): node/2785 fdatasync(fd: 23)                                                  ...',
  '     1.925 ( 0.313 ms): node/2776 fdatasync(fd: 21)                                                     = 0',
  '     1.255 ( 1.132 ms): node/2785  ... [continued]: fdatasync())                                        = 0',
  '     2.000 ( 0.010 ms): node/2790 sendto(fd: 30, buff: 0x7f, len: 300)                                  = 300',
  '     2.100 (         ): node/2791 recvfrom(fd: 31, ubuf: 0x7f, size: 8192)                              ...',
  '     2.100 ( 0.050 ms): node/2791  ... [continued]: recvfrom())                                         = 412',
  'not a trace line',
].join('\n');

describe('bench: perf trace parsing', () => {
  it('attributes an interrupted syscall to the fd of its entry line, with its duration and result', () => {
    const ev = parsePerfTrace(TRACE);
    assert.deepEqual(
      ev.map((e) => [e.t, e.tid, e.sys, e.fd, e.ret]),
      [
        [0, 2776, 'fdatasync', 23, 0],
        [1.255, 2785, 'fdatasync', 23, 0],
        [1.925, 2776, 'fdatasync', 21, 0],
        [2, 2790, 'sendto', 30, 300],
        [2.1, 2791, 'recvfrom', 31, 412],
      ],
    );
    assert.equal(ev[1]!.dur, 1.132);
  });
});
