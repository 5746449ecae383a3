import type { RolloutActivities } from '../activities';
import { boundedText } from './operator-request';

type ActivityName = keyof RolloutActivities;
type InputOf<N extends ActivityName> = Parameters<RolloutActivities[N]>[0];

/** The Temporal UI shows one line per activity; keep it short. */
export const MAX_ACTIVITY_SUMMARY_CHARS = 120;

const describe: { [N in ActivityName]: (input: InputOf<N>) => string } = {
  claimRollout: () => 'claim the run (one rollout per flag and environment)',
  preflight: (plan) => `preflight: Postgres, tables, Unleash flag ${plan.flag}, model fixture`,
  backupTable: (input) => `backup ${input.table}`,
  migrateKeys: () => 'migrate runtime_config keys to snake_case, dedupe, unique (key, user_id)',
  restoreTable: (input) => `restore ${input.table} from its backup`,
  migrateTemplates: () => 'migrate prompt_templates llm_preferences (invalid ones quarantined)',
  restoreTemplates: () => 'restore prompt_templates from its backup',
  seedModels: () => 'seed model_catalog',
  rollbackModelSeeding: () => 'undo the model_catalog seeding',
  writeFlagPercent: (input) => `flag ${input.target.flag} → ${input.percent}%, read back`,
  setFlagPercent: (input) =>
    `flag ${input.target.flag} → ${input.percent}%${input.percent === 0 ? ' (rollback), until Unleash confirms' : ''}`,
  checkFlagDrift: (input) => `drift check: flag ${input.target.flag} as the rollout left it?`,
  runStageGates: (input) =>
    `gates of stage ${input.stage + 1} at ${input.percent}%: ${input.gates.map((g) => g.name).join(', ')}`,
  recordEvent: (input) => `audit: ${input.kind}`,
  readCancelRequest: () => 'read who cancelled (the cancel request in the history)',
};

/**
 * The one-line summary the Temporal UI shows for an activity (its static summary): what it does to what,
 * from its input alone, so it is known when the activity is scheduled.
 *
 * @example
 * activitySummary('writeFlagPercent', [{ target: { flag: 'unified-config', … }, percent: 50 }]); // "flag unified-config → 50%, read back"
 */
export function activitySummary(name: string, args: readonly unknown[]): string {
  // Own keys only: `constructor` or `toString` must not find the object's inherited members.
  const summarize = Object.hasOwn(describe, name)
    ? (describe[name as ActivityName] as (input: unknown) => string)
    : undefined;
  let text = name;
  try {
    if (summarize) text = String(summarize(args[0]));
  } catch {
    // An input of an unexpected shape must never fail the workflow task; the name alone is still a summary.
  }
  return boundedText(text.replace(/[\r\n]+/g, ' '), MAX_ACTIVITY_SUMMARY_CHARS);
}

/**
 * Wraps an activity proxy so every call carries its summary (`executeWithOptions`), leaving the proxy's
 * options (timeouts, retries, cancellation) as they are.
 */
export function withSummaries<T extends object>(proxy: T): T {
  return new Proxy(proxy, {
    get(target, property, receiver) {
      const activity: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || typeof activity !== 'function') return activity;
      const withOptions = (activity as { executeWithOptions?: unknown }).executeWithOptions;
      if (typeof withOptions !== 'function') return activity;
      return (...args: unknown[]) =>
        (withOptions as (options: object, args: unknown[]) => Promise<unknown>).call(
          activity,
          { summary: activitySummary(property, args) },
          args,
        );
    },
  });
}
