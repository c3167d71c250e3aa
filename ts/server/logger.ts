/**
 * A member's log: one JSON object per line (pino), each with a level, a time, the member's name and,
 * for what an operator looks for (a leader change, a snapshot, a compaction, a membership change),
 * an `event` name and its fields. `npx pino-pretty` makes it readable on a terminal.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { AxisError, ErrorCode } from '../errors/index.js';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function checkLogLevel(v: unknown): LogLevel {
  if (v === undefined) return 'info';
  if (typeof v !== 'string' || !(LOG_LEVELS as readonly string[]).includes(v)) {
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, `log level must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(v)}`);
  }
  return v as LogLevel;
}

/**
 * The logger of member `name`, writing to stderr unless given a `destination` (tests read it). Through
 * `process.stderr.write`, not a file descriptor of its own: a line is out before the process exits.
 */
export function memberLogger(name: string, options: { level?: LogLevel; destination?: DestinationStream } = {}): Logger {
  return pino({ level: options.level ?? 'info', base: { member: name }, timestamp: pino.stdTimeFunctions.isoTime }, options.destination ?? process.stderr);
}

