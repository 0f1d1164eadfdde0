import { encodePair } from '../../../src/eval/prepare';
import { requestWindow } from '../../../src/eval/rows';
import { PieceTokenizer } from './helpers/piece-tokenizer';

const tok = new PieceTokenizer();
const ids = (s: string) => tok.encode(s);

describe('context/continuation split', () => {
  it('takes the continuation as the tokens of context+continuation past len(tokenize(context))', () => {
    const r = encodePair(tok, 'Answer:', ' Paris', false);
    expect(r.context).toEqual(ids('Answer:'));
    expect(r.continuation).toEqual(ids(' Paris'));
  });

  it('counts off len(tokenize(context)) tokens of the whole even where the whole merges across the boundary', () => {
    // "Water" is W,a,t,e,r but "Water: A" is W,a,t,e,"r:"," A": the piece "r:" crosses the boundary
    expect(ids('Water')).toHaveLength(5);
    expect(ids('Water: A').map((id) => tok.decode([id]))).toEqual(['W', 'a', 't', 'e', 'r:', ' A']);
    const s = encodePair(tok, 'Water', ': A', false);
    expect(s.context).toEqual(ids('Water'));
    expect(s.continuation.map((id) => tok.decode([id]))).toEqual([' A']);
    expect(s.continuation).not.toEqual(ids(': A'));
  });

  it('moves trailing whitespace of the context to the front of the continuation', () => {
    const r = encodePair(tok, 'Question: the sun ', 'is', false);
    expect(r.context).toEqual(ids('Question: the sun'));
    expect(tok.decode(r.continuation)).toBe(' is');
    expect(r.continuation).toEqual(ids(' is'));
  });

  it('adds BOS to context and whole when asked, leaving the continuation unchanged', () => {
    const r = encodePair(tok, 'Answer:', ' Paris', true);
    expect(r.context).toEqual([tok.bosId, ...ids('Answer:')]);
    expect(r.continuation).toEqual(ids(' Paris'));
  });

  it('uses the BOS token as the context of an empty context', () => {
    expect(encodePair(tok, '', ' moon', false)).toEqual({ context: [tok.bosId], continuation: ids(' moon') });
  });
});

describe('left truncation at the maximum length', () => {
  it('keeps the last maxLength+1 tokens of context+continuation and drops the last one as input', () => {
    const req = { context: [10, 11, 12, 13, 14, 15], continuation: [20, 21] };
    const w = requestWindow(req, 5);
    // whole = 10..15,20,21 (8 tokens); last 6 = 13,14,15,20,21 ... input = 12..20 minus last
    expect(w.input).toEqual([12, 13, 14, 15, 20]);
    expect(w.targets).toEqual([-1, -1, -1, 20, 21]);
    expect(w.firstTarget).toBe(3);
  });

  it('leaves short requests whole', () => {
    const w = requestWindow({ context: [5, 6], continuation: [7] }, 16);
    expect(w.input).toEqual([5, 6]);
    expect(w.targets).toEqual([-1, 7]);
  });

  it('refuses a continuation longer than the model accepts', () => {
    expect(() => requestWindow({ context: [1], continuation: [2, 3, 4] }, 2)).toThrow(/does not fit/);
  });
});
