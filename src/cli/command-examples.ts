import type { Command } from 'commander';

const ID = 'r-20261126-3fa9c1';

/**
 * Examples for each command's `--help`, kept in one place so that a test can require one for every command
 * (including those registered in other files).
 */
export const COMMAND_EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  keys: ['rollout keys maxTokens URLPath llm.topP', 'rollout keys maxTokens --json'],
  plan: ['rollout plan my-plan.yaml', 'rollout plan my-plan.yaml --json | jq .blocking'],
  start: [
    'rollout start my-plan.yaml',
    'rollout start my-plan.yaml --id r-20261126-release --watch',
    'rollout start my-plan.yaml --watch --timeout 2h --progress-every 30s   # in CI: give up after 2 h (exit 4)',
  ],
  status: [`rollout status ${ID}`, `rollout status ${ID} --json | jq .status.phase`],
  watch: [
    `rollout watch ${ID}`,
    `rollout watch ${ID} --timeout 30m          # exit 4 if it still runs after 30 minutes`,
    `rollout watch ${ID} --json > events.jsonl  # events as JSON lines; progress goes to stderr`,
    `rollout --address temporal.internal:7233 --namespace prod watch ${ID}`,
  ],
  list: ['rollout list', 'rollout list --flag unified-config --limit 5', 'rollout list --json'],
  pause: [`rollout pause ${ID} --reason "error rate looks odd, investigating"`],
  resume: [`rollout resume ${ID} --reason "false alarm: a client retry storm"`],
  approve: [`rollout approve ${ID} --reason "dashboards clean at 50 %"`],
  rollback: [`rollout rollback ${ID} --reason "p99 latency doubled"`],
  cancel: [
    `rollout cancel ${ID} --reason "release window closed"`,
    `rollout --env-file prod.env cancel ${ID} --reason "incident INC-4411"`,
  ],
};

const PROGRAM_EXAMPLES = [
  'rollout plan my-plan.yaml && rollout start my-plan.yaml --watch',
  `rollout status ${ID}`,
  `rollout --env-file staging.env list --flag unified-config`,
];

function examplesText(lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}`;
}

/** Adds the examples to the program's and every known command's `--help`. */
export function addExamples(program: Command): void {
  program.addHelpText('after', examplesText(PROGRAM_EXAMPLES));
  for (const command of program.commands) {
    const examples = COMMAND_EXAMPLES[command.name()];
    if (examples) command.addHelpText('after', examplesText(examples));
  }
}
