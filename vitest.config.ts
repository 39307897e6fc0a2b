import { defineConfig } from 'vitest/config';
import { selectedKind } from './test/harness/store-kind.js';

// test/cluster needs a Redis Cluster: it runs with the cluster store (npm run test:cluster);
// test/stores/postgres runs with the postgres store (npm run test:postgres), on its server
const clusterOnly = selectedKind() === 'cluster' ? [] : ['test/cluster/**'];
const postgresOnly = selectedKind() === 'postgres' ? [] : ['test/stores/postgres/**'];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...clusterOnly, ...postgresOnly],
    pool: 'forks',
    // the suites wait on servers and timers far more than they compute: three files at a
    // time on 2 cores halve the wall time (vitest's default there is one); no test
    // asserts wall-clock durations
    maxWorkers: 3,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    globalSetup: ['test/harness/cluster-setup.ts', 'test/harness/postgres-setup.ts'],
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
  },
});
