import type { WorkflowHandle } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { projectRoot } from '../../src/config/load-dotenv';
import type { RolloutPlanInput } from '../../src/plan/rollout-plan';
import { ROLLOUT_FLAG } from '../../src/temporal/search-attributes';
import { RolloutWorkflow } from '../../workflows';
import { UNKNOWN_CANCELLER } from '../../workflows/cancel-attribution';
import type { RolloutStatus } from '../../workflows/rollout-status';
import { finalStatus, waitForStatus } from '../helpers/rollout-test-helpers';
import { archiveFlag, uniqueFlagName } from '../helpers/service-unleash';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';
import {
  launchChromium,
  resetScreenshots,
  saveText,
  screenshot,
  UI_SCREENSHOT_DIR,
} from '../helpers/ui-browser';
import { findInList } from '../helpers/ui-workflow-list';
import {
  headerStatus,
  openWorkflow,
  readCurrentDetails,
  requestCancellation,
  sendSignal,
  sendUpdate,
  waitForCurrentDetails,
} from '../helpers/ui-workflow-page';

/**
 * Issue 10, "must show" 1 (`npm run test:ui`): an operator runs rollouts from the Temporal Web UI alone, in
 * Debian's headless Chromium against the shared dev server's UI, with a real worker (real activities, a test
 * database, the shared Unleash). The steps run in order and share three rollouts:
 *  A (10% → 50% with approval → 100%): found by RolloutFlag, its current details read, paused by a signal,
 *    resumed and approved by updates;
 *  B (10%, long soak): rolled back by an update with a reason, then shown as not successful in the list;
 *  C (10%, long soak): cancelled with Request Cancellation; `rollout status` (the real CLI) names the canceller
 *    exactly as the server recorded it with the cancel request (the UI sends none: then it must say so, never
 *    "workflow").
 * Every step writes a screenshot to .state/ui-screenshots/<step>.png. What the UI sends is checked by its
 * effect (the workflow's details, the list, the CLI), never by the toast ("Workflow signaled." is shown
 * whether or not the workflow accepted a signal).
 */

const ACTOR = 'ui-test@ops';

let database: TestDatabase;
let temporal: TestTemporal;
let browser: Browser;
let page: Page;
let ui: string;
let stopWorker: () => void = () => undefined;
let worker: Promise<void> | undefined;

interface Rollout {
  rolloutId: string;
  flag: string;
  handle: WorkflowHandle<typeof RolloutWorkflow>;
}
const rollouts: Rollout[] = [];
let a: Rollout;
let b: Rollout;
let c: Rollout;

async function startRollout(label: string, stages: RolloutPlanInput['stages']): Promise<Rollout> {
  const flag = uniqueFlagName(`ui-${label}`);
  const rolloutId = `r-ui-${label}-${uniqueSuffix()}`;
  const plan: RolloutPlanInput = {
    flag,
    unleash: { project: 'default', environment: 'development' },
    phases: { migrateKeys: false, migrateTemplates: false, seedModels: false },
    stages,
  };
  const handle = await temporal.client.workflow.start(RolloutWorkflow, {
    workflowId: rolloutId,
    taskQueue: temporal.taskQueue,
    args: [{ rolloutId, plan, requestedBy: 'jest@ui' }],
    typedSearchAttributes: [{ key: ROLLOUT_FLAG, value: flag }],
  });
  const rollout = { rolloutId, flag, handle };
  rollouts.push(rollout);
  return rollout;
}

/** `rollout <args>` as the operator runs it: the real CLI in a child process, on the test's database. */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(projectRoot, 'src/cli/main.ts'), '--', ...args],
      { env: { ...process.env, DATABASE_URL: database.url }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The identity the server recorded with the workflow's cancel request ('' when the requester sent none). */
async function cancelRequestIdentity(rolloutId: string): Promise<string> {
  const history = await temporal.client.workflow.getHandle(rolloutId).fetchHistory();
  const event = history.events?.find(
    (e) => e.eventType === proto.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
  );
  if (!event) throw new Error(`${rolloutId} has no cancel request in its history`);
  return event.workflowExecutionCancelRequestedEventAttributes?.identity ?? '';
}

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

beforeAll(async () => {
  resetScreenshots();
  database = await createTestDatabase('temporal_ui');
  temporal = await connectTestTemporal('ui');
  ui = temporal.env.TEMPORAL_UI_URL.replace(/\/$/, '');
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  // One worker for the whole file: the steps share rollouts that live across tests.
  worker = temporal.withWorker(database.db, () => new Promise<void>((resolve) => (stopWorker = resolve)));
  a = await startRollout('a', [
    { percent: 10, soak: '1s' },
    { percent: 50, soak: '0s', approval: true },
    { percent: 100, soak: '0s' },
  ]);
  // B and C soak long at 10%: the rollback and the cancel cut the soak short.
  b = await startRollout('b', [
    { percent: 10, soak: '10m' },
    { percent: 100, soak: '0s' },
  ]);
  c = await startRollout('c', [
    { percent: 10, soak: '10m' },
    { percent: 100, soak: '0s' },
  ]);
}, 180_000);

afterAll(async () => {
  // Whatever a failed step left running is cancelled (and so rolled back) while the worker still runs.
  for (const rollout of rollouts) {
    const running = await rollout.handle
      .describe()
      .then((d) => d.status.name === 'RUNNING')
      .catch(() => false);
    if (!running) continue;
    await rollout.handle.cancel().catch(() => undefined);
    await Promise.race([rollout.handle.result().catch(() => undefined), sleepMs(20_000)]);
  }
  stopWorker();
  await worker?.catch(() => undefined);
  await browser?.close();
  await Promise.all(rollouts.map((r) => archiveFlag(temporal.env, r.flag).catch(() => undefined)));
  await temporal?.close();
  await database?.drop();
  process.stdout.write(`temporal-ui: screenshots in ${UI_SCREENSHOT_DIR}, ${elapsed()} in all\n`);
}, 120_000);

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

test('1. finds a rollout by RolloutFlag with the raw query box of the workflow list', async () => {
  const { status, row } = await findInList(page, ui, `RolloutFlag="${a.flag}"`, a.rolloutId);
  expect(status).toBe('Running');
  await screenshot(page, '1-list-by-rollout-flag');
  // Exactly one row: the flag names this rollout only.
  await expect(page.getByTestId('workflows-summary-configurable-table-row').count()).resolves.toBe(1);
  await row.getByRole('link', { name: a.rolloutId, exact: true }).click();
  await page.getByTestId('workflow-id-heading').filter({ hasText: a.rolloutId }).waitFor();
});

test('2. its current details on the workflow page: phase, stage n/N and percent, the stage awaiting approval', async () => {
  // Setup, not the UI under test: stage 1 soaked and stage 2 waits for approval, so the details are settled.
  await waitForStatus(a.handle, (s) => s.awaitingApprovalStage === 2, 'the approval of stage 2', 60_000);
  const details = await waitForCurrentDetails(
    page,
    a.rolloutId,
    (d) => /Awaiting approval/.test(d),
    'the stage awaiting approval',
  );
  await screenshot(page, '2-current-details');
  expect(details).toContain(`Rollout ${a.rolloutId}`);
  expect(details).toMatch(/Phase\s+ramp/);
  expect(details).toMatch(/Stage\s+1\/3 at 10%/);
  expect(details).toMatch(/Flag percent \(confirmed\)\s+10%/);
  // 1-based: the second stage of three.
  expect(details).toMatch(/Awaiting approval\s+stage 2\/3 \(50%\): send approve-stage/);
  expect(details).not.toMatch(/Paused/);
});

test('3. pauses it with Send a Signal; the current details say paused, by whom and why', async () => {
  const clicks = await sendSignal(page, 'pause', { actor: ACTOR, reason: 'checking' });
  const details = await waitForCurrentDetails(page, a.rolloutId, (d) => /Paused/.test(d), 'paused');
  await screenshot(page, '3-paused-by-signal');
  expect(details).toMatch(new RegExp(`Paused\\s+by ${ACTOR}\\b.*checking`));
  expect(details).toMatch(/Next step\s+resume/);
  // The signal was accepted, not merely delivered (an ignored one would be counted here).
  expect(details).not.toMatch(/Ignored messages/);
  process.stdout.write(`step 3: the signal took ${clicks} click(s) on Submit\n`);
});

test('4. resumes it with Send an Update; the current details no longer say paused', async () => {
  const clicks = await sendUpdate(page, 'resume-rollout', { actor: ACTOR, reason: 'looked fine' }, () =>
    screenshot(page, '4a-resume-update-dialog'),
  );
  const details = await waitForCurrentDetails(page, a.rolloutId, (d) => !/Paused/.test(d), 'not paused');
  await screenshot(page, '4b-resumed-by-update');
  expect(details).toMatch(new RegExp(`resumed by ${ACTOR}: looked fine`));
  // Still waiting for the approval: resuming does not approve.
  expect(details).toMatch(/Awaiting approval\s+stage 2\/3/);
  process.stdout.write(`step 4: the update took ${clicks} click(s) on Submit\n`);
});

test('5. approves stage 2 with Send an Update; the rollout goes on to 100% and completes', async () => {
  await sendUpdate(page, 'approve-stage', { actor: ACTOR, reason: 'metrics are fine' }, () =>
    screenshot(page, '5a-approve-update-dialog'),
  );
  const status: RolloutStatus = await finalStatus(a.handle);
  expect(status).toMatchObject({ outcome: 'completed', percent: 100 });
  expect(status.events.map((e) => e.message)).toContain(`stage 2 approved by ${ACTOR}: metrics are fine`);
  const details = await waitForCurrentDetails(
    page,
    a.rolloutId,
    (d) => /completed/.test(d) && !/Awaiting approval/.test(d),
    'completed',
  );
  expect(details).toMatch(/Stage\s+3\/3 at 100% \(all stages done\)/);
  expect(await headerStatus(page, a.rolloutId)).toBe('Completed');
  await screenshot(page, '5b-approved-and-completed');
});

test('6. rolls a second rollout back with a reason (Send an Update); the list marks it not successful', async () => {
  await waitForStatus(b.handle, (s) => s.stageIndex === 0 && s.soakEndsAt !== null, 'stage 1 of B');
  await openWorkflow(page, ui, b.rolloutId);
  await sendUpdate(
    page,
    'rollback-rollout',
    { actor: ACTOR, reason: 'error rate up on the unified path' },
    () => screenshot(page, '6a-rollback-update-dialog'),
  );
  const status = await finalStatus(b.handle);
  expect(status).toMatchObject({ outcome: 'rolled_back', percent: 0 });

  const byFlag = await findInList(page, ui, `RolloutFlag="${b.flag}"`, b.rolloutId, { status: 'Failed' });
  await screenshot(page, '6b-list-by-flag-rolled-back');
  expect(byFlag.status).not.toBe('Completed');
  expect(byFlag.status).toBe('Failed');

  // "Everything rolled back": the outcome search attribute (with the id, so other files' rollouts can't
  // push this row off the first page).
  const byOutcome = await findInList(
    page,
    ui,
    `RolloutOutcome="rolled_back" AND WorkflowId="${b.rolloutId}"`,
    b.rolloutId,
  );
  expect(byOutcome.status).toBe('Failed');
  await screenshot(page, '6c-list-by-outcome-rolled-back');

  await openWorkflow(page, ui, b.rolloutId);
  expect(await headerStatus(page, b.rolloutId)).toBe('Failed');
  const details = await readCurrentDetails(page);
  expect(details).toMatch(/rolled back/);
  expect(details).toContain('error rate up on the unified path');
  await screenshot(page, '6d-rolled-back-workflow-page');
});

test('7. cancels a third with Request Cancellation; `rollout status` names the canceller as the server recorded it', async () => {
  await waitForStatus(c.handle, (s) => s.stageIndex === 0 && s.soakEndsAt !== null, 'stage 1 of C');
  await openWorkflow(page, ui, c.rolloutId);
  await requestCancellation(page, () => screenshot(page, '7a-cancel-dialog'));
  // The cancel ends the workflow once its rollback ran (flag to 0).
  await expect(c.handle.result()).rejects.toThrow();
  await openWorkflow(page, ui, c.rolloutId);
  expect(await headerStatus(page, c.rolloutId)).toBe('Canceled');
  await screenshot(page, '7b-cancelled-workflow-page');

  const json = await runCli(['status', c.rolloutId, '--json']);
  expect(json).toMatchObject({ code: 0 });
  const view = JSON.parse(json.stdout) as {
    status: (RolloutStatus & { cancelledBy?: string | null }) | null;
    audit: { kind: string; actor: string }[];
  };
  const text = await runCli(['status', c.rolloutId]);
  saveText('7c-rollout-status', text.stdout + text.stderr);

  // What the server recorded with the request. The Web UI's Request Cancellation sends no identity (2.42
  // POSTs the cancel with no body, logged in or not), so '' here unless a later UI starts sending one.
  const identity = await cancelRequestIdentity(c.rolloutId);
  process.stdout.write(`step 7: the cancel request's identity in the history: ${JSON.stringify(identity)}\n`);
  const audited = view.audit.find((e) => e.kind === 'operator_cancel');
  const canceller = view.status?.cancelledBy ?? audited?.actor ?? '';
  process.stdout.write(`step 7: rollout status names the canceller ${JSON.stringify(canceller)}\n`);
  expect(canceller).not.toBe('');
  expect(canceller).not.toBe('workflow');
  expect(audited?.actor).toBe(canceller);
  expect(view.status?.outcome).toBe('cancelled');
  // The status names exactly whom the server recorded; with no identity on the request it says so.
  if (identity) expect(canceller).toBe(identity);
  else expect(canceller).toBe(UNKNOWN_CANCELLER);
  expect(text.stdout).toContain(canceller);
});
