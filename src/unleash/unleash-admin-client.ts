import { z } from 'zod';
import { fetchJson, HttpError } from '../http/fetch-json';
import type { RolloutStrategySnapshot, StrategyLookup } from './strategy-drift';

/** The title that marks the strategy this project owns, so hand-added strategies are told apart. */
export const ROLLOUT_STRATEGY_TITLE = 'unified-config-rollout';

const strategySchema = z.object({
  id: z.string(),
  name: z.string(),
  title: z.string().nullish(),
  disabled: z.boolean().nullish(),
  parameters: z.record(z.string(), z.string()).default({}),
  constraints: z.array(z.unknown()).default([]),
  segments: z.array(z.unknown()).nullish(),
});
export type UnleashStrategy = z.infer<typeof strategySchema>;

const featureEnvironmentSchema = z.object({
  name: z.string(),
  environment: z.string(),
  enabled: z.boolean(),
  strategies: z.array(strategySchema),
});
export type FeatureEnvironment = z.infer<typeof featureEnvironmentSchema>;

/** The whole flag (`GET .../features/:flag`): the only read that includes each strategy's segments. */
const featureSchema = z.object({
  environments: z
    .array(
      z.object({
        name: z.string(),
        enabled: z.boolean(),
        strategies: z.array(
          strategySchema.extend({
            variants: z.array(z.unknown()).nullish(),
            segments: z.array(z.number()).nullish(),
          }),
        ),
      }),
    )
    .default([]),
});

const projectSchema = z.object({
  environments: z.array(z.object({ environment: z.string() })).default([]),
});

export interface FlagTarget {
  project: string;
  environment: string;
  flag: string;
}

/** What Unleash reports after a change: the flag state a client will receive. */
export interface RolloutReadback {
  enabled: boolean;
  percent: number;
  strategyId: string;
  groupId: string;
  stickiness: string;
  /** Active strategies other than ours; any of them can enable users outside the rollout. */
  foreignStrategies: { id: string; name: string; title: string | null }[];
}

/** A write of the rollout strategy: Unleash's confirmation, and the baseline for the drift guard. */
export interface RolloutWrite {
  readback: RolloutReadback;
  /** Our strategy as Unleash reported it right after the write; what a later read is compared with. */
  written: RolloutStrategySnapshot;
}

export interface UnleashAdminClientOptions {
  url: string;
  adminToken: string;
  timeoutMs?: number;
}

/**
 * The part of Unleash's Admin API a rollout needs: one `flexibleRollout` strategy per flag and environment,
 * set and read back.
 *
 * @example
 * const unleash = new UnleashAdminClient({ url: env.UNLEASH_URL, adminToken: env.UNLEASH_ADMIN_TOKEN });
 * const state = await unleash.setRolloutPercent({ project: 'default', environment: 'development', flag: 'unified-config' }, 10);
 */
/**
 * fetch reports a connection that failed as "TypeError: fetch failed", its reason two causes down ("connect
 * ECONNREFUSED 127.0.0.1:4242", "getaddrinfo ENOTFOUND unleash"). The rollout shows the message in its status
 * while it retries (the flag-to-0 of a rollback), where "fetch failed" alone would not say that Unleash is down:
 * the reason is added to the message. HTTP errors (they have a status) are returned as they are.
 */
export function withNetworkReason(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof HttpError) return error;
  // Duck-typed: fetch's errors may come from another realm (a test runner's sandbox), where instanceof fails.
  const causeOf = (value: unknown): unknown =>
    typeof value === 'object' && value !== null ? (value as { cause?: unknown }).cause : undefined;
  const reason = causeOf(causeOf(error));
  const message =
    typeof reason === 'object' && reason !== null ? (reason as { message?: unknown }).message : undefined;
  if (typeof message !== 'string' || message === '' || error.message.includes(message)) return error;
  return new Error(`${error.message} (${message})`, { cause: error });
}

/** Our strategy at `percent`; the group id is fixed so a user enabled at one percent stays enabled above it. */
function rolloutStrategy(percent: number, groupId: string) {
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
    throw new RangeError(`rollout percent must be an integer 0..100, got ${percent}`);
  }
  return {
    name: 'flexibleRollout',
    title: ROLLOUT_STRATEGY_TITLE,
    disabled: false,
    constraints: [],
    parameters: { rollout: String(percent), stickiness: 'userId', groupId },
  };
}

export class UnleashAdminClient {
  private readonly timeoutMs: number;

  constructor(private readonly options: UnleashAdminClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  private async call<T>(method: string, path: string, schema: z.ZodType<T>, body?: unknown): Promise<T> {
    try {
      return await fetchJson(new URL(path, this.options.url), {
        what: `Unleash admin API ${method} ${path}`,
        method,
        headers: { authorization: this.options.adminToken },
        body,
        timeoutMs: this.timeoutMs,
        schema,
      });
    } catch (error) {
      throw withNetworkReason(error);
    }
  }

  private featurePath({ project, flag }: FlagTarget): string {
    return `/api/admin/projects/${encodeURIComponent(project)}/features/${encodeURIComponent(flag)}`;
  }

  private environmentPath(target: FlagTarget): string {
    return `${this.featurePath(target)}/environments/${encodeURIComponent(target.environment)}`;
  }

  /** The environments enabled in a project; throws naming the project when it does not exist. */
  async projectEnvironments(project: string): Promise<string[]> {
    const found = await this.call(
      'GET',
      `/api/admin/projects/${encodeURIComponent(project)}/overview`,
      projectSchema,
    );
    return found.environments.map((e) => e.environment);
  }

  /** The flag's state in one environment, or undefined when the flag does not exist. */
  async featureEnvironment(target: FlagTarget): Promise<FeatureEnvironment | undefined> {
    try {
      return await this.call('GET', this.environmentPath(target), featureEnvironmentSchema);
    } catch (error) {
      if (error instanceof HttpError && error.status === 404 && /no feature named/i.test(error.message))
        return undefined;
      throw error;
    }
  }

  async createFeature(target: FlagTarget, description: string): Promise<void> {
    await this.call(
      'POST',
      `/api/admin/projects/${encodeURIComponent(target.project)}/features`,
      z.unknown(),
      {
        name: target.flag,
        type: 'release',
        description,
      },
    );
  }

  /**
   * Writes our strategy (`body`), creating the flag when missing and the strategy when the flag has none of
   * ours, then switches the environment on.
   */
  private async putOurStrategy(target: FlagTarget, body: Record<string, unknown>): Promise<void> {
    let current = await this.featureEnvironment(target);
    if (!current) {
      await this.createFeature(target, 'Unified configuration path, ramped by unified-config-rollout');
      current = await this.featureEnvironment(target);
      if (!current) throw new Error(`Unleash did not keep flag ${target.flag} in project ${target.project}`);
    }
    const ours = current.strategies.find((s) => s.title === ROLLOUT_STRATEGY_TITLE);
    const strategiesPath = `${this.environmentPath(target)}/strategies`;
    if (ours) {
      await this.call('PUT', `${strategiesPath}/${encodeURIComponent(ours.id)}`, z.unknown(), body);
    } else {
      await this.call('POST', strategiesPath, z.unknown(), body);
    }
    if (!current.enabled) await this.call('POST', `${this.environmentPath(target)}/on`, z.unknown());
  }

  /**
   * Sets our strategy's rollout percent (creating the flag and strategy when missing), enables the
   * environment, and returns what Unleash then reports. The group id is fixed, so with `userId` stickiness a
   * user enabled at one percent stays enabled at every higher percent.
   */
  async setRolloutPercent(
    target: FlagTarget,
    percent: number,
    groupId: string = target.flag,
  ): Promise<RolloutReadback> {
    await this.putOurStrategy(target, rolloutStrategy(percent, groupId));
    return this.readRollout(target);
  }

  /**
   * Like {@link setRolloutPercent}, but the strategy is written whole (no constraints, variants or segments:
   * a PUT that leaves `segments` out keeps any segment attached by hand), then read back in full. Returns the
   * confirmation and the snapshot the drift guard later compares with.
   */
  async writeRolloutPercent(
    target: FlagTarget,
    percent: number,
    groupId: string = target.flag,
  ): Promise<RolloutWrite> {
    await this.putOurStrategy(target, { ...rolloutStrategy(percent, groupId), variants: [], segments: [] });
    const lookup = await this.readRolloutSnapshot(target);
    if (!lookup.found) {
      throw new Error(
        `flag ${target.flag} in ${target.environment}: the ${lookup.missing} is missing right after the write`,
      );
    }
    const written = lookup.snapshot;
    const percentRead = Number(written.rollout);
    return {
      written,
      readback: {
        enabled: written.environmentEnabled && !written.disabled,
        percent: written.rollout.trim() !== '' && Number.isFinite(percentRead) ? percentRead : NaN,
        strategyId: written.strategyId,
        groupId: written.groupId,
        stickiness: written.stickiness,
        foreignStrategies: written.otherStrategies,
      },
    };
  }

  /**
   * Our strategy in full as Unleash serves it (including segments, which the environment read leaves out):
   * found by `strategyId` when given, else by our title. Not found is an answer, not an error; Unleash not
   * answering is an error.
   */
  async readRolloutSnapshot(target: FlagTarget, strategyId?: string): Promise<StrategyLookup> {
    let feature: z.infer<typeof featureSchema>;
    try {
      feature = await this.call('GET', this.featurePath(target), featureSchema);
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return { found: false, missing: 'flag' };
      throw error;
    }
    const environment = feature.environments.find((e) => e.name === target.environment);
    if (!environment) {
      throw new Error(`flag ${target.flag} has no environment ${target.environment} in Unleash`);
    }
    const ours =
      strategyId === undefined
        ? environment.strategies.find((s) => s.title === ROLLOUT_STRATEGY_TITLE)
        : (environment.strategies.find((s) => s.id === strategyId) ??
          environment.strategies.find((s) => s.title === ROLLOUT_STRATEGY_TITLE));
    if (!ours) return { found: false, missing: 'strategy' };
    return {
      found: true,
      snapshot: {
        environmentEnabled: environment.enabled,
        strategyId: ours.id,
        strategyName: ours.name,
        disabled: ours.disabled === true,
        rollout: ours.parameters.rollout ?? '',
        groupId: ours.parameters.groupId ?? '',
        stickiness: ours.parameters.stickiness ?? '',
        constraints: ours.constraints,
        variants: ours.variants ?? [],
        segments: ours.segments ?? [],
        otherStrategies: environment.strategies
          .filter((s) => s.id !== ours.id && !s.disabled)
          .map((s) => ({ id: s.id, name: s.name, title: s.title ?? null })),
      },
    };
  }

  /** Reads the flag back as clients will see it; throws when our strategy is missing. */
  async readRollout(target: FlagTarget): Promise<RolloutReadback> {
    const current = await this.featureEnvironment(target);
    if (!current) throw new Error(`flag ${target.flag} does not exist in Unleash project ${target.project}`);
    const ours = current.strategies.find((s) => s.title === ROLLOUT_STRATEGY_TITLE);
    if (!ours) {
      throw new Error(
        `flag ${target.flag} in ${target.environment} has no "${ROLLOUT_STRATEGY_TITLE}" strategy`,
      );
    }
    const percent = Number(ours.parameters.rollout);
    return {
      enabled: current.enabled && !ours.disabled,
      percent: Number.isFinite(percent) ? percent : NaN,
      strategyId: ours.id,
      groupId: ours.parameters.groupId ?? '',
      stickiness: ours.parameters.stickiness ?? '',
      foreignStrategies: current.strategies
        .filter((s) => s.id !== ours.id && !s.disabled)
        .map((s) => ({ id: s.id, name: s.name, title: s.title ?? null })),
    };
  }
}
