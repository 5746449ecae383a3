/**
 * Rollout ids are also workflow ids and part of backup table names, so they follow a rule that is safe as an
 * identifier: 3-30 characters, lowercase letters and digits in hyphen-separated words. Pure, so the workflow
 * checks its own input with it.
 *
 * @example
 * ROLLOUT_ID.test('r-20261126-3fa9c1'); // true
 */
export const ROLLOUT_ID = /^(?=.{3,30}$)[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
