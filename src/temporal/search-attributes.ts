import { defineSearchAttributeKey } from '@temporalio/common';

/**
 * Search attributes that make rollouts findable in the Temporal UI's list (SPEC §5).
 * Registered by the stack manager (`--search-attribute` on the dev server) and by docker-compose's one-shot.
 */
export const ROLLOUT_FLAG = defineSearchAttributeKey('RolloutFlag', 'KEYWORD');
export const ROLLOUT_PHASE = defineSearchAttributeKey('RolloutPhase', 'KEYWORD');
export const ROLLOUT_PERCENT = defineSearchAttributeKey('RolloutPercent', 'INT');
/** `running` until the rollout ends, then `completed`, `rolled_back`, `failed`, `cancelled` or `rollback_failed`. */
export const ROLLOUT_OUTCOME = defineSearchAttributeKey('RolloutOutcome', 'KEYWORD');
/** True while the rollout holds for an operator (paused by a person, a gate, the drift guard). */
export const ROLLOUT_PAUSED = defineSearchAttributeKey('RolloutPaused', 'BOOL');

export const rolloutSearchAttributes = [
  ROLLOUT_FLAG,
  ROLLOUT_PHASE,
  ROLLOUT_PERCENT,
  ROLLOUT_OUTCOME,
  ROLLOUT_PAUSED,
] as const;

const cliTypeName = { KEYWORD: 'Keyword', INT: 'Int', BOOL: 'Bool' } as const;

/** The `Name=Type` form the Temporal CLI's `--search-attribute` flag takes. */
export function searchAttributeFlags(): string[] {
  return rolloutSearchAttributes.map(
    (key) => `${key.name}=${cliTypeName[key.type as keyof typeof cliTypeName]}`,
  );
}
