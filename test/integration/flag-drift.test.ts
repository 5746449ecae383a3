import pino from 'pino';
import { checkFlagDrift } from '../../activities/flag/check-flag-drift-activity';
import { writeFlagPercent } from '../../activities/flag/write-flag-percent-activity';
import { readEnv, type Env } from '../../src/config/env';
import type { RolloutStrategySnapshot } from '../../src/unleash/strategy-drift';
import { UnleashAdminClient, type FlagTarget } from '../../src/unleash/unleash-admin-client';
import { archiveFlag, flagTarget, uniqueFlagName } from '../helpers/service-unleash';

/**
 * The drift guard against the real Unleash of the stack: the rollout writes its strategy, someone edits it by
 * hand through the Admin API (as the Unleash UI does), and the check names exactly what changed. Without an
 * edit it finds nothing, and the rollout's own next write is the new baseline.
 */

let env: Env;
let unleash: UnleashAdminClient;
let deps: Parameters<typeof writeFlagPercent>[0];
const flags: string[] = [];
const segments: number[] = [];

function newTarget(label: string): FlagTarget {
  const flag = uniqueFlagName(label);
  flags.push(flag);
  return flagTarget(flag);
}

/** A request as the Unleash UI would send it, with the admin token. */
async function admin(method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(new URL(path, env.UNLEASH_URL), {
    method,
    headers: { authorization: env.UNLEASH_ADMIN_TOKEN, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

const strategiesPath = (target: FlagTarget): string =>
  `/api/admin/projects/${target.project}/features/${target.flag}/environments/${target.environment}/strategies`;

/** Edits our strategy by hand: the body the rollout wrote, with `changes` over it. */
async function editByHand(
  target: FlagTarget,
  baseline: RolloutStrategySnapshot,
  changes: Record<string, unknown>,
): Promise<void> {
  await admin('PUT', `${strategiesPath(target)}/${baseline.strategyId}`, {
    name: 'flexibleRollout',
    title: 'unified-config-rollout',
    constraints: [],
    parameters: { rollout: baseline.rollout, stickiness: 'userId', groupId: target.flag },
    ...changes,
  });
}

async function drift(target: FlagTarget, baseline: RolloutStrategySnapshot) {
  return (await checkFlagDrift(deps, { target, baseline })).differences;
}

beforeAll(() => {
  env = readEnv();
  unleash = new UnleashAdminClient({ url: env.UNLEASH_URL, adminToken: env.UNLEASH_ADMIN_TOKEN });
  deps = { unleash, logger: pino({ level: 'silent' }) };
});

afterAll(async () => {
  for (const flag of flags) await archiveFlag(env, flag);
  for (const id of segments) await admin('DELETE', `/api/admin/segments/${id}`).catch(() => undefined);
});

describe('drift guard on the real Unleash', () => {
  it('returns what it wrote, and finds no difference when nobody edited the strategy', async () => {
    const target = newTarget('drift-none');
    const { readback, baseline } = await writeFlagPercent(deps, { target, percent: 10 });
    expect(readback).toMatchObject({
      percent: 10,
      enabled: true,
      stickiness: 'userId',
      groupId: target.flag,
    });
    expect(baseline).toEqual({
      environmentEnabled: true,
      strategyId: readback.strategyId,
      strategyName: 'flexibleRollout',
      disabled: false,
      rollout: '10',
      groupId: target.flag,
      stickiness: 'userId',
      constraints: [],
      variants: [],
      segments: [],
      otherStrategies: [],
    });
    expect(await drift(target, baseline)).toEqual([]);
    // The next stage: the rollout's own write moves the baseline, and is not drift.
    const next = await writeFlagPercent(deps, { target, percent: 50 });
    expect(next.baseline).toEqual({ ...baseline, rollout: '50' });
    expect(await drift(target, next.baseline)).toEqual([]);
    // Against the old baseline the same state is a difference: the comparison is with the last write.
    expect(await drift(target, baseline)).toEqual([{ field: 'rollout', expected: '10', actual: '50' }]);
  });

  it('names a hand edit of the percent and a constraint exactly', async () => {
    const target = newTarget('drift-edit');
    const { baseline } = await writeFlagPercent(deps, { target, percent: 50 });
    await editByHand(target, baseline, {
      parameters: { rollout: '70', stickiness: 'userId', groupId: target.flag },
      constraints: [{ contextName: 'userId', operator: 'IN', values: ['alice', 'bob'] }],
    });
    expect(await drift(target, baseline)).toEqual([
      { field: 'rollout', expected: '50', actual: '70' },
      { field: 'constraints', expected: 'none', actual: 'userId IN ["alice","bob"]' },
    ]);
  });

  it('names a changed groupId and stickiness, and variants added', async () => {
    const target = newTarget('drift-group');
    const { baseline } = await writeFlagPercent(deps, { target, percent: 50 });
    await editByHand(target, baseline, {
      parameters: { rollout: '50', stickiness: 'sessionId', groupId: 'reshuffled' },
      variants: [
        {
          name: 'blue',
          weight: 1000,
          weightType: 'variable',
          stickiness: 'default',
          payload: { type: 'string', value: 'payload-value-not-shown' },
        },
      ],
    });
    const differences = await drift(target, baseline);
    expect(differences).toEqual([
      { field: 'groupId', expected: target.flag, actual: 'reshuffled' },
      { field: 'stickiness', expected: 'userId', actual: 'sessionId' },
      {
        field: 'variants',
        expected: 'none',
        actual: 'blue weight 1000 (variable) stickiness default payload string',
      },
    ]);
    expect(JSON.stringify(differences)).not.toContain('payload-value-not-shown');
  });

  it('names a segment attached by hand, which the next write of the rollout removes', async () => {
    const target = newTarget('drift-segment');
    const { baseline } = await writeFlagPercent(deps, { target, percent: 50 });
    const segment = (await admin('POST', '/api/admin/segments', {
      name: `${target.flag}-segment`,
      constraints: [{ contextName: 'userId', operator: 'IN', values: ['carol'] }],
    })) as { id: number };
    segments.push(segment.id);
    await editByHand(target, baseline, { segments: [segment.id] });
    expect(await drift(target, baseline)).toEqual([
      { field: 'segments', expected: 'none', actual: `segment ${segment.id}` },
    ]);
    const rewritten = await writeFlagPercent(deps, { target, percent: 50 });
    expect(rewritten.baseline.segments).toEqual([]);
    expect(await drift(target, rewritten.baseline)).toEqual([]);
    expect(await drift(target, baseline)).toEqual([]);
  });

  it('names a strategy added beside ours, and the flag switched off in the environment', async () => {
    const target = newTarget('drift-other');
    const { baseline } = await writeFlagPercent(deps, { target, percent: 50 });
    const other = (await admin('POST', strategiesPath(target), {
      name: 'default',
      title: 'everyone',
      constraints: [],
      parameters: {},
    })) as { id: string };
    await admin(
      'POST',
      `/api/admin/projects/${target.project}/features/${target.flag}/environments/${target.environment}/off`,
    );
    expect(await drift(target, baseline)).toEqual([
      { field: 'environment', expected: 'enabled', actual: 'disabled' },
      { field: 'otherStrategies', expected: 'none', actual: 'default "everyone"' },
    ]);
    expect(other.id).toEqual(expect.any(String));
  });

  it('names a deleted strategy and an archived flag', async () => {
    const target = newTarget('drift-gone');
    const { baseline } = await writeFlagPercent(deps, { target, percent: 50 });
    await admin('DELETE', `${strategiesPath(target)}/${baseline.strategyId}`);
    expect(await drift(target, baseline)).toEqual([
      { field: 'strategy', expected: `strategy ${baseline.strategyId}`, actual: 'missing' },
    ]);
    await archiveFlag(env, target.flag);
    expect(await drift(target, baseline)).toEqual([
      { field: 'flag', expected: 'exists', actual: 'missing (deleted or archived)' },
    ]);
  });

  it('throws when Unleash does not answer, so Temporal retries the check', async () => {
    const down = new UnleashAdminClient({
      url: 'http://127.0.0.1:9',
      adminToken: env.UNLEASH_ADMIN_TOKEN,
      timeoutMs: 1_000,
    });
    const baseline = (await writeFlagPercent(deps, { target: newTarget('drift-down'), percent: 10 }))
      .baseline;
    await expect(
      checkFlagDrift({ ...deps, unleash: down }, { target: flagTarget(flags.at(-1)!), baseline }),
    ).rejects.toThrow(/Unleash admin API GET .* failed/);
  });
});
