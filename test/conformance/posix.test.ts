import { localFixture } from './local-fixture.ts';
import { runConformance } from './suite.ts';

// A short scan interval keeps the invalidation test quick; the default is 2000 ms.
runConformance({
  name: 'posix',
  setup: () => localFixture('posix', { scan_interval_ms: 100 }),
  invalidationWithinMs: 3000,
});
