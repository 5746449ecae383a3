import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManagedProcesses } from '../../src/dev/managed-process';
import { parseProcStat, processIdentity } from '../../src/dev/process-identity';
import { stackDown } from '../../src/dev/stack';
import { waitUntilHealthy } from '../../src/dev/wait-until-healthy';

let stateDir: string;
const strangers: ChildProcess[] = [];
beforeEach(() => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'managed-process-'));
});
afterEach(() => {
  for (const stranger of strangers.splice(0)) stranger.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A process the manager never started: its own process group, so a wrong group signal would reach it. */
function startStranger(): number {
  const stranger = spawn('sleep', ['60'], { stdio: 'ignore', detached: true });
  strangers.push(stranger);
  if (stranger.pid === undefined) throw new Error('could not start sleep');
  return stranger.pid;
}

/** Waits until the process has written `text` to its log (no fixed sleep: the machine may be busy). */
async function logShows(processes: ManagedProcesses, name: string, text: string): Promise<void> {
  await waitUntilHealthy(async () => processes.logTail(name).includes(text), {
    component: `${name}'s log`,
    timeoutMs: 30_000,
    intervalMs: 20,
  });
}

function writePidFile(dir: string, name: string, content: string): string {
  const file = path.join(dir, 'pids', `${name}.pid`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  return file;
}

test('starts a detached process, knows it runs, logs its output, and stops it with its children', async () => {
  const processes = new ManagedProcesses(stateDir);
  // A shell with a child: stopping must take down the whole process group, not leave the child orphaned.
  const pid = processes.start({
    name: 'sleeper',
    command: 'sh',
    args: ['-c', 'echo hello; sleep 30 & wait'],
  });
  expect(processes.runningPid('sleeper')).toBe(pid);
  await logShows(processes, 'sleeper', 'hello');

  expect(await processes.stop('sleeper', 2_000)).toEqual({ status: 'stopped', pid });
  expect(alive(pid)).toBe(false);
  expect(processes.isRunning('sleeper')).toBe(false);
  expect(await processes.stop('sleeper')).toEqual({ status: 'not-running' });
});

test('records the started process by pid, start time and command line', () => {
  const processes = new ManagedProcesses(stateDir);
  const pid = processes.start({ name: 'sleeper', command: 'sleep', args: ['30'] });
  try {
    const record = JSON.parse(readFileSync(processes.pidFile('sleeper'), 'utf8')) as unknown;
    expect(record).toEqual({ pid, identity: processIdentity(pid) });
    expect(processIdentity(pid)?.command).toBe('sleep 30');
  } finally {
    process.kill(pid, 'SIGKILL');
  }
});

test('never signals a stranger whose pid is in a pid file, whatever the file says', async () => {
  const processes = new ManagedProcesses(stateDir);
  const pid = startStranger();
  const identity = processIdentity(pid);
  expect(identity).toBeDefined();
  expect(alive(pid)).toBe(true);

  const pidFiles = {
    // Written before identities were recorded: a bare pid proves nothing.
    bare: String(pid),
    // The recorded process exited and the kernel gave its pid to the stranger.
    reused: JSON.stringify({ pid, identity: { start: '1+1', command: identity?.command } }),
    // Same start time but another program: not what was recorded either.
    otherCommand: JSON.stringify({ pid, identity: { start: identity?.start, command: 'temporal server' } }),
  };
  for (const [name, content] of Object.entries(pidFiles)) {
    const file = writePidFile(stateDir, name, content);
    expect(processes.isRunning(name)).toBe(false);
    expect(await processes.stop(name, 500)).toEqual({
      status: 'not-ours',
      pid,
      reason: expect.any(String) as unknown,
    });
    expect({ name, pidFileLeft: existsSync(file), strangerAlive: alive(pid) }).toEqual({
      name,
      pidFileLeft: false,
      strangerAlive: true,
    });
  }

  // A pid file for a process that no longer exists at all.
  writePidFile(stateDir, 'gone', JSON.stringify({ pid: 999_999_999, identity }));
  expect(await processes.stop('gone')).toEqual({ status: 'not-running' });
  expect(alive(pid)).toBe(true);
});

test('stops the process whose start time and command line match the record', async () => {
  const processes = new ManagedProcesses(stateDir);
  const pid = startStranger();
  expect(alive(pid)).toBe(true);
  writePidFile(stateDir, 'adopted', JSON.stringify({ pid, identity: processIdentity(pid) }));
  expect(processes.runningPid('adopted')).toBe(pid);
  expect(await processes.stop('adopted', 2_000)).toEqual({ status: 'stopped', pid });
  expect(alive(pid)).toBe(false);
});

test('stack:down leaves a stranger with a recorded pid alone and says so', async () => {
  const pid = startStranger();
  expect(alive(pid)).toBe(true);
  const file = writePidFile(path.join(stateDir, '.state'), 'temporal', String(pid));
  const lines: string[] = [];
  const stopped = await stackDown(['temporal', 'unleash'], {
    root: stateDir,
    log: (line) => lines.push(line),
  });
  expect(stopped).toEqual([]);
  expect(alive(pid)).toBe(true);
  expect(existsSync(file)).toBe(false);
  expect(lines).toEqual([
    expect.stringMatching(
      new RegExp(
        `^not stopping temporal: pid ${pid} is not the process this project started .*stale pid file`,
      ),
    ),
  ]);
});

test('SIGKILL follows when a process ignores SIGTERM past the grace period', async () => {
  const processes = new ManagedProcesses(stateDir);
  const pid = processes.start({
    name: 'stubborn',
    command: 'sh',
    args: ['-c', "trap '' TERM; echo trapped; sleep 30 & wait; sleep 30"],
  });
  await logShows(processes, 'stubborn', 'trapped');
  expect(await processes.stop('stubborn', 300)).toEqual({ status: 'stopped', pid });
  expect(alive(pid)).toBe(false);
});

test('reads the start time from /proc/<pid>/stat even when the command name holds spaces and parentheses', () => {
  const fields = Array.from({ length: 50 }, (_unused, index) => String(index + 3));
  fields[0] = 'S';
  fields[19] = '123456';
  expect(parseProcStat(`4242 (evil) name (x) ${fields.join(' ')}`)).toEqual({
    state: 'S',
    startTicks: '123456',
  });
  expect(parseProcStat('4242 (truncated) S 1 2')).toBeUndefined();
});
