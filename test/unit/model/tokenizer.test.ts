import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer } from '../../../src/model/tokenizer';
import { writeTinyTokenizer } from '../../fixtures/model/random-checkpoint';

describe('loadTokenizer', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tok-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('encodes with merges and byte fallback, without special tokens, and round-trips', async () => {
    writeTinyTokenizer(dir);
    const tok = await loadTokenizer(dir);
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
    const ids = tok.encode('the cat is');
    const vocabStart = 3 + 256;
    // ▁the, ▁, c, a, t, ▁is
    expect(ids).toEqual([
      vocabStart + 27 + 2,
      vocabStart,
      vocabStart + 3,
      vocabStart + 1,
      vocabStart + 20,
      vocabStart + 27 + 5,
    ]);
    expect(ids).not.toContain(1);
    expect(tok.decode(ids)).toBe('the cat is');
    const unusual = tok.encode('é!');
    expect(unusual).toEqual([vocabStart, 3 + 0xc3, 3 + 0xa9, 3 + 0x21]);
    expect(tok.decode(unusual)).toBe('é!');
    expect(tok.vocabSize).toBe(vocabStart + 27 + 6);
  });

  it('names the missing file', async () => {
    writeTinyTokenizer(dir);
    rmSync(join(dir, 'tokenizer_config.json'));
    await expect(loadTokenizer(dir)).rejects.toThrow(/tokenizer_config\.json: missing/);
  });

  it('rejects a BOS token that is not in the vocabulary', async () => {
    writeTinyTokenizer(dir);
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<bos>' }));
    await expect(loadTokenizer(dir)).rejects.toThrow(/bos_token "<bos>" is not in the vocabulary/);
  });
});
