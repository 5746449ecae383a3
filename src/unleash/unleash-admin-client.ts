import { z } from 'zod';
import { fetchJson, HttpError } from '../http/fetch-json';

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
export class UnleashAdminClient {
  private readonly timeoutMs: number;

  constructor(private readonly options: UnleashAdminClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  private call<T>(method: string, path: string, schema: z.ZodType<T>, body?: unknown): Promise<T> {
    return fetchJson(new URL(path, this.options.url), {
      what: `Unleash admin API ${method} ${path}`,
      method,
      headers: { authorization: this.options.adminToken },
      body,
      timeoutMs: this.timeoutMs,
      schema,
    });
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
   * Sets our strategy's rollout percent (creating the flag and strategy when missing), enables the
   * environment, and returns what Unleash then reports. The group id is fixed, so with `userId` stickiness a
   * user enabled at one percent stays enabled at every higher percent.
   */
  async setRolloutPercent(
    target: FlagTarget,
    percent: number,
    groupId: string = target.flag,
  ): Promise<RolloutReadback> {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
      throw new RangeError(`rollout percent must be an integer 0..100, got ${percent}`);
    }
    let current = await this.featureEnvironment(target);
    if (!current) {
      await this.createFeature(target, 'Unified configuration path, ramped by unified-config-rollout');
      current = await this.featureEnvironment(target);
      if (!current) throw new Error(`Unleash did not keep flag ${target.flag} in project ${target.project}`);
    }
    const body = {
      name: 'flexibleRollout',
      title: ROLLOUT_STRATEGY_TITLE,
      disabled: false,
      constraints: [],
      parameters: { rollout: String(percent), stickiness: 'userId', groupId },
    };
    const ours = current.strategies.find((s) => s.title === ROLLOUT_STRATEGY_TITLE);
    const strategiesPath = `${this.environmentPath(target)}/strategies`;
    if (ours) {
      await this.call('PUT', `${strategiesPath}/${encodeURIComponent(ours.id)}`, z.unknown(), body);
    } else {
      await this.call('POST', strategiesPath, z.unknown(), body);
    }
    if (!current.enabled) await this.call('POST', `${this.environmentPath(target)}/on`, z.unknown());
    return this.readRollout(target);
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
