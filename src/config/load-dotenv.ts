import { existsSync } from 'node:fs';
import path from 'node:path';

/** The repository root, found from this file so entry points work from any working directory. */
export const projectRoot = path.resolve(__dirname, '..', '..');

/**
 * Loads `.env` if present, else the development defaults in `.env.example`.
 * Variables already set in the process environment always win, so production and CI can override any of them.
 */
export function loadDotenv(root: string = projectRoot): string | undefined {
  for (const name of ['.env', '.env.example']) {
    const file = path.join(root, name);
    if (existsSync(file)) {
      process.loadEnvFile(file);
      return file;
    }
  }
  return undefined;
}
