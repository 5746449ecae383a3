import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { ManagedProcesses } from '../../src/dev/managed-process';

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'managed-process-'));
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
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
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(processes.logTail('sleeper')).toContain('hello');

  expect(await processes.stop('sleeper', 2_000)).toBe(true);
  expect(alive(pid)).toBe(false);
  expect(processes.isRunning('sleeper')).toBe(false);
  expect(await processes.stop('sleeper')).toBe(false);
});

test('never stops a process it did not start: no pid file, or a stale one, means nothing to stop', async () => {
  const processes = new ManagedProcesses(stateDir);
  const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    expect(await processes.stop('temporal')).toBe(false);
    // A pid file left by a crashed run whose pid now belongs to nobody.
    mkdirSync(path.join(stateDir, 'pids'), { recursive: true });
    writeFileSync(path.join(stateDir, 'pids', 'unleash.pid'), '999999999');
    expect(processes.isRunning('unleash')).toBe(false);
    expect(await processes.stop('unleash')).toBe(false);
    expect(alive(stranger.pid!)).toBe(true);
  } finally {
    stranger.kill('SIGKILL');
  }
});

test('SIGKILL follows when a process ignores SIGTERM past the grace period', async () => {
  const processes = new ManagedProcesses(stateDir);
  const pid = processes.start({
    name: 'stubborn',
    command: 'sh',
    args: ['-c', "trap '' TERM; sleep 30 & wait; sleep 30"],
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(await processes.stop('stubborn', 300)).toBe(true);
  expect(alive(pid)).toBe(false);
});
