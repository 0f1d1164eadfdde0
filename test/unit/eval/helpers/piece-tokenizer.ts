import type { TextTokenizer } from '../../../../src/model/types';

/**
 * A small deterministic tokenizer for tests: greedy longest match over a fixed list of pieces
 * (all printable ASCII characters, newline, and some multi-character pieces, a few of which
 * cross the usual context/continuation boundary such as "r:"), so tokenize(a + b) is
 * not always tokenize(a) + tokenize(b). Unknown characters map to UNK.
 */
const MULTI = [
  ' the',
  'Question',
  'Answer',
  ':',
  ' Paris',
  ' is',
  ' of',
  ' France',
  '\n\n',
  'r:',
  ' A',
  ' B',
  ' C',
  ' D',
  'Q:',
  'A:',
  ' capital',
  ' sun',
  ' moon',
  ' water',
  ' .',
  'ing',
  'tion',
  ' ',
  '  ',
];

export class PieceTokenizer implements TextTokenizer {
  readonly bosId = 1;
  readonly eosId = 2;
  private readonly pieces: string[];
  private readonly ids = new Map<string, number>();
  private readonly maxPiece: number;

  constructor() {
    const singles: string[] = ['\n'];
    for (let c = 32; c < 127; c++) singles.push(String.fromCharCode(c));
    this.pieces = ['<unk>', '<s>', '</s>', ...new Set([...singles, ...MULTI])];
    this.pieces.forEach((p, i) => this.ids.set(p, i));
    this.maxPiece = Math.max(...this.pieces.map((p) => p.length));
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    let i = 0;
    while (i < text.length) {
      let matched = 0;
      for (let len = Math.min(this.maxPiece, text.length - i); len >= 1; len--) {
        const id = this.ids.get(text.slice(i, i + len));
        if (id !== undefined && id > 2) {
          out.push(id);
          matched = len;
          break;
        }
      }
      if (matched === 0) {
        out.push(0);
        matched = 1;
      }
      i += matched;
    }
    return out;
  }

  decode(ids: number[]): string {
    return ids.map((id) => this.pieces[id] ?? '<unk>').join('');
  }
}
