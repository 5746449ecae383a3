import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { heartbeatWhile } from './heartbeat-while';

/** Activity input is checked like any boundary; a bad one fails for good, naming the phase. */
export function parseActivityInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid ${what} input: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
      'InvalidInput',
    );
  }
  return parsed.data;
}

export interface ResumableRun<P> {
  /** The checkpoint of the previous attempt, when this attempt continues one. */
  resume: P | undefined;
  signal: AbortSignal;
  /** Call after each committed batch: the checkpoint goes out with the next heartbeat. */
  onProgress: (progress: P) => void;
}

/**
 * Runs a batched data phase that checkpoints in its heartbeat details: a retry after a crash resumes from
 * the last checkpoint the server received, so no committed batch is applied twice. Heartbeats every 5 s
 * with the latest checkpoint, so an attempt that dies before its first batch keeps the previous one.
 *
 * @example
 * return runResumable({ what: 'key migration', rolloutId, logger, progressSchema }, (run) => runKeyMigration(db, { ...run }));
 */
export async function runResumable<P, R>(
  options: { what: string; rolloutId: string; logger: Logger; progressSchema: z.ZodType<P> },
  work: (run: ResumableRun<P>) => Promise<R>,
): Promise<R> {
  const context = Context.current();
  const details: unknown = context.info.heartbeatDetails;
  const resumed = options.progressSchema.safeParse(details);
  if (details !== undefined && !resumed.success) {
    options.logger.warn(
      { rolloutId: options.rolloutId },
      `${options.what} heartbeat details unreadable; starting from the beginning`,
    );
  }
  let latest: P | undefined = resumed.success ? resumed.data : undefined;
  if (latest !== undefined)
    options.logger.info({ rolloutId: options.rolloutId, checkpoint: latest }, `${options.what} resuming`);
  return heartbeatWhile(
    () =>
      work({
        resume: latest,
        signal: context.cancellationSignal,
        onProgress: (progress) => {
          latest = progress;
          context.heartbeat(progress);
        },
      }),
    5_000,
    () => latest,
  );
}

export interface PhaseActivity<P, R> {
  /** The phase's name in log lines. */
  what: string;
  rolloutId: string;
  progressSchema: z.ZodType<P>;
  run: (run: ResumableRun<P>) => Promise<R>;
  /** Logged, with the rollout id, once the phase is done. */
  done: { message: string; fields: (report: R) => Record<string, unknown> };
  /** The activity's final failure for an error retrying cannot fix; undefined lets Temporal retry it. */
  finalFailure: (error: unknown) => ApplicationFailure | undefined;
}

/**
 * The activity around a resumable data phase or restore: runs it with its checkpoint in the heartbeat
 * details ({@link runResumable}), logs its report, and fails for good on errors a retry cannot fix.
 *
 * @example
 * return runPhaseActivity(deps.logger, { what: 'key migration', rolloutId, progressSchema, run, done, finalFailure });
 */
export async function runPhaseActivity<P, R>(logger: Logger, phase: PhaseActivity<P, R>): Promise<R> {
  const { what, rolloutId, progressSchema } = phase;
  try {
    const report = await runResumable({ what, rolloutId, logger, progressSchema }, phase.run);
    logger.info({ rolloutId, ...phase.done.fields(report) }, phase.done.message);
    return report;
  } catch (error) {
    throw phase.finalFailure(error) ?? error;
  }
}
