import { readdirSync } from 'node:fs';
import path from 'node:path';
import { loadDotenv } from '../../src/config/load-dotenv';

/**
 * `npm run bench -- NAME` runs `test/bench/NAME.bench.ts` and prints its figures as one JSON line on stdout.
 * A bench module default-exports `async () => Record<string, number | string>`; it measures its own baseline
 * in the same run, and owns (creates and drops) whatever data it needs. Progress goes to stderr.
 */
async function main(name: string | undefined): Promise<void> {
  const available = readdirSync(__dirname)
    .filter((file) => file.endsWith('.bench.ts'))
    .map((file) => file.replace(/\.bench\.ts$/, ''))
    .sort();
  if (!name || !available.includes(name)) {
    throw new Error(`usage: npm run bench -- NAME   (NAME: ${available.join(', ') || 'none yet'})`);
  }
  loadDotenv();
  const bench = (await import(path.join(__dirname, `${name}.bench.ts`))) as {
    default: () => Promise<Record<string, number | string>>;
  };
  const figures = await bench.default();
  process.stdout.write(`${JSON.stringify({ bench: name, ...figures })}\n`);
}

main(process.argv[2]).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
