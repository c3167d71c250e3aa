/**
 * Failpoints for crash tests: `AXIS_FAILPOINT=name` makes the process kill itself (SIGKILL, so
 * nothing is flushed or cleaned up) when it reaches the point of that name. Off (one comparison)
 * otherwise.
 */
const armed = process.env.AXIS_FAILPOINT;

export function failpoint(name: string): void {
  if (armed === name) process.kill(process.pid, 'SIGKILL');
}
