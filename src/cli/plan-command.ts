import type { Command } from 'commander';
import { createDatabase } from '../../db/create-database';
import { loadPlanFile } from '../plan/load-plan-file';
import { formatPreview } from '../preview/format-preview';
import { previewRollout } from '../preview/rollout-preview';
import { UnleashAdminClient } from '../unleash/unleash-admin-client';
import { readCliEnv, writer } from './cli-context';
import { isUnreachable, ServiceUnreachableError } from './exit-codes';

/**
 * `rollout plan <plan>`: the dry run of SPEC §5 phase 1. Validates the plan (a {@link PlanError} rejects
 * before anything is opened), then previews every phase in a read-only transaction and reads Unleash.
 * Exits 1 when a problem would make `rollout start` fail, 3 when Postgres or Unleash does not answer. Needs
 * Postgres and Unleash, not Temporal.
 */
export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .description(
      'validate a plan file and preview what its rollout would change (a dry run: changes nothing)',
    )
    .argument('<plan>', 'path to the plan file (YAML or JSON)')
    .option('--json', 'print the preview as one JSON object')
    .action(async (planFile: string, options: { json?: boolean }, command: Command) => {
      const out = writer(command);
      const plan = await loadPlanFile(planFile);
      const env = readCliEnv();
      const db = createDatabase(env.DATABASE_URL, { applicationName: 'rollout-plan', maxConnections: 1 });
      const unleash = new UnleashAdminClient({
        url: env.UNLEASH_URL,
        adminToken: env.UNLEASH_ADMIN_TOKEN,
        timeoutMs: 10_000,
      });
      try {
        // The preview reports an Unleash it cannot read as a blocking problem (exit 1); a down Unleash is not
        // a problem of the plan, so it is found first and exits 3 like any other unreachable service.
        await unleash.projectEnvironments(plan.unleash.project).catch((error: unknown) => {
          if (isUnreachable(error)) throw new ServiceUnreachableError('Unleash', env.UNLEASH_URL, error);
        });
        const preview = await previewRollout({ db, unleash }, plan, planFile);
        out(options.json ? `${JSON.stringify(preview)}\n` : formatPreview(preview));
        if (preview.blocking.length > 0) process.exitCode = 1;
      } finally {
        await db.destroy();
      }
    });
}
