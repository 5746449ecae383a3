import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { projectRoot } from '../../src/config/load-dotenv';

/** Debian's Chromium (installed by .ci/run); Playwright's own browser download cannot run here. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where the UI test writes one screenshot per step (under `.state/`, which .gitignore covers). */
export const UI_SCREENSHOT_DIR = path.join(projectRoot, '.state', 'ui-screenshots');

/** Headless Debian Chromium through playwright-core, never a downloaded browser. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
  return chromium.launch({
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
}

/** Empties the screenshot folder, so what it holds after a run is that run's steps only. */
export function resetScreenshots(): void {
  mkdirSync(UI_SCREENSHOT_DIR, { recursive: true });
  for (const name of readdirSync(UI_SCREENSHOT_DIR)) {
    if (/\.(png|txt)$/.test(name)) rmSync(path.join(UI_SCREENSHOT_DIR, name));
  }
}

/** `<step>.png` of the whole page; returns its path. */
export async function screenshot(page: Page, step: string): Promise<string> {
  mkdirSync(UI_SCREENSHOT_DIR, { recursive: true });
  const file = path.join(UI_SCREENSHOT_DIR, `${step}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** `<step>.txt` beside the screenshots, for evidence that is not a page (a CLI's output). */
export function saveText(step: string, text: string): string {
  mkdirSync(UI_SCREENSHOT_DIR, { recursive: true });
  const file = path.join(UI_SCREENSHOT_DIR, `${step}.txt`);
  writeFileSync(file, text);
  return file;
}
