// The demo page loads hls.js and the client from app/static/vendor/: those copies must be exactly what npm
// installed and what clients/js holds. After an upgrade or an edit, `npm run vendor` refreshes them.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { PACKAGE_DIR, VENDORED, VENDOR_DIR } from '../scripts/vendor.mjs';

for (const [source, destination] of VENDORED) {
  test(`app/static/vendor/${destination} is byte-identical to clients/js/${source}`, () => {
    const installed = join(PACKAGE_DIR, source);
    assert.ok(existsSync(installed), `${source} is missing: run \`npm ci\` in clients/js`);
    const copy = join(VENDOR_DIR, destination);
    assert.ok(existsSync(copy), `app/static/vendor/${destination} is missing: run \`npm run vendor\` in clients/js`);
    assert.ok(readFileSync(copy).equals(readFileSync(installed)),
      `app/static/vendor/${destination} differs from ${source}: run \`npm run vendor\` in clients/js`);
  });
}

test('the vendored hls.js is the version package.json pins', () => {
  const pinned = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')).dependencies['hls.js'];
  assert.match(pinned, /^1\.\d+\.\d+$/, 'hls.js must be pinned to an exact 1.x version');
  const installed = JSON.parse(readFileSync(join(PACKAGE_DIR, 'node_modules/hls.js/package.json'), 'utf8')).version;
  assert.equal(installed, pinned);
  assert.match(readFileSync(join(VENDOR_DIR, 'README.md'), 'utf8'), new RegExp(`hls\\.js ${pinned.replaceAll('.', '\\.')}\\b`));
});
