import { localFixture } from './local-fixture.ts';
import { runConformance } from './suite.ts';

runConformance({ name: 'linux', setup: () => localFixture('linux') });
