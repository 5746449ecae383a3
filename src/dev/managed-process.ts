import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

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

export class ManagedProcesses {
  /** Names this instance started, so a failed bring-up can undo exactly its own starts. */
  readonly startedHere = new Set<string>();

  constructor(private readonly stateDir: string) {}

  private pidFile(name: string): string {
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
      writeFileSync(this.pidFile(spec.name), String(child.pid));
      this.startedHere.add(spec.name);
      return child.pid;
    } finally {
      closeSync(out);
    }
  }

  /** The pid of a process this manager started and that still runs, else undefined. */
  runningPid(name: string): number | undefined {
    const file = this.pidFile(name);
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
    return pid;
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

  /** SIGTERM to the process group, SIGKILL after `graceMs`. Returns false when it was not running. */
  async stop(name: string, graceMs = 15_000): Promise<boolean> {
    const pid = this.runningPid(name);
    rmSync(this.pidFile(name), { force: true });
    if (pid === undefined) return false;
    signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(100);
    if (isAlive(pid)) signalGroup(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(50);
    return true;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
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
