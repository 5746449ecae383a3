import type { Locator, Page } from 'playwright-core';

/**
 * The Temporal Web UI 2.42 workflow list, as an operator uses it: the `</>` toggle opens the raw query box,
 * the query runs on Enter. Selectors are the UI's own (test ids, roles); see
 * /work/shared/notes/temporal-ui-2.42.md.
 */

/** The list's row of `workflowId` (the row holds a link named by the id). */
export function workflowRow(page: Page, workflowId: string): Locator {
  return page
    .getByTestId('workflows-summary-configurable-table-row')
    .filter({ has: page.getByRole('link', { name: workflowId, exact: true }) });
}

/** Types `query` into the raw query box of the workflow list and runs it. */
export async function runListQuery(page: Page, uiUrl: string, query: string): Promise<void> {
  await page.goto(`${uiUrl}/namespaces/default/workflows`);
  const box = page.getByPlaceholder('Enter a query');
  // The box may already be open (the UI remembers the toggle within a session).
  if (!(await box.isVisible())) await page.getByTestId('toggle-manual-query').click();
  await box.fill(query);
  await box.press('Enter');
  await page.waitForURL((url) => url.searchParams.get('query') === query, { timeout: 15_000 });
}

/**
 * Runs `query` in the list until `workflowId`'s row shows (visibility catches up within about a second; an
 * upserted search attribute too) and, when given, until its status cell reads `status`. Returns the row and
 * its status text. Bounded by `timeoutMs`; the error says what the list showed last.
 */
export async function findInList(
  page: Page,
  uiUrl: string,
  query: string,
  workflowId: string,
  options: { status?: string; timeoutMs?: number } = {},
): Promise<{ row: Locator; status: string }> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let seen = 'no row';
  for (;;) {
    await runListQuery(page, uiUrl, query);
    const row = workflowRow(page, workflowId);
    const shown = await row
      .waitFor({ timeout: 5_000 })
      .then(() => true)
      .catch(() => false);
    if (shown) {
      // The first cell after the checkbox and the "start like this one" button is the status chip.
      const status = (await row.getByTestId('workflows-summary-table-body-cell').first().innerText()).trim();
      seen = `status ${status}`;
      if (options.status === undefined || status === options.status) return { row, status };
    }
    if (Date.now() > deadline)
      throw new Error(
        `the list for ${query} did not show ${workflowId}${options.status ? ` as ${options.status}` : ''} (${seen})`,
      );
    await page.waitForTimeout(1_000);
  }
}
