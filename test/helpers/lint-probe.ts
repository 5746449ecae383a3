import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/config/load-dotenv';

/** A snippet linted as if it were the file at `filePath`; the file itself need not exist. */
export interface LintProbe {
  code: string;
  filePath: string;
}

// ESLint loads its flat config with a dynamic import, which jest's module sandbox refuses, so probes are
// linted by the ESLint API in one child Node process.
const LINT_SCRIPT = `
const { ESLint } = await import('eslint');
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { probes, cwd, configFile, skipRules } = JSON.parse(Buffer.concat(chunks).toString());
const ruleFilter = ({ ruleId }) => !skipRules.includes(ruleId);
const eslint = new ESLint({ cwd, overrideConfigFile: configFile, ruleFilter });
const out = [];
for (const { code, filePath } of probes) {
  const [result] = await eslint.lintText(code, { filePath });
  out.push(result.messages.map((m) => m.ruleId ?? 'fatal: ' + m.message));
}
process.stdout.write(JSON.stringify(out));
`;

export interface LintProbeOptions {
  /** Lets probes live in a scratch tree, for rules that follow imports into files on disk. */
  cwd?: string;
  /** Rules left out, e.g. `import-x/no-cycle`, which walks the whole real import graph from a probe. */
  skipRules?: string[];
}

/** Lints each probe with the project's `eslint.config.mjs` and returns the rule ids reported for it. */
export function lintProbes(
  probes: LintProbe[],
  { cwd = projectRoot, skipRules = [] }: LintProbeOptions = {},
): string[][] {
  const configFile = path.join(projectRoot, 'eslint.config.mjs');
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', LINT_SCRIPT], {
    cwd: projectRoot,
    input: JSON.stringify({ probes, cwd, configFile, skipRules }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (run.status !== 0) throw new Error(`eslint probe failed: ${run.stderr || String(run.error)}`);
  return JSON.parse(run.stdout) as string[][];
}
