import { sameJson } from '../json/json-values';

/**
 * Our rollout strategy as Unleash reported it right after the rollout wrote it: the baseline a later read is
 * compared with. Small and JSON-only (it travels through workflow history); it holds no token.
 */
export interface RolloutStrategySnapshot {
  /** The flag is on in this environment (a switched-off environment serves no one the flag). */
  environmentEnabled: boolean;
  strategyId: string;
  /** The strategy type, `flexibleRollout`. */
  strategyName: string;
  disabled: boolean;
  /** The `rollout` parameter exactly as Unleash stores it (a string of digits). */
  rollout: string;
  groupId: string;
  stickiness: string;
  constraints: unknown[];
  variants: unknown[];
  /** Segment ids; a segment narrows the cohort like a constraint does. */
  segments: number[];
  /** Active strategies of the flag in this environment other than ours; any of them widens the cohort. */
  otherStrategies: ForeignStrategy[];
}

export interface ForeignStrategy {
  id: string;
  name: string;
  title: string | null;
}

/** What a later read found: the flag's state, or why our strategy could not be found at all. */
export type StrategyLookup =
  { found: true; snapshot: RolloutStrategySnapshot } | { found: false; missing: 'flag' | 'strategy' };

/** What differs between the baseline and the current state; each field appears at most once. */
export type DriftField =
  | 'flag'
  | 'strategy'
  | 'environment'
  | 'disabled'
  | 'type'
  | 'rollout'
  | 'groupId'
  | 'stickiness'
  | 'constraints'
  | 'variants'
  | 'segments'
  | 'otherStrategies';

/**
 * One difference, as short texts fit for a pause reason and the audit log: at most {@link MAX_TEXT}
 * characters each. Constraint values and variant payloads are summarized, never copied whole.
 */
export interface StrategyDifference {
  field: DriftField;
  expected: string;
  actual: string;
}

const MAX_TEXT = 160;
const SHOWN_VALUES = 3;
const SHOWN_ITEMS = 5;

function cut(text: string): string {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function shortJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

/** The first few items described, and how many there are; a hand edit may have written thousands. */
function listText(items: readonly unknown[], describe: (item: unknown) => string): string {
  if (items.length === 0) return 'none';
  const shown = items.slice(0, SHOWN_ITEMS).map(describe).join('; ');
  return items.length > SHOWN_ITEMS ? `${shown}; … ${items.length} in all` : shown;
}

/** `userId IN ["a","b","c", … 10 values]`; `NOT` for an inverted one, `(case-insensitive)` when set. */
function constraintText(constraint: unknown): string {
  const c = record(constraint);
  const values = Array.isArray(c.values) ? c.values : [];
  const shownValues = values.slice(0, SHOWN_VALUES).map(shortJson);
  if (values.length > SHOWN_VALUES) shownValues.push(`… ${values.length} values`);
  const operand =
    c.value !== undefined && c.value !== null && c.value !== ''
      ? shortJson(c.value)
      : `[${shownValues.join(',')}]`;
  return [
    String(c.contextName ?? '?'),
    c.inverted === true ? 'NOT' : '',
    String(c.operator ?? '?'),
    operand,
    c.caseInsensitive === true ? '(case-insensitive)' : '',
  ]
    .filter(Boolean)
    .join(' ');
}

/** `blue weight 500 (fix)`; a payload is named by type only (it may carry anything). */
function variantText(variant: unknown): string {
  const v = record(variant);
  const payload = record(v.payload);
  return [
    String(v.name ?? '?'),
    `weight ${String(v.weight ?? '?')}`,
    v.weightType ? `(${String(v.weightType)})` : '',
    v.stickiness ? `stickiness ${String(v.stickiness)}` : '',
    payload.type ? `payload ${String(payload.type)}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

function strategyText(strategy: ForeignStrategy): string {
  return strategy.title ? `${strategy.name} "${strategy.title}"` : `${strategy.name} ${strategy.id}`;
}

/**
 * A list difference: the summaries when they differ; when only something the summary leaves out changed (a
 * fourth constraint value, a payload), the summary is marked so the two texts never read the same.
 */
function listDifference(
  field: DriftField,
  expected: unknown[],
  actual: unknown[],
  describe: (item: unknown) => string,
): StrategyDifference | undefined {
  if (sameJson(expected, actual)) return undefined;
  const expectedText = cut(listText(expected, describe));
  let actualText = cut(listText(actual, describe));
  if (actualText === expectedText) actualText = cut(`${actualText} (changed in a detail not shown)`);
  return { field, expected: expectedText, actual: actualText };
}

/**
 * Every way the current state of our strategy differs from the baseline the rollout wrote: the rollout percent,
 * groupId, stickiness, constraints, variants and segments of the strategy, whether it or the environment was
 * switched off, and other active strategies added beside it. Empty when nothing was edited by hand. Pure.
 *
 * @example
 * strategyDrift(baseline, { found: true, snapshot: { ...baseline, rollout: '70' } });
 * // [{ field: 'rollout', expected: '50', actual: '70' }]
 */
export function strategyDrift(
  baseline: RolloutStrategySnapshot,
  current: StrategyLookup,
): StrategyDifference[] {
  if (!current.found) {
    return current.missing === 'flag'
      ? [{ field: 'flag', expected: 'exists', actual: 'missing (deleted or archived)' }]
      : [{ field: 'strategy', expected: cut(`strategy ${baseline.strategyId}`), actual: 'missing' }];
  }
  const now = current.snapshot;
  const differences: StrategyDifference[] = [];
  const scalar = (field: DriftField, expected: string, actual: string): void => {
    if (expected !== actual) differences.push({ field, expected: cut(expected), actual: cut(actual) });
  };
  const onOff = (enabled: boolean): string => (enabled ? 'enabled' : 'disabled');
  if (now.strategyId !== baseline.strategyId) {
    // Found under our title but with another id: deleted and re-created by hand.
    scalar('strategy', `strategy ${baseline.strategyId}`, `strategy ${now.strategyId}`);
  }
  scalar('environment', onOff(baseline.environmentEnabled), onOff(now.environmentEnabled));
  scalar('disabled', onOff(!baseline.disabled), onOff(!now.disabled));
  scalar('type', baseline.strategyName, now.strategyName);
  scalar('rollout', baseline.rollout, now.rollout);
  scalar('groupId', baseline.groupId, now.groupId);
  scalar('stickiness', baseline.stickiness, now.stickiness);
  const lists = [
    listDifference('constraints', baseline.constraints, now.constraints, constraintText),
    listDifference('variants', baseline.variants, now.variants, variantText),
    listDifference('segments', baseline.segments, now.segments, (id) => `segment ${String(id)}`),
    listDifference(
      'otherStrategies',
      baseline.otherStrategies.map((s) => s.id).sort(),
      now.otherStrategies.map((s) => s.id).sort(),
      (id) => {
        const strategy = [...baseline.otherStrategies, ...now.otherStrategies].find((s) => s.id === id);
        return strategy ? strategyText(strategy) : String(id);
      },
    ),
  ];
  for (const difference of lists) if (difference) differences.push(difference);
  return differences;
}

/**
 * One line for a pause reason: `rollout 50 → 70; constraints none → userId IN ["a"]`.
 *
 * @example
 * describeDrift([{ field: 'rollout', expected: '50', actual: '70' }]); // 'rollout 50 → 70'
 */
export function describeDrift(differences: readonly StrategyDifference[]): string {
  return differences.map((d) => `${d.field} ${d.expected} → ${d.actual}`).join('; ');
}
