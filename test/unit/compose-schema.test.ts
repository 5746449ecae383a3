import Ajv, { type AnySchemaObject, type ErrorObject, type ValidateFunction } from 'ajv';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

/**
 * docker-compose.yml against the Compose Specification's JSON schema (issue 10, must-show 4), with no Docker
 * engine: a misspelt key, a wrong type or an unknown depends_on condition fails here instead of at `docker
 * compose up`. Beside the schema: every image pinned, every long-running service health-checked, and the files
 * Grafana is provisioned from present and well formed.
 *
 * The schema, test/fixtures/compose-spec.json, is the Compose Specification's `schema/compose-spec.json`
 * (compose-spec/compose-spec, Apache-2.0) as the npm package dclint 3.1.0 ships it
 * (`schemas/compose.schema.json`), reformatted by prettier only. To refresh it: `npm pack dclint@<version>`,
 * copy `package/schemas/compose.schema.json` over the fixture, run prettier, and update SCHEMA_SHA256 below
 * (the hash is of the parsed document, so formatting does not change it; any edit of its content does).
 */

const root = path.resolve(__dirname, '..', '..');
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');

const SCHEMA_FILE = 'test/fixtures/compose-spec.json';
const SCHEMA_SHA256 = 'b2dc5daa8ce86f3b6a82dfe17afa0b5428b21d51a18bfb6e1ef304cf88e933ae';

interface Service {
  image?: string;
  build?: unknown;
  restart?: string;
  environment?: Record<string, string | number | boolean | null> | string[];
  volumes?: (string | { type?: string; source?: string; target: string; read_only?: boolean })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
}

interface Compose {
  services: Record<string, Service>;
}

const composeText = read('docker-compose.yml');
const compose = parse(composeText) as Compose;
const services = compose.services;

function schemaText(): string {
  return read(SCHEMA_FILE);
}

/**
 * The schema declares `$schema: https://json-schema.org/draft-07/schema`; Ajv knows draft-07 by its
 * historical `http://…#` id only, so the same meta-schema is registered under the https spelling too. The
 * schema itself is still checked against draft-07 when it is compiled.
 */
function composeValidator(): ValidateFunction {
  const schema = JSON.parse(schemaText()) as AnySchemaObject;
  // strictTypes off: the spec's own schema combines `type` with sibling keywords in ways Ajv's authoring lint
  // flags; unknown keywords and formats still fail (strict mode's other checks stay on).
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
  const draft07 = ajv.getSchema('http://json-schema.org/draft-07/schema')?.schema as
    AnySchemaObject | undefined;
  if (!draft07) throw new Error('Ajv has no draft-07 meta-schema');
  if (typeof schema.$schema === 'string' && !ajv.getSchema(schema.$schema)) {
    ajv.addMetaSchema({ ...draft07, $id: schema.$schema });
  }
  return ajv.compile(schema);
}

function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map(
    (error) =>
      `${error.instancePath || '/'} ${error.message ?? error.keyword} ${JSON.stringify(error.params)}`,
  );
}

/** Services that do their work and exit: another service waits for them to complete successfully. */
function oneShots(): Set<string> {
  const names = new Set<string>();
  for (const spec of Object.values(services)) {
    const dependsOn = spec.depends_on;
    if (!dependsOn || Array.isArray(dependsOn)) continue;
    for (const [target, { condition }] of Object.entries(dependsOn)) {
      if (condition === 'service_completed_successfully') names.add(target);
    }
  }
  return names;
}

function environmentOf(spec: Service): Record<string, string> {
  const environment = spec.environment ?? {};
  if (Array.isArray(environment)) {
    return Object.fromEntries(
      environment.map((item) => {
        const index = item.indexOf('=');
        return index < 0 ? [item, ''] : [item.slice(0, index), item.slice(index + 1)];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(environment).map(([key, value]) => [key, value === null ? '' : String(value)]),
  );
}

/** The service's bind mounts of this repository: container path → repository-relative path. */
function bindMounts(spec: Service): Map<string, string> {
  const mounts = new Map<string, string>();
  for (const volume of spec.volumes ?? []) {
    const [source, target] =
      typeof volume === 'string' ? volume.split(':') : [volume.source ?? '', volume.target];
    if (source?.startsWith('./') && target) mounts.set(target, path.normalize(source));
  }
  return mounts;
}

/** Where a path inside the container comes from in the repository (through the longest bind mount above it). */
function hostPathOf(mounts: Map<string, string>, containerPath: string): string | undefined {
  const matches = [...mounts.keys()]
    .filter((target) => containerPath === target || containerPath.startsWith(`${target}/`))
    .sort((a, b) => b.length - a.length);
  const target = matches[0];
  if (target === undefined) return undefined;
  return path.join(mounts.get(target) ?? '', path.relative(target, containerPath));
}

describe('docker-compose.yml against the Compose Specification schema', () => {
  it('uses the published schema, unedited', () => {
    const canonical = JSON.stringify(JSON.parse(schemaText()));
    expect(createHash('sha256').update(canonical).digest('hex')).toBe(SCHEMA_SHA256);
  });

  it('is valid', () => {
    const validate = composeValidator();
    const valid = validate(compose);
    expect(describeErrors(validate.errors)).toEqual([]);
    expect(valid).toBe(true);
  });

  it('rejects what compose would reject: a misspelt key, an unknown condition, a wrong type', () => {
    // The schema must really be enforced, or the test above would pass on anything.
    const validate = composeValidator();
    const first = Object.keys(compose.services)[0] ?? 'none';
    const service = (doc: Compose): Record<string, unknown> => doc.services[first] as Record<string, unknown>;
    const cases: [string, (doc: Compose) => void][] = [
      ['healthcheck.tset', (doc) => (service(doc).healthcheck = { tset: ['CMD', 'true'] })],
      [
        'an unknown condition',
        (doc) => (service(doc).depends_on = { redis: { condition: 'service_ready' } }),
      ],
      ['restart as a number', (doc) => (service(doc).restart = 3)],
      ['an unknown top-level key', (doc) => ((doc as unknown as Record<string, unknown>).service = {})],
    ];
    for (const [what, breakIt] of cases) {
      const document = structuredClone(compose);
      breakIt(document);
      expect({ what, valid: validate(document) }).toEqual({ what, valid: false });
    }
  });
});

describe('docker-compose.yml services', () => {
  it('pins every image to an exact version (no latest, no missing tag, no floating major)', () => {
    // An exact release: major.minor.patch with an optional suffix (`-alpine`, `-tctl-…`), or a digest.
    // PostgreSQL alone numbers its releases major.minor (15.14 is a patch release of 15).
    const exact = /^[a-z0-9][a-z0-9._/-]*:v?\d+\.\d+\.\d+(?:-[\w.-]+)?$/;
    const exactPostgres = /^postgres:\d+\.\d+(?:-[\w.-]+)?$/;
    const problems = Object.entries(services).flatMap(([name, spec]) => {
      if (spec.image === undefined)
        return spec.build === undefined ? [`${name}: neither image nor build`] : [];
      const image = spec.image;
      if (/@sha256:[a-f0-9]{64}$/.test(image)) return [];
      if (/:latest$/.test(image)) return [`${name}: ${image} (latest)`];
      if (!/:[^/]+$/.test(image)) return [`${name}: ${image} (no tag)`];
      return exact.test(image) || exactPostgres.test(image)
        ? []
        : [`${name}: ${image} (not an exact version)`];
    });
    expect(problems).toEqual([]);
  });

  it('health-checks every long-running service', () => {
    const shots = oneShots();
    expect(shots.size).toBeGreaterThan(0);
    const unchecked = Object.entries(services)
      .filter(([name]) => !shots.has(name))
      .filter(([, spec]) => {
        const test = spec.healthcheck?.test;
        const command = Array.isArray(test) ? test : test === undefined ? [] : [test];
        return spec.healthcheck?.disable === true || command.length === 0 || command[0] === 'NONE';
      })
      .map(([name]) => name);
    expect(unchecked).toEqual([]);
  });

  it('runs the worker, the config service, Grafana and the search-attribute one-shot', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['worker', 'config-service', 'prometheus', 'grafana', 'temporal-setup']),
    );
    expect(oneShots()).toContain('temporal-setup');
  });
});

describe('Grafana provisioning', () => {
  const grafana = services.grafana ?? {};
  const mounts = bindMounts(grafana);
  const provisioningDir = hostPathOf(mounts, '/etc/grafana/provisioning');

  interface Datasource {
    uid?: string;
    type?: string;
    url?: string;
  }
  interface Provider {
    type?: string;
    options?: { path?: string };
  }

  function yamlFiles(dir: string): string[] {
    const full = path.join(root, dir);
    if (!existsSync(full)) return [];
    return readdirSync(full)
      .filter((file) => /\.ya?ml$/.test(file))
      .map((file) => path.join(dir, file));
  }

  function datasources(): Datasource[] {
    return yamlFiles(path.join(provisioningDir ?? '', 'datasources')).flatMap(
      (file) => (parse(read(file)) as { datasources?: Datasource[] }).datasources ?? [],
    );
  }

  function dashboardFiles(): string[] {
    const providers = yamlFiles(path.join(provisioningDir ?? '', 'dashboards')).flatMap(
      (file) => (parse(read(file)) as { providers?: Provider[] }).providers ?? [],
    );
    return providers.flatMap((provider) => {
      const dir = hostPathOf(mounts, provider.options?.path ?? '');
      if (dir === undefined) throw new Error(`dashboard path ${provider.options?.path} is not mounted`);
      return readdirSync(path.join(root, dir))
        .filter((file) => file.endsWith('.json'))
        .map((file) => path.join(dir, file));
    });
  }

  it('mounts its provisioning folder from the repository, read-only', () => {
    expect(provisioningDir).toBe(path.normalize('grafana/provisioning'));
    expect(statSync(path.join(root, provisioningDir ?? '')).isDirectory()).toBe(true);
    const readOnly = (grafana.volumes ?? []).filter(
      (volume) => typeof volume === 'string' && volume.startsWith('./'),
    );
    expect(readOnly.every((volume) => typeof volume === 'string' && volume.endsWith(':ro'))).toBe(true);
  });

  it('provisions a Prometheus datasource pointing at the compose Prometheus', () => {
    const prometheus = datasources().filter((source) => source.type === 'prometheus');
    expect(prometheus).toHaveLength(1);
    expect(new URL(prometheus[0]?.url ?? '').host).toBe('prometheus:9090');
    expect(services.prometheus).toBeDefined();
  });

  it('provisions dashboard files that exist, parse and use only the provisioned datasource', () => {
    const files = dashboardFiles();
    expect(files).toContain(path.normalize('grafana/dashboards/rollout.json'));
    const uids = new Set(datasources().map((source) => source.uid));
    for (const file of files) {
      const dashboard = JSON.parse(read(file)) as {
        uid?: string;
        title?: string;
        panels?: { type: string; datasource?: { uid?: string }; targets?: { expr?: string }[] }[];
      };
      expect({ file, uid: typeof dashboard.uid, title: typeof dashboard.title }).toEqual({
        file,
        uid: 'string',
        title: 'string',
      });
      const panels = (dashboard.panels ?? []).filter((panel) => panel.type !== 'row');
      expect(panels.length).toBeGreaterThan(0);
      const foreign = panels
        .filter((panel) => !uids.has(panel.datasource?.uid))
        .map((panel) => `${file}: ${JSON.stringify(panel.datasource)}`);
      expect(foreign).toEqual([]);
      expect(panels.every((panel) => (panel.targets ?? []).every((target) => target.expr?.trim()))).toBe(
        true,
      );
    }
  });

  it('opens on a dashboard that is mounted', () => {
    const home = environmentOf(grafana).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
    const hostPath = hostPathOf(mounts, home);
    expect(hostPath && existsSync(path.join(root, hostPath))).toBe(true);
  });
});
