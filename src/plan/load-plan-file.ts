import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { parseRolloutPlan, PlanError, type RolloutPlan } from './rollout-plan';

/**
 * Reads a YAML (`.yaml`/`.yml`) or JSON plan file and validates it. Every failure is a {@link PlanError}
 * naming the file, so the CLI can print it and exit before anything changes.
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
  let data: unknown;
  try {
    data = isJson ? JSON.parse(body) : parseYaml(body, { prettyErrors: true, uniqueKeys: true });
  } catch (error) {
    const detail =
      error instanceof YAMLParseError || error instanceof SyntaxError ? error.message : String(error);
    throw new PlanError(file, [`not valid ${isJson ? 'JSON' : 'YAML'}: ${detail}`]);
  }
  return parseRolloutPlan(data, file);
}
