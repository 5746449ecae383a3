/** Which implementation serves a request: the new unified configuration, or the legacy one. */
export type ConfigPath = 'unified' | 'legacy';

/**
 * What decided: `unleash` = the flag's state from Unleash (received live or loaded from the backup file);
 * `kill_switch` = the operator's `ENABLE_UNIFIED_CONFIG` override (`off` or `on`); `default` = no Unleash state
 * is known (never reached, no backup) or it does not define the flag, so the safe default applies.
 */
export type FlagSource = 'unleash' | 'kill_switch' | 'default';

/** `ENABLE_UNIFIED_CONFIG`: `off` forces legacy for everyone (the kill switch), `on` forces unified. */
export type UnifiedConfigOverride = 'on' | 'off';

export interface FlagDecision {
  readonly path: ConfigPath;
  readonly source: FlagSource;
}

/**
 * The path served when nothing is known about the flag. Legacy, because the unified path is the change being
 * rolled out: a process that cannot tell who is in the cohort must not widen it. An operator who wants the
 * opposite says so explicitly with `ENABLE_UNIFIED_CONFIG=on`.
 */
export const NO_STATE_PATH: ConfigPath = 'legacy';

/** The six possible decisions, shared and frozen: deciding allocates nothing on the request path. */
export const DECISIONS = {
  unified: {
    unleash: Object.freeze({ path: 'unified', source: 'unleash' }),
    kill_switch: Object.freeze({ path: 'unified', source: 'kill_switch' }),
    default: Object.freeze({ path: 'unified', source: 'default' }),
  },
  legacy: {
    unleash: Object.freeze({ path: 'legacy', source: 'unleash' }),
    kill_switch: Object.freeze({ path: 'legacy', source: 'kill_switch' }),
    default: Object.freeze({ path: 'legacy', source: 'default' }),
  },
} as const satisfies Record<ConfigPath, Record<FlagSource, FlagDecision>>;
