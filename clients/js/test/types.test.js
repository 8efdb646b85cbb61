// talkstream.d.ts is hand-written: every runtime export must be declared, and nothing declared may be missing.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import * as client from '../talkstream.js';

const declarations = readFileSync(new URL('../talkstream.d.ts', import.meta.url), 'utf8');
const declaredValues = new Set(
  [...declarations.matchAll(/^export declare (?:const|function|class) (\w+)/gm)].map((m) => m[1]),
);

test('every export of talkstream.js is declared in talkstream.d.ts, and vice versa', () => {
  assert.deepEqual([...declaredValues].sort(), Object.keys(client).sort());
});

test('the named function API of the brief exists', () => {
  for (const name of ['initSession', 'feedAudioChunk', 'getStatus', 'interrupt', 'close', 'attachPlayer',
    'startMicrophone']) {
    assert.equal(typeof client[name], 'function', name);
  }
  assert.equal(typeof client.TalkstreamError, 'function');
});
