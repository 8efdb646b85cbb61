// `npm run vendor`: copies what the demo page at `/` loads into app/static/vendor/, so the server works with no
// internet and from an installed wheel or image (which carry app/ only). test/vendor.test.js checks the copies.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const VENDOR_DIR = join(PACKAGE_DIR, '..', '..', 'app', 'static', 'vendor');

/** [source, destination] pairs, relative to clients/js and app/static/vendor. */
export const VENDORED = [
  ['node_modules/hls.js/dist/hls.min.mjs', 'hls.js/hls.min.mjs'],
  ['node_modules/hls.js/LICENSE', 'hls.js/LICENSE'],
  ['talkstream.js', 'talkstream/talkstream.js'],
  ['mic-worklet.js', 'talkstream/mic-worklet.js'],
];

function main() {
  for (const [source, destination] of VENDORED) {
    const target = join(VENDOR_DIR, destination);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(PACKAGE_DIR, source), target);
    console.log(`${source} -> app/static/vendor/${destination}`);
  }
  const hlsVersion = JSON.parse(readFileSync(join(PACKAGE_DIR, 'node_modules/hls.js/package.json'), 'utf8')).version;
  writeFileSync(
    join(VENDOR_DIR, 'README.md'),
    '# Vendored files: do not edit\n\n' +
      `Written by \`npm run vendor\` in clients/js and checked by its \`npm test\`: hls.js ${hlsVersion}\n` +
      '(Apache-2.0, see hls.js/LICENSE) from npm, and copies of the talkstream client module and its microphone\n' +
      'worklet, so the demo page works offline and from an installed package. Edit clients/js, then re-run it.\n',
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
