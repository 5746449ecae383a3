import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/config/load-dotenv';

/** A snippet linted as if it were the file at `filePath`; the file itself need not exist. */
export interface LintProbe {
  code: string;
  filePath: string;
}

/** Probes linted with one setting of the project's ESLint config. */
export interface LintProbeGroup {
  probes: LintProbe[];
  /** Lets probes live in a scratch tree, for rules that follow imports into files on disk. */
  cwd?: string;
  /** Rules left out, e.g. `import-x/no-cycle`, which walks the whole real import graph from a probe. */
  skipRules?: string[];
}

// ESLint loads its flat config with a dynamic import, which jest's module sandbox refuses, so probes are
// linted by the ESLint API in one child Node process (one per call: starting ESLint is the slow part).
const LINT_SCRIPT = `
const { ESLint } = await import('eslint');
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { groups, configFile } = JSON.parse(Buffer.concat(chunks).toString());
const out = [];
for (const { probes, cwd, skipRules } of groups) {
  const ruleFilter = ({ ruleId }) => !skipRules.includes(ruleId);
  const eslint = new ESLint({ cwd, overrideConfigFile: configFile, ruleFilter });
  const results = [];
  for (const { code, filePath } of probes) {
    const [result] = await eslint.lintText(code, { filePath });
    results.push(result.messages.map((m) => m.ruleId ?? 'fatal: ' + m.message));
  }
  out.push(results);
}
process.stdout.write(JSON.stringify(out));
`;

/**
 * Lints each group's probes with the project's `eslint.config.mjs` and returns, per group and probe, the
 * rule ids reported.
 */
export function lintProbeGroups(groups: LintProbeGroup[]): string[][][] {
  const input = {
    groups: groups.map(({ probes, cwd = projectRoot, skipRules = [] }) => ({ probes, cwd, skipRules })),
    configFile: path.join(projectRoot, 'eslint.config.mjs'),
  };
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', LINT_SCRIPT], {
    cwd: projectRoot,
    input: JSON.stringify(input),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (run.status !== 0) throw new Error(`eslint probe failed: ${run.stderr || String(run.error)}`);
  return JSON.parse(run.stdout) as string[][][];
}

/** {@link lintProbeGroups} for a single group. */
export function lintProbes(probes: LintProbe[], options: Omit<LintProbeGroup, 'probes'> = {}): string[][] {
  return lintProbeGroups([{ ...options, probes }])[0]!;
}
