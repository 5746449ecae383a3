import { randomBytes } from 'node:crypto';
import { ROLLOUT_ID } from '../plan/rollout-id';

/**
 * A fresh rollout id, `r-<yyyymmdd>-<6 hex>`: sortable by day, short enough for backup table names.
 *
 * @example
 * newRolloutId(new Date('2026-11-26')); // 'r-20261126-3fa9c1'
 */
export function newRolloutId(now: Date = new Date()): string {
  const day = now.toISOString().slice(0, 10).replaceAll('-', '');
  const id = `r-${day}-${randomBytes(3).toString('hex')}`;
  if (!ROLLOUT_ID.test(id)) throw new Error(`generated rollout id ${id} breaks ${ROLLOUT_ID}`);
  return id;
}
