import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { projectRoot } from '../../src/config/load-dotenv';
import { ROLLOUT_FLAG } from '../../src/temporal/search-attributes';
import { RolloutWorkflow } from '../../workflows';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database';
import { connectTestTemporal, uniqueSuffix, type TestTemporal } from '../helpers/test-temporal';

// Debian's Chromium (installed by .ci/run); Playwright's own browser download cannot run here.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let database: TestDatabase;
let temporal: TestTemporal;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
  database = await createTestDatabase('temporal_ui');
  temporal = await connectTestTemporal('ui');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await temporal?.close();
  await database?.drop();
});

test('an operator finds a rollout in the Temporal Web UI by flag and sees it completed', async () => {
  const flag = `ui-${uniqueSuffix()}`;
  const rolloutId = `r-${uniqueSuffix()}`;
  await temporal.withWorker(database.db, () =>
    temporal.client.workflow.execute(RolloutWorkflow, {
      workflowId: rolloutId,
      taskQueue: temporal.taskQueue,
      args: [
        {
          rolloutId,
          plan: { flag, unleash: { environment: 'development' }, stages: [{ percent: 100, soak: '0s' }] },
          requestedBy: 'jest@ui',
        },
      ],
      typedSearchAttributes: [{ key: ROLLOUT_FLAG, value: flag }],
    }),
  );

  const ui = temporal.env.TEMPORAL_UI_URL.replace(/\/$/, '');
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  try {
    await page.goto(`${ui}/namespaces/default/workflows/${rolloutId}`);
    await page.getByText('RolloutWorkflow').first().waitFor({ timeout: 30_000 });
    await page.getByText('Completed').first().waitFor({ timeout: 30_000 });
    await expect(page.getByText(rolloutId).first().isVisible()).resolves.toBe(true);

    // The list filtered by the search attribute, as the README's runbook tells operators to do.
    await page.goto(
      `${ui}/namespaces/default/workflows?query=${encodeURIComponent(`RolloutFlag="${flag}"`)}`,
    );
    await page.getByRole('link', { name: rolloutId }).first().waitFor({ timeout: 30_000 });
  } finally {
    const shots = path.join(projectRoot, '.state', 'screenshots');
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, `temporal-ui-${rolloutId}.png`) });
    await page.close();
  }
});
