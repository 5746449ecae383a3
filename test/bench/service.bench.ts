import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { readEnv } from '../../src/config/env';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process';
import { bearer } from '../helpers/service-tokens';
import { archiveFlag, setFlagPercent, uniqueFlagName } from '../helpers/service-unleash';
import { createTestDatabase } from '../helpers/test-database';
import { evaluateOncePropagated } from '../helpers/unleash-evaluation';

const KEYS = 50;
const USERS = 1_000;
/** Concurrent connections; `BENCH_CONNECTIONS` overrides (latency grows with it once the server is busy). */
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const WARM_UP_S = 3;
const DURATION_S = 10;
/** The baseline: the same server's `/healthz` (framework, socket and JSON cost, no flag, no config read). */
const BASELINE_DURATION_S = 5;

function log(line: string): void {
  process.stderr.write(`[service bench] ${line}\n`);
}

const round2 = (value: number): number => Number(value.toFixed(2));

/**
 * HTTP load on `GET /api/config/:key` with a different `x-user-id` on each request (so the flag decides per
 * request, as in production), against the real entry point in a child process (its own core; autocannon
 * runs here), its own database and a flag at 50 % in the real Unleash: about half the requests take each
 * path. The cache is warmed by a first autocannon run before the measured one. Baseline in the same run:
 * `/healthz` on the same server.
 */
export default async function serviceBench(): Promise<Record<string, number | string>> {
  const env = readEnv();
  const t = await createTestDatabase('bench_service');
  const flag = uniqueFlagName('bench');
  const backupDir = mkdtempSync(path.join(os.tmpdir(), 'service-bench-'));
  let child: ServiceProcess | undefined;
  try {
    await sql`
      insert into runtime_config (key, value, value_type)
      select 'bench.setting_' || g, (g * 10)::text, 'number' from generate_series(0, ${KEYS - 1}) g
    `.execute(t.db);
    await setFlagPercent(env, flag, 50);
    await evaluateOncePropagated(env, flag, ['probe'], 50);
    child = await startServiceProcess(
      {
        DATABASE_URL: t.url,
        UNIFIED_CONFIG_FLAG: flag,
        UNLEASH_BACKUP_DIR: backupDir,
        ENABLE_UNIFIED_CONFIG: '',
        SERVICE_FAULT_RATE: '0',
        LOG_LEVEL: 'warn',
      },
      {
        waitUntilReady: true,
        // BENCH_PROFILE=<dir> writes a V8 CPU profile of the service there when it exits.
        nodeArgs: process.env.BENCH_PROFILE
          ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
          : [],
      },
    );
    const url = child.url;
    let sequence = 0;
    const requests: autocannon.Request[] = [
      {
        method: 'GET',
        setupRequest: (request) => {
          sequence += 1;
          return {
            ...request,
            path: `/api/config/bench.setting_${sequence % KEYS}`,
            // The test tokens are the child's SERVICE_API_TOKENS; the all-scopes one may act for users.
            headers: {
              ...request.headers,
              ...bearer(),
              'x-user-id': `bench-user-${(sequence * 7919) % USERS}`,
            },
          };
        },
      },
    ];
    const run = (duration: number, pathOverride?: string) =>
      autocannon({
        url: pathOverride ? `${url}${pathOverride}` : url,
        connections: CONNECTIONS,
        duration,
        ...(pathOverride ? {} : { requests }),
      });

    log(`warming up for ${WARM_UP_S} s (${USERS} users x ${KEYS} keys into the cache)`);
    await run(WARM_UP_S);
    log(`measuring GET /api/config/:key for ${DURATION_S} s with ${CONNECTIONS} connections`);
    const result = await run(DURATION_S);
    log(`measuring the /healthz baseline for ${BASELINE_DURATION_S} s`);
    const baseline = await run(BASELINE_DURATION_S, '/healthz');

    const metrics = await (await fetch(`${url}/metrics`)).text();
    const evaluations = (result_: string): number =>
      [
        ...metrics.matchAll(
          new RegExp(`config_flag_evaluations_total\\{result="${result_}",source="unleash"\\} (\\d+)`, 'g'),
        ),
      ]
        .map((match) => Number(match[1]))
        .reduce((a, b) => a + b, 0);
    const unified = evaluations('unified');
    const legacy = evaluations('legacy');

    return {
      req_per_s: Math.round(result.requests.average),
      p99_ms: result.latency.p99,
      p50_ms: result.latency.p50,
      errors: result.errors + result.timeouts + result.non2xx,
      requests: result.requests.total,
      connections: CONNECTIONS,
      duration_s: DURATION_S,
      unified_share: round2(unified / Math.max(1, unified + legacy)),
      healthz_req_per_s: Math.round(baseline.requests.average),
      healthz_p99_ms: baseline.latency.p99,
      ratio_to_healthz: round2(result.requests.average / Math.max(1, baseline.requests.average)),
      target: '>= 5000 req/s, p99 <= 20 ms',
    };
  } finally {
    if (child) log(`service exited with ${String(await child.stop())}`);
    await t.drop();
    await archiveFlag(env, flag);
    rmSync(backupDir, { recursive: true, force: true });
  }
}
