/**
 * Vitest global setup: with the cluster store selected, starts one private Redis Cluster
 * for the whole run and hands its ports to the test files (`inject('visqClusterPorts')`).
 * Starting a cluster takes seconds (`redis-cli --cluster create` waits for the nodes to
 * meet), so files share it; each test still has a key prefix of its own. Without the
 * cluster store it does nothing.
 */
import type { TestProject } from 'vitest/node';
import { startRedisCluster } from './cluster.js';
import { selectedKind } from './store-kind.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Client ports of the run's shared cluster; absent unless the cluster store is selected. */
    visqClusterPorts?: readonly number[];
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (selectedKind() !== 'cluster') return undefined;
  const started = performance.now();
  const cluster = await startRedisCluster();
  const ms = Math.round(performance.now() - started);
  process.stderr.write(`visq tests: Redis Cluster of 3 masters on ports ${cluster.ports.join(', ')} started in ${ms} ms\n`);
  project.provide('visqClusterPorts', cluster.ports);
  return () => cluster.stop();
}
