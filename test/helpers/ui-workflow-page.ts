import type { Locator, Page } from 'playwright-core';

/**
 * A workflow's page in the Temporal Web UI 2.42, as an operator uses it. Selectors are the UI's own (roles,
 * test ids, tab ids); see /work/shared/notes/temporal-ui-2.42.md.
 *
 * Where 2.42 shows a workflow's current details (`setCurrentDetails`): the **User Metadata** tab, in a
 * "Current Details" panel beside Summary and Details, as Markdown rendered in an iframe (`/render?content=…`).
 * The panel shows what the page loaded; "press R for freshness" or a reload fetches it again.
 */

/** Opens the workflow's page (its latest run) and waits for its header. */
export async function openWorkflow(page: Page, uiUrl: string, workflowId: string): Promise<void> {
  await page.goto(`${uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
  await waitForHeader(page, workflowId);
}

async function waitForHeader(page: Page, workflowId: string): Promise<void> {
  await page
    .getByTestId('workflow-id-heading')
    .filter({ hasText: workflowId })
    .first()
    .waitFor({ timeout: 30_000 });
  await page.locator('#user-metadata-tab').waitFor({ timeout: 30_000 });
}

/** The status chip beside the workflow id in the header (Running, Completed, Failed, Canceled …). */
export async function headerStatus(page: Page, workflowId: string): Promise<string> {
  const header = page.locator('header').filter({ has: page.getByTestId('workflow-id-heading') });
  for (const status of ['Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'Timed Out']) {
    const chip = header.getByText(status, { exact: true }).first();
    if (await chip.isVisible().catch(() => false)) return status;
  }
  throw new Error(`no status chip found on ${workflowId}'s page`);
}

/** The rendered text of the "Current Details" panel (User Metadata tab), or '' while the panel has none. */
export async function readCurrentDetails(page: Page): Promise<string> {
  const tab = page.locator('#user-metadata-tab');
  if ((await tab.getAttribute('aria-selected')) !== 'true') await tab.click();
  const heading = page.getByRole('heading', { name: 'Current Details', exact: true });
  await heading.waitFor({ timeout: 15_000 });
  // The iframe of the panel the heading names (Summary and Details may render Markdown in iframes too).
  const frame = heading.locator('xpath=ancestor::*[.//iframe][1]//iframe').first();
  if (!(await frame.isVisible().catch(() => false))) {
    await frame.waitFor({ timeout: 5_000 }).catch(() => undefined);
    if (!(await frame.isVisible().catch(() => false))) return '';
  }
  const body = frame.contentFrame().locator('body');
  await body.waitFor({ timeout: 10_000 });
  // The renderer typesets the Markdown: `1/3` becomes 1⁄3 (U+2044) and ' a right quote. Undone here, so a
  // test reads what the workflow wrote.
  return (await body.innerText())
    .replace(/\u2044/g, '/')
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[ \t]+/g, ' ')
    .trim();
}

/**
 * Reloads the workflow page until its current details satisfy `ready` (the panel shows what the page
 * loaded), at most `timeoutMs`; returns the text. The error quotes what the panel said last.
 */
export async function waitForCurrentDetails(
  page: Page,
  workflowId: string,
  ready: (details: string) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let details = await readCurrentDetails(page);
  while (!ready(details)) {
    if (Date.now() > deadline)
      throw new Error(`${workflowId}'s current details never showed ${what}; last:\n${details}`);
    await page.waitForTimeout(750);
    await page.reload();
    await waitForHeader(page, workflowId);
    details = await readCurrentDetails(page);
  }
  return details;
}

/** Opens an entry of the header's **More Actions** menu and returns its dialog. */
async function moreAction(page: Page, item: string, dialogName: string): Promise<Locator> {
  await page.getByRole('button', { name: 'More Actions' }).click();
  await page.getByRole('menuitem', { name: item, exact: true }).click();
  // Each modal exists twice in the DOM; only the open one has the accessible role and name.
  const dialog = page.getByRole('dialog', { name: dialogName });
  await dialog.waitFor({ timeout: 10_000 });
  return dialog;
}

/** Picks `name` in the dialog's select (signal or update name). */
async function pick(dialog: Locator, selectTestId: string, name: string): Promise<void> {
  await dialog.getByTestId(selectTestId).click();
  await dialog.getByRole('option', { name, exact: true }).click();
}

/**
 * Puts `data` into the dialog's Data editor. `insertText` (not typed keys) so the editor's bracket
 * auto-closing adds nothing; then the editor is left, which reformats the JSON and grows the dialog, and the
 * layout gets a moment to settle before anyone aims at Submit.
 */
async function fillData(page: Page, dialog: Locator, data: unknown): Promise<void> {
  const editor = dialog.locator('[contenteditable=true]');
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.insertText(JSON.stringify(data));
  // Runs in the page: the element is an HTMLElement there (this project's types have no DOM library).
  await editor.evaluate((element) => (element as unknown as { blur(): void }).blur());
  await page.waitForTimeout(400);
}

/**
 * Clicks the dialog's confirm button until the dialog closes (the UI's quirk: a click during the re-layout
 * misses). Each attempt waits for the dialog to close before clicking again, so a slow but accepted request
 * is never sent twice. A message the dialog shows (a refused update's validator message) fails at once.
 * Returns how many clicks it took.
 */
async function confirmUntilClosed(dialog: Locator, button: Locator, what: string): Promise<number> {
  const attempts = 4;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    await button.click({ timeout: 5_000 }).catch(() => undefined);
    const closed = await dialog
      .waitFor({ state: 'hidden', timeout: 4_000 })
      .then(() => true)
      .catch(() => false);
    if (closed) return attempt;
    const alert = (
      await dialog
        .getByRole('alert')
        .allInnerTexts()
        .catch(() => [])
    )
      .join(' ')
      .trim();
    if (alert) throw new Error(`${what}: the dialog says ${alert.slice(0, 500)}`);
  }
  throw new Error(`${what}: the dialog did not close after ${attempts} clicks`);
}

/** **More Actions → Send a Signal**: `name` with `data` as its JSON payload. Returns the clicks it took. */
export async function sendSignal(page: Page, name: string, data: unknown): Promise<number> {
  const dialog = await moreAction(page, 'Send a Signal', 'Send a Signal');
  await pick(dialog, 'signal-select-button', name);
  await fillData(page, dialog, data);
  return confirmUntilClosed(dialog, dialog.getByTestId('confirm-modal-button'), `signal ${name}`);
}

/**
 * **More Actions → Send an Update**: `name` with `data`; the dialog closes once the workflow accepted it (a
 * refusal stays in the dialog and fails here with its message). Returns the clicks it took. `beforeSubmit`
 * runs with the dialog filled in (for a screenshot).
 */
export async function sendUpdate(
  page: Page,
  name: string,
  data: unknown,
  beforeSubmit?: () => Promise<unknown>,
): Promise<number> {
  const dialog = await moreAction(page, 'Send an Update', 'Send an Update');
  await pick(dialog, 'update-select-button', name);
  await fillData(page, dialog, data);
  await beforeSubmit?.();
  return confirmUntilClosed(dialog, dialog.getByTestId('confirm-modal-button'), `update ${name}`);
}

/** The header's **Request Cancellation** button and its "Cancel Workflow" dialog (no reason field). */
export async function requestCancellation(
  page: Page,
  beforeConfirm?: () => Promise<unknown>,
): Promise<number> {
  await page.getByRole('button', { name: 'Request Cancellation' }).click();
  const dialog = page.getByRole('dialog', { name: 'Cancel Workflow' });
  await dialog.waitFor({ timeout: 10_000 });
  await beforeConfirm?.();
  return confirmUntilClosed(dialog, dialog.getByRole('button', { name: 'Confirm' }), 'request cancellation');
}
