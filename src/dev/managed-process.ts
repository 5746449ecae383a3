import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { processIdentity, type ProcessIdentity } from './process-identity';

/**
 * A background process the stack manager started, remembered by a pid file so that another command
 * (`npm run stack:down`, jest's global teardown) can stop exactly what was started and nothing else.
 */
export interface ManagedProcessSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** What `stop` did: a pid that now belongs to another process is never signalled. */
export type StopOutcome =
  | { status: 'stopped'; pid: number }
  | { status: 'not-running' }
  | { status: 'not-ours'; pid: number; reason: string };

/**
 * The pid file: the pid alone is not enough, since the kernel hands a freed pid to the next process. The
 * identity recorded at start (start time since boot, command line) tells our process from a later stranger.
 */
const pidRecordSchema = z.object({
  pid: z.number().int().positive(),
  identity: z.object({ start: z.string().min(1), command: z.string() }),
});
type PidRecord = z.infer<typeof pidRecordSchema>;

type PidFileState =
  | { kind: 'none' }
  | { kind: 'ours'; pid: number }
  | { kind: 'gone'; pid?: number }
  | { kind: 'not-ours'; pid: number; reason: string };

export class ManagedProcesses {
  /** Names this instance started, so a failed bring-up can undo exactly its own starts. */
  readonly startedHere = new Set<string>();

  constructor(private readonly stateDir: string) {}

  pidFile(name: string): string {
    return path.join(this.stateDir, 'pids', `${name}.pid`);
  }

  logFile(name: string): string {
    return path.join(this.stateDir, 'logs', `${name}.log`);
  }

  /** Starts the process in its own process group, detached, with output appended to its log file. */
  start(spec: ManagedProcessSpec): number {
    mkdirSync(path.dirname(this.pidFile(spec.name)), { recursive: true });
    mkdirSync(path.dirname(this.logFile(spec.name)), { recursive: true });
    const out = openSync(this.logFile(spec.name), 'a');
    try {
      const child = spawn(spec.command, spec.args, {
        cwd: spec.cwd,
        env: spec.env ?? process.env,
        detached: true,
        stdio: ['ignore', out, out],
      });
      if (child.pid === undefined) throw new Error(`could not start ${spec.name} (${spec.command})`);
      child.unref();
      // spawn returns once the child has exec'd, so the command line read here is the new program's.
      const identity = processIdentity(child.pid);
      if (identity === undefined) {
        throw new Error(`${spec.name} (${spec.command}) exited at once; log:\n${this.logTail(spec.name)}`);
      }
      const record: PidRecord = { pid: child.pid, identity };
      writeFileSync(this.pidFile(spec.name), `${JSON.stringify(record)}\n`);
      this.startedHere.add(spec.name);
      return child.pid;
    } finally {
      closeSync(out);
    }
  }

  private pidFileState(name: string): PidFileState {
    const file = this.pidFile(name);
    if (!existsSync(file)) return { kind: 'none' };
    const text = readFileSync(file, 'utf8').trim();
    let record: PidRecord | undefined;
    try {
      record = pidRecordSchema.parse(JSON.parse(text));
    } catch {
      record = undefined;
    }
    if (record === undefined) {
      // A bare pid (written before identities were recorded) or a damaged file: nothing proves whose it is.
      const pid = /^\d+$/.test(text) ? Number(text) : undefined;
      if (pid === undefined || pid <= 0 || processIdentity(pid) === undefined) return { kind: 'gone' };
      return { kind: 'not-ours', pid, reason: 'the pid file records no process identity' };
    }
    const now = processIdentity(record.pid);
    if (now === undefined) return { kind: 'gone', pid: record.pid };
    const mismatch = identityMismatch(record.identity, now);
    return mismatch === undefined
      ? { kind: 'ours', pid: record.pid }
      : { kind: 'not-ours', pid: record.pid, reason: mismatch };
  }

  /** The pid of a process this manager started and that still runs (the same process, not a reused pid). */
  runningPid(name: string): number | undefined {
    const state = this.pidFileState(name);
    return state.kind === 'ours' ? state.pid : undefined;
  }

  isRunning(name: string): boolean {
    return this.runningPid(name) !== undefined;
  }

  /** The last lines of a process's log, for error messages when it fails to start. */
  logTail(name: string, lines = 20): string {
    const file = this.logFile(name);
    if (!existsSync(file)) return '';
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }

  /**
   * SIGTERM to the process group, SIGKILL after `graceMs`, and the pid file removed. A pid file whose pid
   * now belongs to another process (or that records no identity) is removed without signalling anything.
   */
  async stop(name: string, graceMs = 15_000): Promise<StopOutcome> {
    const state = this.pidFileState(name);
    rmSync(this.pidFile(name), { force: true });
    if (state.kind === 'none' || state.kind === 'gone') return { status: 'not-running' };
    if (state.kind === 'not-ours') return { status: 'not-ours', pid: state.pid, reason: state.reason };
    const { pid } = state;
    signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(100);
    if (isAlive(pid)) signalGroup(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(50);
    return { status: 'stopped', pid };
  }
}

/** Names only the program, never the arguments: another process's command line may hold its secrets. */
function identityMismatch(recorded: ProcessIdentity, now: ProcessIdentity): string | undefined {
  if (recorded.start !== now.start)
    return 'it started at another time than the recorded process: the pid was reused';
  if (recorded.command !== now.command) {
    const program = (command: string) => path.basename(command.split(' ')[0] ?? '');
    return `it runs another command line (program ${program(now.command)}, recorded ${program(recorded.command)})`;
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as someone else's process.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}
