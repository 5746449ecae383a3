import type { GateDefinition } from '../../src/gates/gate-definition';
import { createCompareGate } from './compare-gate';
import type { GateEnvironment, GateProvider } from './gate-provider';
import { createHttpGate } from './http-gate';
import { createMetricsGate } from './metrics-gate';
import { createPrometheusGate } from './prometheus-gate';
import { createSqlGate } from './sql-gate';

/**
 * The provider for a validated gate definition.
 *
 * @example
 * const gate = createGateProvider(plan.gates.errors, { env: process.env });
 * let last = await gate.measure(undefined);
 * last = await gate.measure(last.state, { soakEnded: true });
 */
export function createGateProvider(definition: GateDefinition, environment: GateEnvironment): GateProvider {
  switch (definition.provider) {
    case 'compare':
      return createCompareGate(definition, environment) as GateProvider;
    case 'metrics':
      return createMetricsGate(definition, environment) as GateProvider;
    case 'prometheus':
      return createPrometheusGate(definition, environment) as GateProvider;
    case 'http':
      return createHttpGate(definition, environment) as GateProvider;
    case 'sql':
      return createSqlGate(definition, environment) as GateProvider;
  }
}
