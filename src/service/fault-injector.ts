export interface FaultInjector {
  /** The fraction (0–1) of unified-path requests that fail. */
  rate(): number;
  /** Changes the fraction; throws a RangeError outside 0–1. */
  setRate(rate: number): void;
  /** Draws once: true means "fail this request". Never true at rate 0, always at rate 1. */
  shouldFail(): boolean;
}

/** Validates a fault rate; the message names the accepted range (and, like every refusal, not the value). */
export function checkFaultRate(rate: number): number {
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0 || rate > 1) {
    throw new RangeError('fault rate must be a number from 0 to 1');
  }
  return rate;
}

/**
 * The deliberate fault switch (SPEC §6): makes the unified path fail a given fraction of requests with HTTP
 * 500, so a demo or test can show the rollout's gates catching a bad release. Starts at `SERVICE_FAULT_RATE`;
 * `POST /admin/fault` changes it at run time. `random` is injectable for deterministic tests.
 *
 * @example
 * const faults = createFaultInjector(0.2);
 * if (faults.shouldFail()) reply.code(500).send({ error: 'injected fault' });
 */
export function createFaultInjector(initialRate = 0, random: () => number = Math.random): FaultInjector {
  let current = checkFaultRate(initialRate);
  return {
    rate: () => current,
    setRate(rate) {
      current = checkFaultRate(rate);
    },
    // random() is in [0, 1), so `<` makes rate 0 never fail and rate 1 always fail.
    shouldFail: () => current > 0 && random() < current,
  };
}
