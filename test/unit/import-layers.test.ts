import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { projectRoot } from '../../src/config/load-dotenv';
import { lintProbeGroups, type LintProbe } from '../helpers/lint-probe';

// The layering of SPEC §2 as checks that are proven to fire: db/ imports only pure helpers from src/,
// workflows/ never reach db/, and src db activities workflows hold no import cycle.

const LAYERS = ['src', 'db', 'activities', 'workflows'];
const DB_MAY_NOT_IMPORT = [
  'activities',
  'workflows',
  'src/reader',
  'src/service',
  'src/cli',
  'src/worker',
  'src/dev',
  'src/demo',
];

/** Every `.ts` file under `dir`, sorted, as absolute paths. */
function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .map((name) => path.join(dir, name))
    .sort();
}

/** A real module in `folder`, as a specifier relative to `fromDir`: the probes import what exists today. */
function someModuleIn(folder: string, fromDir: string): string {
  const [file] = tsFilesUnder(path.join(projectRoot, folder));
  if (!file) throw new Error(`no .ts file under ${folder} to probe with`);
  const relative = path.relative(fromDir, file).replace(/\.ts$/, '').split(path.sep).join('/');
  return relative.startsWith('.') ? relative : `./${relative}`;
}

/**
 * Cycles among the relative imports of `files`, type-only imports included (lint's `import-x/no-cycle` skips
 * those). Each cycle is listed once, as the files along it relative to `root`.
 */
function importCycles(files: string[], root: string): string[][] {
  const known = new Set(files);
  const edges = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map(({ fileName }) => fileName)
      .filter((specifier) => specifier.startsWith('.'))
      .map((specifier) => path.resolve(path.dirname(file), specifier))
      .flatMap((base) =>
        [`${base}.ts`, path.join(base, 'index.ts')].filter((candidate) => known.has(candidate)),
      );
    edges.set(file, [...new Set(targets)]);
  }
  // Tarjan's strongly connected components: any component of two or more files (or a self-import) is a cycle.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const next of edges.get(file) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file)!, index.get(next)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || edges.get(file)!.includes(file)) {
      cycles.push(component.map((f) => path.relative(root, f)).sort());
    }
  };
  for (const file of files) if (!index.has(file)) visit(file);
  return cycles;
}

// Layer probes: in-memory files in the real tree, importing real modules.
const dbProbe = path.join(projectRoot, 'db', 'lint-probe.ts');
const workflowProbe = path.join(projectRoot, 'workflows', 'lint-probe.ts');
const readerProbe = path.join(projectRoot, 'src', 'reader', 'lint-probe.ts');
const dbDir = path.dirname(dbProbe);

const forbidden: [string, LintProbe][] = [
  ...DB_MAY_NOT_IMPORT.flatMap((folder): [string, LintProbe][] => [
    [
      `db/ imports ${folder}/`,
      {
        code: `import * as m from '${someModuleIn(folder, dbDir)}';\nexport const x = m;`,
        filePath: dbProbe,
      },
    ],
    [
      `db/ imports a type from ${folder}/`,
      {
        code: `import type * as m from '${someModuleIn(folder, dbDir)}';\nexport type X = typeof m;`,
        filePath: dbProbe,
      },
    ],
  ]),
  [
    'workflows/ import a type from db/',
    {
      code: "import type { Database } from '../db/schema';\nexport type X = Database;",
      filePath: workflowProbe,
    },
  ],
  [
    'workflows/ import db/ through a deeper path',
    {
      code: "import * as schema from '../../db/schema';\nexport const x = schema;",
      filePath: path.join(projectRoot, 'workflows', 'nested', 'lint-probe.ts'),
    },
  ],
];

const legal: [string, LintProbe][] = [
  [
    'db/ imports pure helpers from src/ and its own schema',
    {
      code: [
        "import { toSnakeCase } from '../src/naming/to-snake-case';",
        "import type { Database } from './schema';",
        'export const k = toSnakeCase;',
        'export type D = Database;',
      ].join('\n'),
      filePath: dbProbe,
    },
  ],
  [
    'the reader imports db/',
    {
      code: "import type { Database } from '../../db/schema';\nexport type D = Database;",
      filePath: readerProbe,
    },
  ],
  [
    'workflows/ import types from activities/',
    {
      code: "import type { RolloutActivities } from '../activities';\nexport type A = RolloutActivities;",
      filePath: workflowProbe,
    },
  ],
];

// Cycle probes: a cycle needs both files on disk, so these live in a scratch tree shaped like the repository.
const SCRATCH_FILES: Record<string, string> = {
  'src/cycle-a.ts': "import { b } from './cycle-b';\nexport const a = (): number => b + 1;\n",
  'src/cycle-b.ts': "import { a } from './cycle-a';\nexport const b = 2;\nexport const c = a;\n",
  'db/type-a.ts': "import type { B } from './type-b';\nexport interface A { b?: B }\n",
  'db/type-b.ts': "import type { A } from './type-a';\nexport interface B { a?: A }\n",
  'src/chain-a.ts': "import { b } from './nested';\nexport const a = b + 1;\n",
  'src/nested/index.ts':
    "import type { A } from '../../db/type-a';\nexport const b = 2;\nexport type X = A;\n",
};

let scratch: string;
let layerResults: string[][];
let cycleResults: string[][];
beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'import-layers-'));
  for (const [relative, code] of Object.entries(SCRATCH_FILES)) {
    const file = path.join(scratch, relative);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, code);
  }
  const scratchProbe = (relative: string): LintProbe => ({
    code: SCRATCH_FILES[relative]!,
    filePath: path.join(scratch, relative),
  });
  [layerResults, cycleResults] = lintProbeGroups([
    // The real tree's cycles are `npx eslint .`'s and the check below's job; walking them from every probe is slow.
    { probes: [...forbidden, ...legal].map(([, probe]) => probe), skipRules: ['import-x/no-cycle'] },
    { probes: [scratchProbe('src/cycle-a.ts'), scratchProbe('src/chain-a.ts')], cwd: scratch },
  ]) as [string[][], string[][]];
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('layer rules (eslint import-x/no-restricted-paths)', () => {
  test.each(forbidden.map(([name], i) => [name, i] as const))('refused: %s', (_name, i) => {
    expect(layerResults[i]).toContain('import-x/no-restricted-paths');
  });

  test.each(legal.map(([name], i) => [name, forbidden.length + i] as const))('allowed: %s', (_name, i) => {
    expect(layerResults[i]).toEqual([]);
  });
});

describe('import cycles', () => {
  test('eslint import-x/no-cycle fires on a cycle and stays quiet on a chain', () => {
    const [cycle, chain] = cycleResults;
    expect(cycle).toContain('import-x/no-cycle');
    expect(chain).toEqual([]);
  });

  test('the cycle check sees type-only cycles and index imports, and nothing else', () => {
    const files = ['src', 'db'].flatMap((dir) => tsFilesUnder(path.join(scratch, dir)));
    expect(importCycles(files, scratch).sort()).toEqual([
      ['db/type-a.ts', 'db/type-b.ts'],
      ['src/cycle-a.ts', 'src/cycle-b.ts'],
    ]);
  });

  test(`${LAYERS.join(', ')} hold no import cycle, type-only imports included`, () => {
    const files = LAYERS.flatMap((dir) => tsFilesUnder(path.join(projectRoot, dir)));
    expect(files.length).toBeGreaterThan(50);
    expect(importCycles(files, projectRoot)).toEqual([]);
  });
});
