import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadAddon } from '../../src/core/native-addon.ts';

void describe('loadAddon', { skip: process.platform !== 'linux' }, () => {
  void it('loads a built addon from build/Release', () => {
    const loaded = loadAddon({ name: 'tessera_seal' });
    assert.equal(loaded.error, undefined);
    assert.match(loaded.file, /\/build\/Release\/tessera_seal\.node$/);
    assert.equal(typeof loaded.exports?.aeadKey, 'function');
  });

  void it('reports a missing addon instead of throwing, naming it and where it was looked for', () => {
    const loaded = loadAddon({ name: 'tessera_missing' });
    assert.equal(loaded.exports, undefined);
    assert.match(loaded.file, /\/build\/Release\/tessera_missing\.node$/);
    assert.ok(loaded.error?.message.includes(`cannot load the tessera_missing addon from ${loaded.file}`));
  });
});
