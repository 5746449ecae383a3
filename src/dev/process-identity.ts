import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/**
 * What tells one process from a later one that got the same pid: when it started and what it runs.
 *
 * @example
 * const before = processIdentity(pid);
 * // ... later, before signalling pid ...
 * const same = before !== undefined && processIdentity(pid)?.start === before.start;
 */
export interface ProcessIdentity {
  /** Linux: `<boot time>+<start ticks>` (/proc/stat `btime`, /proc/<pid>/stat field 22); else `ps` lstart. */
  start: string;
  /** The command line, arguments joined by single spaces. */
  command: string;
}

let bootTime: string | undefined;

function linuxBootTime(): string {
  bootTime ??= /^btime\s+(\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? 'unknown-boot';
  return bootTime;
}

/**
 * The state (field 3) and start time in clock ticks since boot (field 22) from /proc/<pid>/stat. Fields are
 * counted after the command name, which may itself hold spaces and ')'.
 */
export function parseProcStat(stat: string): { state: string; startTicks: string } | undefined {
  const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [state, startTicks] = [afterName[0], afterName[19]];
  if (!state || startTicks === undefined || !/^\d+$/.test(startTicks)) return undefined;
  return { state, startTicks };
}

function fromProc(pid: number): ProcessIdentity | undefined {
  let stat: string;
  let cmdline: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
  const parsed = parseProcStat(stat);
  // A zombie has exited already: nothing left to stop.
  if (parsed === undefined || parsed.state === 'Z') return undefined;
  return {
    start: `${linuxBootTime()}+${parsed.startTicks}`,
    command: cmdline.replace(/\0+$/, '').split('\0').join(' '),
  };
}

function fromPs(pid: number): ProcessIdentity | undefined {
  const ps = (field: string): string | undefined => {
    try {
      return execFileSync('ps', ['-ww', '-o', `${field}=`, '-p', String(pid)], {
        encoding: 'utf8',
        timeout: 5_000,
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return undefined;
    }
  };
  const start = ps('lstart');
  if (!start) return undefined;
  return { start, command: ps('args') ?? '' };
}

/** The identity of a running process, or undefined when no such process runs. */
export function processIdentity(pid: number): ProcessIdentity | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return existsSync('/proc/self/stat') ? fromProc(pid) : fromPs(pid);
}
