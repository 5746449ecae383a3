import type { temporal } from '@temporalio/proto';
import {
  bundleWorkflowCode,
  Worker,
  type BundleOptions,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** Webpack's configuration as the SDK's bundler hands it over (webpack is the SDK's dependency, not ours). */
type WebpackConfiguration = Parameters<NonNullable<BundleOptions['webpackConfigHook']>>[0];
import { ROLLOUT_PAYLOAD_CONVERTER_PATH } from '../../src/worker/create-rollout-worker';
import { historyFromJson } from './replay-history-json';

/** Where the recorded histories live: one folder per released version of the workflow code. */
export const REPLAY_HISTORIES_DIR = path.resolve(__dirname, '../replay-histories');

/** One recorded run of RolloutWorkflow. */
export interface RecordedHistory {
  /** `<version>/<file>`, e.g. `b31701a/completed.json`: how tests and reports name it. */
  name: string;
  history: temporal.api.history.v1.IHistory;
}

/** Every committed history, ordered by version folder and file name. */
export function recordedHistories(dir = REPLAY_HISTORIES_DIR): RecordedHistory[] {
  const versions = readdirSync(dir)
    .filter((entry) => statSync(path.join(dir, entry)).isDirectory())
    .sort();
  return versions.flatMap((version) =>
    readdirSync(path.join(dir, version))
      .filter((file) => file.endsWith('.json'))
      .sort()
      .map((file) => ({
        name: `${version}/${file}`,
        history: historyFromJson(JSON.parse(readFileSync(path.join(dir, version, file), 'utf8'))),
      })),
  );
}

/** A module of workflows/ swapped for another file in a bundle (a probe of a changed workflow). */
export interface ModuleSwap {
  /** Absolute path of the module the workflow code imports, with its extension. */
  module: string;
  /** Absolute path of the file bundled in its place. */
  replacement: string;
}

/**
 * Replaces one resolved module by another while webpack bundles, as webpack's NormalModuleReplacementPlugin
 * does (written out here: webpack is the SDK's dependency, not ours).
 */
function swapModule(config: WebpackConfiguration, swap: ModuleSwap): WebpackConfiguration {
  const plugin = {
    apply(compiler: {
      hooks: {
        normalModuleFactory: {
          tap(
            name: string,
            use: (factory: {
              hooks: {
                afterResolve: {
                  tap(
                    name: string,
                    use: (data: { createData: { resource?: string; context?: string } }) => void,
                  ): void;
                };
              };
            }) => void,
          ): void;
        };
      };
    }) {
      compiler.hooks.normalModuleFactory.tap('replay-module-swap', (factory) => {
        factory.hooks.afterResolve.tap('replay-module-swap', ({ createData }) => {
          if (createData.resource !== swap.module) return;
          createData.resource = swap.replacement;
          // The replacement's own imports resolve from its folder, not the original's.
          createData.context = path.dirname(swap.replacement);
        });
      });
    },
  };
  return { ...config, plugins: [...(config.plugins ?? []), plugin as never] };
}

/**
 * The workflow bundle a worker of this tree runs: `workflows/` with the worker's payload converter
 * (`src/worker/create-rollout-worker.ts`), optionally with one module swapped. Bundling is the slow part of a
 * replay (seconds): build once, replay many.
 */
export function bundleRolloutWorkflows(swap?: ModuleSwap): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    payloadConverterPath: ROLLOUT_PAYLOAD_CONVERTER_PATH,
    ...(swap ? { webpackConfigHook: (config: WebpackConfiguration) => swapModule(config, swap) } : {}),
    logger: quietBundler,
  });
}

/** What replaying one history gave: `undefined` error when the code issued the same commands. */
export interface ReplayOutcome {
  name: string;
  error: Error | undefined;
}

/**
 * Replays the histories on a replay worker of `bundle` (no server: the worker reads the histories and checks
 * the commands the code issues against them). A nondeterminism error is a `DeterminismViolationError`; any
 * other failure of a workflow task a `ReplayError`.
 */
export async function replayHistories(
  bundle: WorkflowBundleWithSourceMap,
  histories: readonly RecordedHistory[],
): Promise<ReplayOutcome[]> {
  const outcomes: ReplayOutcome[] = [];
  const replay = Worker.runReplayHistories(
    {
      workflowBundle: bundle,
      // The worker decodes signals and updates with this converter, so must the replay.
      dataConverter: { payloadConverterPath: ROLLOUT_PAYLOAD_CONVERTER_PATH },
      replayName: 'rollout-replay',
    },
    histories.map(({ name, history }) => ({ workflowId: name, history })),
  );
  for await (const result of replay) outcomes.push({ name: result.workflowId, error: result.error });
  return outcomes;
}

const quietBundler = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => process.stderr.write(`[bundler] ${message}\n`),
  error: (message: string) => process.stderr.write(`[bundler] ${message}\n`),
  log: () => undefined,
};
