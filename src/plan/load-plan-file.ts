import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { describeDuplicateKey, duplicateKeys } from './duplicate-keys';
import { parseRolloutPlan, PlanError, type RolloutPlan } from './rollout-plan';

/**
 * Reads a YAML (`.yaml`/`.yml`) or JSON plan file and validates it. Every failure is a {@link PlanError}
 * naming the file, so the CLI can print it and exit before anything changes. A key given twice in one mapping
 * is an error in either format (both parsers would otherwise keep the last value silently).
 */
export async function loadPlanFile(file: string): Promise<RolloutPlan> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new PlanError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  const isJson = path.extname(file).toLowerCase() === '.json';
  // Editors on some platforms start files with a byte-order mark; JSON.parse rejects it, YAML ignores it.
  const body = text.replace(/^\uFEFF/, '');
  // JSON is YAML 1.2, so one YAML parse gives both formats' key positions; JSON.parse stays the judge of
  // JSON syntax (YAML accepts more, such as comments and trailing commas).
  const lineCounter = new LineCounter();
  const document = parseDocument(body, { prettyErrors: true, uniqueKeys: false, lineCounter });
  let data: unknown;
  if (isJson) {
    try {
      data = JSON.parse(body);
    } catch (error) {
      throw new PlanError(file, [`not valid JSON: ${(error as Error).message}`]);
    }
  } else {
    try {
      const [error] = document.errors;
      if (error) throw error;
      // toJS also refuses what only shows when resolving: an unknown alias, an alias bomb.
      data = document.toJS();
    } catch (error) {
      throw new PlanError(file, [`not valid YAML: ${(error as Error).message}`]);
    }
  }
  const duplicates = duplicateKeys(document, lineCounter);
  if (duplicates.length > 0) throw new PlanError(file, duplicates.map(describeDuplicateKey));
  return parseRolloutPlan(data, file);
}
