import type { SourceRef } from './types';

/** A problem with the user's data files: names the file and line; nothing has been scored yet. */
export class EvalDataError extends Error {
  override name = 'EvalDataError';
}

/** One bad record. */
export interface RecordProblem extends SourceRef {
  message: string;
}

/** Collects record problems across files and throws them together, so a user fixes them in one pass. */
export class ProblemList {
  private readonly items: RecordProblem[] = [];
  static readonly SHOWN = 20;

  add(problem: RecordProblem): void {
    this.items.push(problem);
  }

  get count(): number {
    return this.items.length;
  }

  throwIfAny(what: string): void {
    if (this.items.length === 0) return;
    const shown = this.items.slice(0, ProblemList.SHOWN).map((p) => `  ${p.file}:${p.line}: ${p.message}`);
    const more =
      this.items.length > ProblemList.SHOWN
        ? [`  ... and ${this.items.length - ProblemList.SHOWN} more`]
        : [];
    throw new EvalDataError(
      [
        `${what}: ${this.items.length} bad record${this.items.length === 1 ? '' : 's'}`,
        ...shown,
        ...more,
      ].join('\n'),
    );
  }
}
