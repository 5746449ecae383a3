import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { createDatabase } from '../../db/create-database';
import { createProgram } from '../cli/main';
import { readEnv } from '../config/env';
import { loadDotenv, projectRoot } from '../config/load-dotenv';
import pino from 'pino';
import { tokensIn } from '../config/service-api-tokens';
import { stackUp } from '../dev/stack';
import { startConfigService } from '../service/start-config-service';
import { startDemoTraffic } from './demo-traffic';
import { runFaultyRollout } from './faulty-rollout';
import { seedDemoData } from './seed-demo-data';

/** The fault switch's rate in the second rollout: a fifth of the unified path's requests fail. */
const FAULT_RATE = 0.2;

function say(line: string): void {
  process.stdout.write(`\n== ${line}\n`);
}

/**
 * `npm run demo`: brings the stack up, seeds legacy-shaped demo data, starts a worker and the config service
 * under load, runs a rollout of `demo-plan.yaml` through the `rollout` CLI with progress (it must complete),
 * then a second, flag-only rollout of `demo-faulty-plan.yaml` during which the service's fault switch goes on
 * at 50 %: its compare gate must roll it back (see faulty-rollout.ts). Exits 0 only when both did what they
 * should. The stack keeps running afterwards so the workflows can be inspected; `npm run stack:down` stops it.
 */
async function main(): Promise<void> {
  loadDotenv();
  const env = readEnv();
  say('bringing up the stack (Postgres databases and migrations, Temporal dev server, Unleash)');
  await stackUp(env, { log: (line) => process.stdout.write(`   ${line}\n`) });

  say('seeding demo data (camelCase keys, duplicates, templates)');
  const db = createDatabase(env.DATABASE_URL, { applicationName: 'rollout-demo', maxConnections: 1 });
  try {
    const seeded = await seedDemoData(db);
    process.stdout.write(
      `   ${seeded.seeded ? 'seeded' : 'already seeded:'} ${seeded.configRows} runtime_config rows, ${seeded.templates} templates\n`,
    );
  } finally {
    await db.destroy();
  }

  say(`starting a worker on task queue ${env.ROLLOUT_TASK_QUEUE}`);
  const logDir = path.join(projectRoot, '.state', 'logs');
  mkdirSync(logDir, { recursive: true });
  const workerLog = path.join(logDir, 'demo-worker.log');
  const worker = spawn(
    path.join(projectRoot, 'node_modules', '.bin', 'tsx'),
    [path.join(projectRoot, 'src', 'worker', 'main.ts')],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    },
  );
  const log = createWriteStream(workerLog, { flags: 'a' });
  worker.stdout.pipe(log);
  worker.stderr.pipe(log);
  process.stdout.write(`   worker pid ${worker.pid}, log ${path.relative(process.cwd(), workerLog)}\n`);
  const workerExit = once(worker, 'exit');

  say(
    `starting the config service at ${env.CONFIG_SERVICE_ADDRESS} and a load of 100 reads/s over 5,000 users`,
  );
  const serviceLog = path.join(logDir, 'demo-service.log');
  // The service runs in this process so the demo has one thing to stop; its logs go to a file, warnings only.
  const service = await startConfigService(env, {
    logger: pino({ name: 'config-service', level: 'warn' }, pino.destination(serviceLog)),
  });
  const token = tokensIn(process.env.SERVICE_API_TOKENS ?? '')[0];
  if (token === undefined) throw new Error('SERVICE_API_TOKENS names no token for the demo load');
  const traffic = startDemoTraffic({
    baseUrl: service.url,
    token,
    ratePerSecond: 100,
    users: 5_000,
    keys: ['max_tokens', 'top_p', 'default_model'],
  });
  process.stdout.write(
    `   service ${service.url} (gates read ${service.url}/metrics), log ${path.relative(process.cwd(), serviceLog)}\n`,
  );
  // The second rollout reads its audit log (the decisive measurement, the rollback's times) from here.
  const auditDb = createDatabase(env.DATABASE_URL, { applicationName: 'rollout-demo', maxConnections: 1 });

  try {
    say('rollout start src/demo/demo-plan.yaml --watch');
    const program = createProgram();
    await program.parseAsync(['node', 'rollout', 'start', path.join(__dirname, 'demo-plan.yaml'), '--watch']);
    if (process.exitCode) throw new Error(`the demo rollout did not complete (worker log: ${workerLog})`);

    say(
      `rollout start src/demo/demo-faulty-plan.yaml --watch: the same flag again, flag only; at 50 % the fault ` +
        `switch fails ${FAULT_RATE * 100} % of unified-path requests and the compare gate must roll it back`,
    );
    const faulty = await runFaultyRollout({
      env,
      db: auditDb,
      planFile: path.join(__dirname, 'demo-faulty-plan.yaml'),
      traffic,
      faultRate: FAULT_RATE,
      // The in-process service's own switch, the one POST /admin/fault (admin scope) sets.
      setFault: async (rate) => service.service.faults.setRate(rate),
      write: (text) => process.stdout.write(text),
    });
    if (faulty.problems.length > 0) {
      throw new Error(
        `the faulty rollout ${faulty.rolloutId} did not roll back as expected (outcome ${faulty.outcome}):\n  ` +
          `${faulty.problems.join('\n  ')}\n(worker log: ${workerLog})`,
      );
    }
    process.stdout.write(
      `   as expected: ${faulty.rolloutId} ended rolled_back by its gate, the flag at 0 % and every client on legacy\n`,
    );
  } finally {
    await traffic.stop();
    const sent = traffic.totals();
    process.stdout.write(
      `   load: ${sent.requests} reads answered, ${sent.errors} with a 5xx, ${sent.refused} refused, ${sent.unreachable} not answered\n`,
    );
    await service.shutdown();
    await auditDb.destroy();
    worker.kill('SIGTERM');
    await workerExit;
    log.end();
  }
  say(
    'done. The flag is at 0 % again (the second rollout rolled it back); the stack keeps running: open the ' +
      'links above in the Temporal UI; stop it with npm run stack:down',
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
