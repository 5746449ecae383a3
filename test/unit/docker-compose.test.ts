import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { parse } from 'yaml';
import { envNames } from '../../src/config/env';
import { searchAttributeFlags } from '../../src/temporal/search-attributes';

/**
 * Checks the production stack against the code's own configuration without a Docker engine: a renamed
 * variable, a moved port or a forgotten search attribute fails here instead of at deploy time.
 */

const root = path.resolve(__dirname, '..', '..');
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');

type EnvValue = string | number | boolean | null;

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  restart?: string;
  profiles?: string[];
  environment?: Record<string, EnvValue> | string[];
  ports?: (string | number | { target: number; published?: string | number; host_ip?: string })[];
  expose?: (string | number)[];
  volumes?: (string | { source?: string; target: string })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
}

const composeText = read('docker-compose.yml');
const services = (parse(composeText) as { services: Record<string, Service> }).services;
const devEnv = parseEnv(read('.env.example'));

const EXPECTED_SERVICES = [
  'postgres',
  'temporal-schema',
  'temporal',
  'temporal-setup',
  'temporal-ui',
  'unleash',
  'prometheus',
  'redis',
  'worker',
  'config-service',
  'grafana',
];
/** Services that do their work and exit; every other service runs until stopped. */
const ONE_SHOTS = new Set(['temporal-schema', 'temporal-setup']);
/** The services built from this repository, which read the variables in src/config/env.ts. */
const APP_SERVICES = ['worker', 'config-service'];

function service(name: string): Service {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

function environmentOf(name: string): Record<string, string> {
  const environment = service(name).environment ?? {};
  const entries = Array.isArray(environment)
    ? environment.map((item) => {
        const index = item.indexOf('=');
        return index < 0 ? [item, ''] : [item.slice(0, index), item.slice(index + 1)];
      })
    : Object.entries(environment).map(([key, value]) => [key, value === null ? '' : String(value)]);
  return Object.fromEntries(entries) as Record<string, string>;
}

function envValue(serviceName: string, variable: string): string {
  const value = environmentOf(serviceName)[variable];
  if (value === undefined) throw new Error(`${serviceName} does not set ${variable}`);
  return value;
}

/** Variables holding credentials, by the end of their name (`CONFIG_ENCRYPTION_KEY_ID` is not one). */
function isSecretName(name: string): boolean {
  return /(^|_)(PASSWORD|PWD|SECRET|KEY|KEYS|TOKEN|TOKENS|AUTH)$/.test(name);
}
/** Optional secrets: empty means "none" (no retired encryption keys yet). */
const OPTIONAL_SECRETS = new Set(['CONFIG_ENCRYPTION_PREVIOUS_KEYS']);
/** Settings whose names look like secrets but are switches. */
const NOT_SECRETS = new Set(['AUTH_ENABLE_API_TOKEN']);
const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]']);

function uncommented(text: string): string {
  return text
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join('\n');
}

const INTERPOLATION = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g;

/** The value compose uses when none of the variables is set: what a machine without a .env file gets. */
function withDefaults(value: string): string {
  return value
    .replace(INTERPOLATION, (_match, name: string, operator?: string, operand?: string) =>
      operator?.endsWith('-') ? (operand ?? '') : `<${name} unset>`,
    )
    .replaceAll('$$', '$');
}

interface PortMapping {
  /** The host address it is published on, as written (may be `${VAR:-default}`); absent = all interfaces. */
  host?: string;
  published?: number;
  target: number;
}

/**
 * `[host:]published:target` or `target`. The host may be an interpolation (which holds a colon itself) or an
 * IPv6 address in brackets; a host always holds a non-digit, which tells `8080:8080` from `host:8080`.
 */
const SHORT_PORT =
  /^(?:(?<host>\$\{[^}]*\}|\[[^\]]*\]|[^:[\]]*[^\d:[\]][^:[\]]*):)?(?:(?<published>\d+):)?(?<target>\d+)(?:\/(?:tcp|udp))?$/;

function portsOf(name: string): PortMapping[] {
  return (service(name).ports ?? []).map((port) => {
    if (typeof port === 'object') {
      return {
        ...(port.host_ip === undefined ? {} : { host: port.host_ip }),
        ...(port.published === undefined ? {} : { published: Number(port.published) }),
        target: port.target,
      };
    }
    const groups = SHORT_PORT.exec(String(port))?.groups;
    if (!groups?.target) throw new Error(`${name}: cannot read the port mapping ${String(port)}`);
    return {
      ...(groups.host === undefined ? {} : { host: groups.host }),
      ...(groups.published === undefined ? {} : { published: Number(groups.published) }),
      target: Number(groups.target),
    };
  });
}

/** The ports a service listens on inside its container: published or only exposed to the compose network. */
function containerPortsOf(name: string): number[] {
  const exposed = (service(name).expose ?? []).map((port) =>
    Number(String(port).replace(/\/(tcp|udp)$/, '')),
  );
  return [...new Set([...portsOf(name).map((port) => port.target), ...exposed])];
}

function portOf(url: string): number {
  const parsed = new URL(url);
  const port = parsed.port || { 'http:': '80', 'https:': '443', 'postgres:': '5432' }[parsed.protocol];
  return Number(port);
}

function hostPortOf(address: string): { host: string; port: number } {
  const index = address.lastIndexOf(':');
  return { host: address.slice(0, index), port: Number(address.slice(index + 1)) };
}

function dependenciesOf(name: string): Record<string, string | undefined> {
  const dependsOn = service(name).depends_on ?? {};
  if (Array.isArray(dependsOn)) return Object.fromEntries(dependsOn.map((target) => [target, undefined]));
  return Object.fromEntries(Object.entries(dependsOn).map(([target, spec]) => [target, spec?.condition]));
}

function commandText(name: string): string {
  const command = service(name).command ?? '';
  return Array.isArray(command) ? command.join('\n') : command;
}

/** `dist/src/worker/main.js` is compiled from `src/worker/main.ts` (tsconfig.build.json, outDir dist). */
function typescriptSourceOf(entry: string): string {
  const match = /^dist\/(.+)\.js$/.exec(entry);
  if (!match?.[1]) throw new Error(`${entry} is not a compiled entry point under dist/`);
  return `${match[1]}.ts`;
}

function createdDatabases(): Set<string> {
  const sql = read('db/postgres-init.sql').replace(/--.*$/gm, '');
  return new Set(
    [...sql.matchAll(/CREATE\s+DATABASE\s+"?([A-Za-z0-9_]+)"?/gi)].map((match) => match[1] ?? ''),
  );
}

interface DockerfileStage {
  from: string;
  lines: string[];
}

function dockerfileStages(): DockerfileStage[] {
  const stages: DockerfileStage[] = [];
  for (const raw of read('Dockerfile').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const from = /^FROM\s+(\S+)/i.exec(line);
    if (from?.[1]) stages.push({ from: from[1], lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return stages;
}

function dockerfileCmd(): string[] {
  const cmd = dockerfileStages()
    .at(-1)
    ?.lines.filter((line) => /^CMD\s/i.test(line))
    .at(-1);
  if (!cmd) throw new Error('the final Dockerfile stage has no CMD');
  return JSON.parse(cmd.replace(/^CMD\s+/i, '')) as string[];
}

describe('docker-compose.yml', () => {
  it('defines the production services', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(EXPECTED_SERVICES));
  });

  it('pins every image to an exact version', () => {
    // PostgreSQL numbers releases major.minor since version 10; every other image here uses major.minor.patch.
    const exact =
      /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*:v?\d+\.\d+\.\d+(?:-[\w.-]+)?$/;
    const exactPostgres = /^postgres:\d+\.\d+(?:-[\w.-]+)?$/;
    const loose = Object.entries(services)
      .filter(([, spec]) => spec.build === undefined || spec.image !== undefined)
      .map(([name, spec]) => [name, spec.image ?? '(no image and no build)'] as const)
      .filter(([, image]) => /:latest\b/.test(image) || !(exact.test(image) || exactPostgres.test(image)))
      .map(([name, image]) => `${name}: ${image}`);
    expect(loose).toEqual([]);
  });

  it('health-checks every long-running service', () => {
    const unchecked = Object.entries(services)
      .filter(([name]) => !ONE_SHOTS.has(name))
      .filter(([, spec]) => {
        const test = spec.healthcheck?.test;
        const command = Array.isArray(test) ? test : test === undefined ? [] : [test];
        return spec.healthcheck?.disable === true || command.length === 0 || command[0] === 'NONE';
      })
      .map(([name]) => name);
    expect(unchecked).toEqual([]);
  });

  it('never restarts a one-shot after it succeeded', () => {
    const restarting = [...ONE_SHOTS].filter((name) => {
      const restart = service(name).restart ?? 'no';
      return !(restart === 'no' || restart.startsWith('on-failure'));
    });
    expect(restarting).toEqual([]);
  });

  it('waits for each dependency by a condition that fits it', () => {
    const problems = Object.keys(services).flatMap((name) =>
      Object.entries(dependenciesOf(name)).flatMap(([target, condition]) => {
        const expected = ONE_SHOTS.has(target) ? 'service_completed_successfully' : 'service_healthy';
        if (!(target in services)) return [`${name} depends on unknown service ${target}`];
        return condition === expected ? [] : [`${name} -> ${target}: ${condition ?? 'no condition'}`];
      }),
    );
    expect(problems).toEqual([]);
  });

  it.each(APP_SERVICES)('gives %s exactly the variables the code reads', (name) => {
    const defined = Object.keys(environmentOf(name));
    const readByCode: readonly string[] = envNames;
    expect({
      missing: readByCode.filter((variable) => !defined.includes(variable)),
      unknown: defined.filter((variable) => !readByCode.includes(variable)),
    }).toEqual({ missing: [], unknown: [] });
  });

  it.each(APP_SERVICES)('points %s at the compose services', (name) => {
    const postgresPort = containerPortsOf('postgres')[0];
    const database = new URL(withDefaults(envValue(name, 'DATABASE_URL')));
    const unleashDatabase = new URL(withDefaults(envValue(name, 'UNLEASH_DATABASE_URL')));
    const unleash = new URL(withDefaults(envValue(name, 'UNLEASH_URL')));
    const temporal = hostPortOf(withDefaults(envValue(name, 'TEMPORAL_ADDRESS')));

    expect({ host: database.hostname, port: portOf(database.href) }).toEqual({
      host: 'postgres',
      port: postgresPort,
    });
    expect({ host: unleashDatabase.hostname, port: portOf(unleashDatabase.href) }).toEqual({
      host: 'postgres',
      port: postgresPort,
    });
    // UNLEASH_DATABASE_URL names Unleash's database, so it must be the one the unleash service really uses.
    expect(envValue(name, 'UNLEASH_DATABASE_URL')).toBe(envValue('unleash', 'DATABASE_URL'));
    expect({ host: unleash.hostname, port: portOf(unleash.href) }).toEqual({
      host: 'unleash',
      port: Number(envValue('unleash', 'HTTP_PORT')),
    });
    expect(temporal).toEqual({ host: 'temporal', port: containerPortsOf('temporal')[0] });
  });

  it.each(APP_SERVICES)('defaults %s to the development values of .env.example', (name) => {
    // Addresses differ inside the stack; these names mean the same thing on a laptop and in compose.
    // Secrets are absent on purpose: they have no defaults at all.
    const sameAsDev = ['TEMPORAL_NAMESPACE', 'TEMPORAL_UI_URL', 'ROLLOUT_TASK_QUEUE'];
    const actual = Object.fromEntries(
      sameAsDev.map((variable) => [variable, withDefaults(envValue(name, variable))]),
    );
    const expected = Object.fromEntries(sameAsDev.map((variable) => [variable, devEnv[variable]]));
    expect(actual).toEqual(expected);
  });

  it.each(APP_SERVICES)('takes the secrets of %s from required variables, never as literals', (name) => {
    for (const variable of [
      'UNLEASH_ADMIN_TOKEN',
      'UNLEASH_CLIENT_TOKEN',
      'CONFIG_ENCRYPTION_KEY',
      'SERVICE_API_TOKENS',
    ]) {
      expect(envValue(name, variable)).toMatch(new RegExp(`^\\$\\{${variable}:?\\?[^}]*\\}$`));
    }
    expect(envValue(name, 'DATABASE_URL')).toMatch(/:\$\{POSTGRES_PASSWORD:?\?[^}]*\}@/);
    expect(envValue(name, 'REDIS_URL')).toMatch(/^redis:\/\/:\$\{REDIS_PASSWORD:?\?[^}]*\}@redis:\d+$/);
  });

  it('gives no secret a default: compose refuses to start until each is set', () => {
    const problems = [...uncommented(composeText).matchAll(INTERPOLATION)].flatMap(
      ([expression, name = '', operator = '', operand = '']) => {
        if (!isSecretName(name) || operator.endsWith('?')) return [];
        // An optional secret may be absent, never a value everyone can read in this file.
        if (OPTIONAL_SECRETS.has(name) && operator.endsWith('-') && operand === '') return [];
        return [expression];
      },
    );
    expect(problems).toEqual([]);

    // Secret-like settings of every service, and passwords inside connection URLs, come from those variables.
    const literals = Object.keys(services).flatMap((name) =>
      Object.entries(environmentOf(name)).flatMap(([variable, value]) => {
        const password = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:([^@\s]*)@/i.exec(value)?.[1];
        const secretValues = [
          ...(isSecretName(variable) && !NOT_SECRETS.has(variable) ? [value] : []),
          ...(password === undefined ? [] : [password]),
        ];
        return secretValues
          .filter((secret) => secret !== '' && !/^\$\{[A-Za-z_][A-Za-z0-9_]*:?[?-][^}]*\}$/.test(secret))
          .map((secret) => `${name}.${variable}: ${secret}`);
      }),
    );
    expect(literals).toEqual([]);
  });

  it('publishes only the config service and the operator UIs, on 127.0.0.1 unless configured', () => {
    const published = Object.fromEntries(
      Object.keys(services)
        .map((name) => [name, portsOf(name).filter((port) => port.published !== undefined)] as const)
        .filter(([, ports]) => ports.length > 0),
    );
    expect(Object.keys(published).sort()).toEqual(['config-service', 'grafana', 'prometheus', 'temporal-ui']);
    expect(portsOf('grafana')).toEqual([expect.objectContaining({ published: 3000, target: 3000 })]);

    const exposedWidely = Object.entries(published).flatMap(([name, ports]) =>
      ports
        .filter((port) => port.host === undefined || !LOOPBACK.has(withDefaults(port.host)))
        .map((port) => `${name}: ${port.host ?? '(all interfaces)'}:${port.published}:${port.target}`),
    );
    expect(exposedWidely).toEqual([]);
    // A port without a published side still gets a random host port on all interfaces.
    const randomlyPublished = Object.keys(services).flatMap((name) =>
      portsOf(name)
        .filter((port) => port.published === undefined)
        .map((port) => `${name}: ${port.target}`),
    );
    expect(randomlyPublished).toEqual([]);

    // The published ports are the ones the documented URLs use, and reach the processes' own ports.
    expect(portsOf('temporal-ui')).toEqual([
      expect.objectContaining({ published: portOf(devEnv.TEMPORAL_UI_URL ?? ''), target: 8080 }),
    ]);
    const servicePort = hostPortOf(withDefaults(envValue('config-service', 'CONFIG_SERVICE_ADDRESS'))).port;
    expect(portsOf('config-service')).toEqual([
      expect.objectContaining({
        published: hostPortOf(devEnv.CONFIG_SERVICE_ADDRESS ?? '').port,
        target: servicePort,
      }),
    ]);
    expect(portsOf('prometheus')).toEqual([expect.objectContaining({ published: 9090, target: 9090 })]);
  });

  it('requires a password for Redis and connects with it', () => {
    const command = service('redis').command;
    const args = Array.isArray(command) ? command : (command ?? '').split(/\s+/);
    // The image's entrypoint drops root only when the command starts with redis-server.
    expect(args[0]).toBe('redis-server');
    expect(args).toContain('--requirepass');
    const password = args[args.indexOf('--requirepass') + 1];
    expect(password).toMatch(/^\$\{REDIS_PASSWORD:?\?[^}]*\}$/);
    // The health check's redis-cli authenticates with the same password (without it: NOAUTH, unhealthy).
    expect(envValue('redis', 'REDISCLI_AUTH')).toBe(password);
    const healthcheck = service('redis').healthcheck?.test ?? [];
    expect((Array.isArray(healthcheck) ? healthcheck : [healthcheck]).join(' ')).toMatch(/redis-cli .*ping/);
    for (const app of APP_SERVICES) {
      expect(envValue(app, 'REDIS_URL')).toBe(`redis://:${password}@redis:${containerPortsOf('redis')[0]}`);
    }
  });

  it('keeps Unleash authentication on, with the tokens the application uses', () => {
    const unleash = environmentOf('unleash');
    // `none` turns authentication off and `demo` lets anyone in with an email address.
    expect(['none', 'demo']).not.toContain(unleash.AUTH_TYPE?.toLowerCase());
    expect(['false', '0', 'no', 'off']).not.toContain(unleash.AUTH_ENABLE_API_TOKEN?.toLowerCase());
    for (const app of APP_SERVICES) {
      expect(unleash.INIT_ADMIN_API_TOKENS).toBe(envValue(app, 'UNLEASH_ADMIN_TOKEN'));
      expect(unleash.INIT_BACKEND_API_TOKENS).toBe(envValue(app, 'UNLEASH_CLIENT_TOKEN'));
    }
    expect(unleash.INIT_ADMIN_API_TOKENS).toMatch(/^\$\{UNLEASH_ADMIN_TOKEN/);
    expect(unleash.INIT_BACKEND_API_TOKENS).toMatch(/^\$\{UNLEASH_CLIENT_TOKEN/);
    // Unset, either of these makes Unleash fall back to admin / unleash4all.
    expect(unleash.UNLEASH_DEFAULT_ADMIN_USERNAME).toBeTruthy();
    expect(unleash.UNLEASH_DEFAULT_ADMIN_PASSWORD).toMatch(/^\$\{UNLEASH_ADMIN_PASSWORD:?\?[^}]*\}$/);
    // Session cookies are signed with it; Unleash's own fallback is a public constant.
    expect(unleash.UNLEASH_SECRET).toMatch(/^\$\{UNLEASH_SECRET:?\?[^}]*\}$/);
  });

  it('registers the rollout search attributes before the worker starts', () => {
    const registered = [
      ...commandText('temporal-setup').matchAll(/--name\s+(\w+)\s+(?:\\\s*)?--type\s+(\w+)/g),
    ].map((match) => `${match[1]}=${match[2]}`);
    expect(registered.sort()).toEqual(searchAttributeFlags().sort());
    expect(envValue('temporal-setup', 'TEMPORAL_NAMESPACE')).toBe(envValue('worker', 'TEMPORAL_NAMESPACE'));
    expect(dependenciesOf('worker')['temporal-setup']).toBe('service_completed_successfully');
  });

  it('creates every database the stack connects to', () => {
    const urls = [
      ...APP_SERVICES.flatMap((name) => [
        envValue(name, 'DATABASE_URL'),
        envValue(name, 'UNLEASH_DATABASE_URL'),
      ]),
      envValue('unleash', 'DATABASE_URL'),
    ];
    const needed = [
      ...urls.map((url) => new URL(withDefaults(url)).pathname.slice(1)),
      envValue('temporal', 'DBNAME'),
      envValue('temporal', 'VISIBILITY_DBNAME'),
    ];
    const created = createdDatabases();
    expect(needed.filter((database) => !created.has(database))).toEqual([]);
    expect(service('postgres').volumes).toContainEqual(
      expect.stringMatching(/^\.\/db\/postgres-init\.sql:\/docker-entrypoint-initdb\.d\/[^:]+\.sql(:ro)?$/),
    );
  });

  it('escapes shell dollars and gives every variable a default or an error message', () => {
    const text = uncommented(composeText).replaceAll('$$', '');
    // Any other `$` is substituted by compose from the host environment, usually with nothing.
    const bare = [...text.matchAll(/\$(?!\{)\S*/g)].map((match) => match[0]);
    expect(bare).toEqual([]);
    const undefaulted = [...text.matchAll(/\$\{[^}]*\}/g)]
      .map((match) => match[0])
      .filter((expression) => !/^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?])[^}]*\}$/.test(expression));
    expect(undefaulted).toEqual([]);

    const defaults = new Map<string, Set<string>>();
    for (const [, name = '', operator, operand = ''] of text.matchAll(INTERPOLATION)) {
      if (!operator?.endsWith('-')) continue;
      defaults.set(name, (defaults.get(name) ?? new Set()).add(operand));
    }
    const inconsistent = [...defaults].filter(([, values]) => values.size > 1).map(([name]) => name);
    expect(inconsistent).toEqual([]);
  });

  it('has Prometheus scrape the worker and the config service at their container ports', () => {
    const config = parse(read('prometheus.yml')) as {
      scrape_configs: { job_name: string; static_configs?: { targets: string[] }[] }[];
    };
    const targets = config.scrape_configs.flatMap(
      (job) => job.static_configs?.flatMap((c) => c.targets) ?? [],
    );
    for (const name of APP_SERVICES) {
      const port = containerPortsOf(name)[0];
      expect(targets).toContain(`${name}:${port}`);
    }
    expect(service('prometheus').volumes).toContain('./prometheus.yml:/etc/prometheus/prometheus.yml:ro');
  });

  it.each(APP_SERVICES)('builds %s from the Dockerfile', (name) => {
    const build = service(name).build;
    const spec = typeof build === 'string' ? { context: build } : (build ?? {});
    expect(spec.context).toBe('.');
    const dockerfile = path.join(root, spec.context ?? '', spec.dockerfile ?? 'Dockerfile');
    expect({ dockerfile: path.relative(root, dockerfile), exists: existsSync(dockerfile) }).toEqual({
      dockerfile: 'Dockerfile',
      exists: true,
    });
  });

  it('keeps a service out of the default profile while its entry point is not written', () => {
    const problems = APP_SERVICES.flatMap((name) => {
      const command = service(name).command ?? dockerfileCmd();
      const entry = (Array.isArray(command) ? command : command.split(/\s+/)).find((arg) =>
        arg.endsWith('.js'),
      );
      if (!entry) return [`${name} runs no compiled entry point`];
      const source = typescriptSourceOf(entry);
      const inDefaultProfile = (service(name).profiles ?? []).length === 0;
      return existsSync(path.join(root, source)) || !inDefaultProfile
        ? []
        : [`${name} runs ${entry}, but ${source} does not exist`];
    });
    expect(problems).toEqual([]);
  });
});

describe('Dockerfile', () => {
  it('runs the worker entry point, compiled from a TypeScript source that exists', () => {
    const entry = dockerfileCmd().find((arg) => arg.endsWith('.js')) ?? '(none)';
    expect(entry).toBe('dist/src/worker/main.js');
    const source = typescriptSourceOf(entry);
    expect({ source, exists: existsSync(path.join(root, source)) }).toEqual({ source, exists: true });
  });

  it('builds on the pinned Node image and runs production code as a non-root user', () => {
    const stages = dockerfileStages();
    const stageNames = new Set(
      read('Dockerfile')
        .split('\n')
        .flatMap((line) => /^FROM\s+\S+\s+AS\s+(\S+)/i.exec(line.trim())?.slice(1) ?? []),
    );
    const bases = stages.map((stage) => stage.from).filter((from) => !stageNames.has(from));
    expect(new Set(bases)).toEqual(new Set(['node:20.20-bookworm-slim']));

    const final = stages.at(-1)?.lines ?? [];
    expect(final).toContainEqual(expect.stringMatching(/^ENV\s+NODE_ENV=production$/));
    const user = final.filter((line) => /^USER\s/i.test(line)).at(-1);
    expect(user).toBeDefined();
    expect(user?.replace(/^USER\s+/i, '')).not.toMatch(/^(root|0)(:|$)/);
    expect(read('Dockerfile')).toMatch(/npm (ci --omit=dev|prune --omit=dev)/);
  });
});
