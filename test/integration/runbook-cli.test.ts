import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../src/config/load-dotenv';
import { RolloutWorkflow } from '../../workflows/rollout-workflow';
import {
  approveSignal,
  approveUpdate,
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  rollbackSignal,
  rollbackUpdate,
  statusQuery,
} from '../../workflows/rollout-messages';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import type { OperatorRequest } from '../../workflows/operator-request';
import type { RolloutStatus } from '../../workflows/rollout-status';
import { cliProcess, killCliProcesses, type CliExit } from '../helpers/cli-process';
import { finalStatus, flagPercent, waitForStatus } from '../helpers/rollout-test-helpers';
import { archiveFlag } from '../helpers/service-unleash';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';

/**
 * Issue 10, must show 2: every CLI command of docs/runbook.md runs, as the real `rollout` process, against
 * real rollouts on the shared stack, and does what the runbook says; the set of commands the page shows
 * equals the set this file ran, so a new runbook line without a test, or a line the CLI does not accept,
 * fails here. The page's Send an Update / Send a Signal JSON is sent to real rollouts and must be accepted.
 */

const RUNBOOK = path.join(projectRoot, 'docs/runbook.md');
/** The flag name the runbook's examples use; each command here runs with this file's own flag instead. */
const RUNBOOK_FLAG = 'unified-config';
const OPERATOR = `${os.userInfo().username}@${os.hostname()}`;

// ---- reading the runbook ----------------------------------------------------------------------------------

/** Words of a shell line (double and single quotes group, `#` at a word start ends the line). */
function shellWords(line: string): { words: string[]; end: number } {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (i >= line.length) break;
    if (line[i] === '#') return { words, end: i };
    let word = '';
    while (i < line.length && line[i] !== ' ' && line[i] !== '\t') {
      const quote = line[i];
      if (quote === '"' || quote === "'") {
        const close = line.indexOf(quote, i + 1);
        if (close < 0) throw new Error(`unclosed ${quote} in runbook line: ${line}`);
        word += line.slice(i + 1, close);
        i = close + 1;
      } else {
        word += line[i];
        i++;
      }
    }
    words.push(word);
  }
  return { words, end: line.length };
}

/**
 * Every CLI command the runbook shows: each `rollout …` in inline code in a table row, and each line of a
 * ```sh block that starts with `rollout ` (its trailing `# comment` dropped), as written on the page.
 */
function runbookCommands(markdown: string): string[] {
  const commands = new Set<string>();
  let fence: string | null = null;
  for (const line of markdown.split('\n')) {
    const opening = /^```(\S*)/.exec(line);
    if (opening) {
      fence = fence === null ? opening[1]! || 'plain' : null;
      continue;
    }
    if (fence === 'sh') {
      if (line.startsWith('rollout ')) commands.add(line.slice(0, shellWords(line).end).trim());
    } else if (fence === null && line.startsWith('|')) {
      for (const match of line.matchAll(/`(rollout [^`]*)`/g)) commands.add(match[1]!.trim());
    }
  }
  return [...commands];
}

interface MessageExample {
  /** The table row's action, for messages. */
  action: string;
  kind: 'update' | 'signal';
  name: string;
  json: string;
}

/**
 * The Actions table's Send an Update and Send a Signal columns: a name in code and the JSON in code after it;
 * a signal cell saying "same JSON" takes the update cell's JSON. A cell without a name (—) has no example.
 */
function messageExamples(markdown: string): MessageExample[] {
  const rows = markdown
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) =>
      line
        .slice(1, line.trimEnd().endsWith('|') ? line.trimEnd().length - 1 : undefined)
        .split('|')
        .map((cell) => cell.trim()),
    );
  const header = rows.findIndex((cells) => cells.some((cell) => cell.startsWith('Send an Update')));
  if (header < 0) throw new Error('the runbook has no table with a "Send an Update" column');
  const updateColumn = rows[header]!.findIndex((cell) => cell.startsWith('Send an Update'));
  const signalColumn = rows[header]!.findIndex((cell) => cell.startsWith('Send a Signal'));
  const examples: MessageExample[] = [];
  for (const cells of rows.slice(header + 2)) {
    if (cells.length !== rows[header]!.length) break; // the next table
    const spans = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
    const [updateName, updateJson] = spans(cells[updateColumn]!);
    if (updateName !== undefined) {
      if (updateJson === undefined)
        throw new Error(`no JSON beside update ${updateName}: ${cells.join(' | ')}`);
      examples.push({ action: cells[0]!, kind: 'update', name: updateName, json: updateJson });
    }
    const signalCell = cells[signalColumn]!;
    const [signalName, signalJson] = spans(signalCell);
    if (signalName !== undefined) {
      const json = signalJson ?? (/same JSON/.test(signalCell) ? updateJson : undefined);
      if (json === undefined) throw new Error(`no JSON for signal ${signalName}: ${cells.join(' | ')}`);
      examples.push({ action: cells[0]!, kind: 'signal', name: signalName, json });
    }
  }
  return examples;
}

const markdown = fs.readFileSync(RUNBOOK, 'utf8');
const commands = runbookCommands(markdown);
const examples = messageExamples(markdown);
/** The runbook commands this file ran, as written on the page. */
const ran = new Set<string>();

/** The one runbook command that `matches`; the test asks for it by what it does, not by its exact text. */
function runbookCommand(matches: (words: string[]) => boolean, what: string): string {
  const found = commands.filter((command) => matches(shellWords(command).words));
  if (found.length !== 1) {
    throw new Error(`the runbook shows ${found.length} commands for ${what} (${found.join('; ') || 'none'})`);
  }
  return found[0]!;
}

const has = (words: string[], option: string) => words.includes(option);
const optionValue = (command: string, option: string): string => {
  const words = shellWords(command).words;
  const at = words.indexOf(option);
  if (at < 0 || at + 1 >= words.length) throw new Error(`${command} has no ${option} value`);
  return words[at + 1]!;
};

// ---- the stack ----------------------------------------------------------------------------------------------

let database: TestDatabase;
let temporal: TestTemporal;
let dir: string;
let suffix: string;
const flags = new Set<string>();
const workflows = new Set<string>();

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbook-cli-'));
  suffix = uniqueSuffix();
  [database, temporal] = await Promise.all([
    createTestDatabase('runbook_cli'),
    connectTestTemporal('runbook'),
  ]);
});

afterAll(async () => {
  killCliProcesses();
  for (const workflowId of workflows) {
    await temporal?.client.workflow
      .getHandle(workflowId)
      .terminate('runbook-cli.test cleanup')
      .catch(() => undefined); // already closed
  }
  await temporal?.close();
  await database?.drop();
  for (const flag of flags) await archiveFlag(temporal.env, flag);
  fs.rmSync(dir, { recursive: true, force: true });
});

function cliEnv(): Record<string, string> {
  return { ROLLOUT_TASK_QUEUE: temporal.taskQueue, DATABASE_URL: database.url };
}

/**
 * Runs a runbook command as the operator would type it, through `src/cli/rollout`: `<id>` becomes `rolloutId`,
 * the runbook's flag name this file's `flag`. Exit 0 expected (the output is in the failure message).
 */
async function runRunbook(command: string, values: { rolloutId?: string; flag?: string }): Promise<CliExit> {
  const args = shellWords(command)
    .words.slice(1)
    .map((word) => {
      if (word === '<id>') {
        if (values.rolloutId === undefined) throw new Error(`${command} needs a rollout id`);
        return values.rolloutId;
      }
      if (word === RUNBOOK_FLAG) {
        if (values.flag === undefined) throw new Error(`${command} needs a flag`);
        return values.flag;
      }
      if (/^<.*>$/.test(word)) throw new Error(`${command}: no value for the placeholder ${word}`);
      return word;
    });
  const exit = await cliProcess(args, cliEnv(), { wrapper: true }).exited;
  console.log(`${command}  →  rollout ${args.join(' ')}: exit ${exit.code} in ${exit.ms} ms`);
  ran.add(command);
  expect({ command, code: exit.code, stderr: exit.stderr }).toEqual({ command, code: 0, stderr: '' });
  return exit;
}

/** A ramp-only plan (no data phase: these rollouts leave the database alone). */
function plan(
  flag: string,
  stages: { percent: number; soak: string; approval?: boolean }[],
): RolloutPlanInput {
  return {
    flag,
    unleash: { environment: 'development' },
    backup: { tables: [] },
    phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
    stages,
  };
}

/** Starts a ramp-only rollout on this file's task queue with its own flag. */
async function startRollout(
  label: string,
  stages: { percent: number; soak: string; approval?: boolean }[],
): Promise<WorkflowHandle<typeof RolloutWorkflow>> {
  const rolloutId = `r-rb-${label}-${suffix}`;
  const flag = `runbook-${label}-${suffix}`;
  flags.add(flag);
  workflows.add(rolloutId);
  return temporal.client.workflow.start(RolloutWorkflow, {
    workflowId: rolloutId,
    taskQueue: temporal.taskQueue,
    args: [{ rolloutId, plan: plan(flag, stages), requestedBy: 'jest@runbook-cli' }],
  });
}

const status = (handle: WorkflowHandle) => handle.query(statusQuery);
const eventsOf = (s: RolloutStatus, kind: string) =>
  s.events.filter((e) => e.kind === kind).map((e) => e.message);

// ---- the tests ----------------------------------------------------------------------------------------------

test('the runbook shows CLI commands and message examples', () => {
  console.log(`runbook CLI commands:\n  ${commands.join('\n  ')}`);
  console.log(
    `runbook message examples:\n  ${examples.map((e) => `${e.kind} ${e.name} ${e.json}`).join('\n  ')}`,
  );
  expect(commands.length).toBeGreaterThan(0);
  expect(examples.length).toBeGreaterThan(0);
  for (const command of commands) expect(command).toMatch(/^rollout [a-z]+/);
});

test('every CLI command of the runbook, against real rollouts, with its effect', async () => {
  const env = cliEnv();
  await temporal.withWorker(database.db, async () => {
    // B, C and D are started first, so their first soak has begun by the time A is done.
    const [b, c, d] = await Promise.all([
      startRollout('b', [
        { percent: 10, soak: '10m' },
        { percent: 100, soak: '0s' },
      ]),
      startRollout('c', [
        { percent: 10, soak: '10m' },
        { percent: 100, soak: '0s' },
      ]),
      startRollout('d', [
        { percent: 10, soak: '10m' },
        { percent: 100, soak: '0s' },
      ]),
    ]);

    // A: started as an operator starts one (the CLI gives it the RolloutFlag that `list --flag` looks for).
    const idA = `r-rb-a-${suffix}`;
    const flagA = `runbook-a-${suffix}`;
    flags.add(flagA);
    workflows.add(idA);
    const planFile = path.join(dir, 'a.json');
    fs.writeFileSync(
      planFile,
      JSON.stringify(
        plan(flagA, [
          { percent: 10, soak: '3s' },
          { percent: 100, soak: '8s', approval: true },
        ]),
      ),
    );
    const started = await cliProcess(['start', planFile, '--id', idA], env).exited;
    expect({ code: started.code, stderr: started.stderr }).toEqual({ code: 0, stderr: '' });
    const a = temporal.client.workflow.getHandle<typeof RolloutWorkflow>(idA);
    await waitForStatus(a, (s) => s.stageIndex === 0, 'A at stage 1 (10 %)');

    const list = runbookCommand((w) => w[1] === 'list', 'list');
    expect(list).toContain(` --flag ${RUNBOOK_FLAG}`);
    // Visibility is eventually consistent: a few tries, each a full run of the command.
    let listed = await runRunbook(list, { flag: flagA });
    for (let attempt = 1; attempt < 5 && !listed.stdout.includes(idA); attempt++) {
      listed = await runRunbook(list, { flag: flagA });
    }
    expect(listed.stdout).toMatch(new RegExp(`^${idA} +RUNNING +${flagA} +ramp`, 'm'));
    // Only this flag's rollouts.
    expect(listed.stdout.trim().split('\n')).toHaveLength(1);

    const statusA = await runRunbook(
      runbookCommand((w) => w[1] === 'status', 'status'),
      { rolloutId: idA },
    );
    expect(statusA.stdout).toContain(idA);
    expect(statusA.stdout).toMatch(/outcome running/);

    const pause = runbookCommand((w) => w[1] === 'pause', 'pause');
    const paused = await runRunbook(pause, { rolloutId: idA });
    expect(paused.stdout).toMatch(new RegExp(`^rollout ${idA}: paused at ramp, (10|100)%\\n$`));
    expect(await status(a)).toMatchObject({ paused: true, pausedBy: OPERATOR, outcome: 'running' });
    expect(eventsOf(await status(a), 'operator_pause')).toEqual([
      `paused by ${OPERATOR}: ${optionValue(pause, '--reason')}`,
    ]);

    const resume = runbookCommand((w) => w[1] === 'resume', 'resume');
    await runRunbook(resume, { rolloutId: idA });
    expect(await status(a)).toMatchObject({ paused: false, pausedBy: null, outcome: 'running' });
    expect(eventsOf(await status(a), 'operator_resume')).toEqual([
      `resumed by ${OPERATOR}: ${optionValue(resume, '--reason')}`,
    ]);

    // Stage 2 needs an approval: the rollout waits for it after the 3 s soak.
    await waitForStatus(a, (s) => s.awaitingApprovalStage === 2, 'A awaiting approval of stage 2');
    expect(await flagPercent(temporal.unleash, flagA)).toBe(10);
    const approve = runbookCommand((w) => w[1] === 'approve', 'approve');
    const approved = await runRunbook(approve, { rolloutId: idA });
    expect(approved.stdout).toBe(`rollout ${idA}: approved; the stage starts now\n`);
    await waitForStatus(a, (s) => s.stageIndex === 1 && s.soakEndsAt !== null, 'A soaking at 100 %');

    // The watch starts during stage 2's 8 s soak, follows the rollout until it completes, and exits 0.
    const watch = runbookCommand((w) => w[1] === 'watch', 'watch');
    expect(watch).toMatch(/ --timeout \S+/);
    const watched = await runRunbook(watch, { rolloutId: idA });
    expect(watched.stdout).toContain(`rollout ${idA}  [COMPLETED]`);
    const endA = await finalStatus(a);
    expect(endA).toMatchObject({ outcome: 'completed', percent: 100 });
    expect(eventsOf(endA, 'operator_approve')).toEqual([
      `stage 2 approved by ${OPERATOR}: ${optionValue(approve, '--reason')}`,
    ]);
    expect(await flagPercent(temporal.unleash, flagA)).toBe(100);

    // B: a full rollback (the plan's scope), C: the flag only; both from the 10 % soak.
    const soaking = (s: RolloutStatus) => s.stageIndex === 0 && s.soakEndsAt !== null;
    await Promise.all([b, c, d].map((h) => waitForStatus(h, soaking, `${h.workflowId} soaking at 10 %`)));
    const rollback = runbookCommand((w) => w[1] === 'rollback' && !has(w, '--scope'), 'rollback');
    const rolledBack = await runRunbook(rollback, { rolloutId: b.workflowId });
    expect(rolledBack.stdout).toBe(
      `rollout ${b.workflowId}: rollback requested (the plan's rollback.scope); follow it with rollout watch\n`,
    );
    const rollbackFlag = runbookCommand((w) => w[1] === 'rollback' && has(w, '--scope'), 'rollback --scope');
    expect(optionValue(rollbackFlag, '--scope')).toBe('flag');
    const rolledBackFlag = await runRunbook(rollbackFlag, { rolloutId: c.workflowId });
    expect(rolledBackFlag.stdout).toBe(
      `rollout ${c.workflowId}: rollback requested (scope flag); follow it with rollout watch\n`,
    );
    const [endB, endC] = await Promise.all([finalStatus(b), finalStatus(c)]);
    expect(endB).toMatchObject({ outcome: 'rolled_back', percent: 0 });
    expect(eventsOf(endB, 'operator_rollback')).toEqual([
      `rollback requested by ${OPERATOR} (the plan's scope): ${optionValue(rollback, '--reason')}`,
    ]);
    expect(endC).toMatchObject({ outcome: 'rolled_back', percent: 0 });
    expect(eventsOf(endC, 'operator_rollback')).toEqual([
      `rollback requested by ${OPERATOR} (scope flag): ${optionValue(rollbackFlag, '--reason')}`,
    ]);
    for (const h of [b, c]) {
      expect(await flagPercent(temporal.unleash, (await status(h)).flag)).toBe(0);
    }

    // D: cancelled; it rolls back, then ends as cancelled, naming who and why.
    const cancel = runbookCommand((w) => w[1] === 'cancel', 'cancel');
    const cancelled = await runRunbook(cancel, { rolloutId: d.workflowId });
    expect(cancelled.stdout).toContain(`rollout ${d.workflowId}: cancellation requested by ${OPERATOR}`);
    await expect(d.result()).rejects.toThrow();
    const endD = await status(d);
    expect(endD).toMatchObject({ outcome: 'cancelled', percent: 0 });
    expect(endD.cancelledBy).toMatch(/\S+@\S+/);
    expect(endD.error).toContain(`: ${optionValue(cancel, '--reason')}`);
    expect(await flagPercent(temporal.unleash, endD.flag)).toBe(0);
  });
}, 150_000);

test('the set of commands run equals the set the runbook shows', () => {
  // A runbook line no test runs, or a test of a line the runbook no longer shows, fails here.
  expect([...ran].sort()).toEqual([...commands].sort());
});

describe("the runbook's Send an Update / Send a Signal JSON is accepted", () => {
  /** The rollout state each message needs, and what it must change. */
  type Action = 'pause' | 'resume' | 'approve' | 'rollback';
  const needs: Record<
    Action,
    { ready: (s: RolloutStatus) => boolean; setUp?: 'pause'; done: (s: RolloutStatus) => boolean }
  > = {
    pause: { ready: (s) => s.stageIndex === 0 && !s.paused, done: (s) => s.paused },
    resume: { ready: (s) => s.paused, setUp: 'pause', done: (s) => !s.paused },
    approve: { ready: (s) => s.awaitingApprovalStage === 2, done: (s) => s.stageIndex === 1 },
    rollback: { ready: (s) => s.stageIndex === 0, done: (s) => s.outcome === 'rolled_back' },
  };
  // Each column's names are the ones of its kind: a signal's name in the update column is an error.
  const actionOf: Record<MessageExample['kind'], Record<string, Action | undefined>> = {
    update: {
      [pauseUpdate.name]: 'pause',
      [resumeUpdate.name]: 'resume',
      [approveUpdate.name]: 'approve',
      [rollbackUpdate.name]: 'rollback',
    },
    signal: {
      [pauseSignal.name]: 'pause',
      [resumeSignal.name]: 'resume',
      [approveSignal.name]: 'approve',
      [rollbackSignal.name]: 'rollback',
    },
  };
  const updates = {
    pause: pauseUpdate,
    resume: resumeUpdate,
    approve: approveUpdate,
    rollback: rollbackUpdate,
  };
  const signals = {
    pause: pauseSignal,
    resume: resumeSignal,
    approve: approveSignal,
    rollback: rollbackSignal,
  };

  test('each example, sent to a rollout in the state it applies to', async () => {
    expect(examples.map((e) => `${e.kind} ${e.name}`).sort()).toEqual(
      [
        'update pause-rollout',
        'update resume-rollout',
        'update approve-stage',
        'update rollback-rollout',
        'update rollback-rollout',
        'signal pause',
        'signal resume',
        'signal approve',
        'signal rollback',
        'signal rollback',
      ].sort(),
    );
    await temporal.withWorker(database.db, async () => {
      await Promise.all(
        examples.map(async (example, index) => {
          const action = actionOf[example.kind][example.name];
          if (action === undefined)
            throw new Error(`the runbook names an unknown ${example.kind} ${example.name}`);
          const request = JSON.parse(example.json) as Record<string, unknown>;
          const need = needs[action];
          // Stage 1 soaks briefly, stage 2 waits for an approval and then soaks long: every state is reachable.
          const handle = await startRollout(`${example.kind[0]}${index}`, [
            { percent: 10, soak: action === 'approve' ? '1s' : '10m' },
            { percent: 50, soak: '10m', approval: true },
            { percent: 100, soak: '0s' },
          ]);
          if (need.setUp === 'pause') {
            await waitForStatus(handle, (s) => s.stageIndex === 0, `${handle.workflowId} at stage 1`);
            await handle.executeUpdate(pauseUpdate, { args: [{ actor: 'jest@runbook', reason: 'set-up' }] });
          }
          const before = await waitForStatus(handle, need.ready, `${handle.workflowId} ready for ${action}`);
          const what = `${example.kind} ${example.name} ${example.json} (${example.action})`;
          if (example.kind === 'update') {
            const answer = await handle
              .executeUpdate(updates[action], { args: [request] })
              .catch((error: unknown) => {
                throw new Error(
                  `${what} was refused: ${error instanceof WorkflowUpdateFailedError ? error.cause?.message : String(error)}`,
                );
              });
            expect(answer.rolloutId).toBe(handle.workflowId);
          } else {
            await handle.signal(signals[action], request);
          }
          const after =
            action === 'rollback'
              ? await finalStatus(handle)
              : await waitForStatus(handle, need.done, `${what} to take effect`);
          expect({
            what,
            ignored: after.ignored.count - before.ignored.count,
            done: need.done(after),
          }).toEqual({
            what,
            ignored: 0,
            done: true,
          });
          // The example's actor and reason are the ones recorded.
          const recorded = eventsOf(after, `operator_${action}`).at(-1) ?? '';
          if (typeof request.actor === 'string') expect(recorded).toContain(request.actor);
          if (typeof request.reason === 'string') expect(recorded).toContain(request.reason);
          if (request.scope === 'flag') expect(recorded).toContain('(scope flag)');
          console.log(`${what}: accepted → ${recorded}`);
        }),
      );
    });
  }, 120_000);

  test('a key the runbook does not list is refused, as it says', async () => {
    await temporal.withWorker(database.db, async () => {
      const handle = await startRollout('extra', [
        { percent: 10, soak: '10m' },
        { percent: 100, soak: '0s' },
      ]);
      await waitForStatus(handle, (s) => s.stageIndex === 0, 'stage 1');
      const refused = await handle
        .executeUpdate(pauseUpdate, {
          args: [{ actor: 'ana@ops', reason: 'x', note: 'extra' } as unknown as OperatorRequest],
        })
        .then(
          () => null,
          (error: unknown) => error,
        );
      expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
      expect((await status(handle)).paused).toBe(false);
      await handle.terminate('done');
    });
  }, 60_000);
});
