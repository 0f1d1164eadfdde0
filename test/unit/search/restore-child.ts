// Run in a separate process by linas.test.ts: reads a saved state, proposes, writes the result.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadState, propose } from '../../../src/search';

const [input, output] = process.argv.slice(2);
const step = propose(loadState(JSON.parse(readFileSync(input, 'utf8')), input));
writeFileSync(output, JSON.stringify(step));
