import { EvalDataError } from './errors';
import { PyRandom } from './pyrandom';
import type { TaskDefinition } from './tasks';
import type { LoadedTask, McDoc } from './types';

/** Harness defaults: a space between question and answer, a blank line after each shot. */
export const TARGET_DELIMITER = ' ';
export const FEWSHOT_DELIMITER = '\n\n';

/** The two strings of one loglikelihood request, before tokenization. */
export interface TextRequest {
  context: string;
  continuation: string;
}

/** How the few-shot draw was made, as recorded in the results. */
export function describeFewshotDraw(def: TaskDefinition, seed: number): string {
  if (def.sampler === 'first_n') return `first k rows of the ${def.fewshotSplit} split, per subject`;
  if (def.sampler === 'random') {
    const k = def.drawsExtraShot ? 'k+1 (the first k kept)' : 'k';
    return (
      `CPython random.Random(${seed}).sample(${def.fewshotSplit}_docs, ${k}) drawn once per document of the full ` +
      `${def.evalSplit} split in file order (lm-evaluation-harness v0.4 ContextSampler), before --limit/--fraction`
    );
  }
  return 'none (zero-shot task)';
}

function sameDoc(a: McDoc, b: McDoc): boolean {
  return (
    a.id === b.id &&
    a.text === b.text &&
    a.gold === b.gold &&
    a.target === b.target &&
    a.choices.length === b.choices.length &&
    a.choices.every((c, i) => c === b.choices[i])
  );
}

/**
 * Few-shot documents for every evaluation document, in evaluation order. The random sampler is
 * one generator shared by all documents in order (as the harness's is), so document i's shots
 * depend on the draws for documents 0..i-1: we draw for the whole split and select afterwards,
 * so a document gets the same shots whatever subset is evaluated.
 */
export function drawShots(def: TaskDefinition, task: LoadedTask, shots: number, seed: number): McDoc[][] {
  if (shots === 0) return task.docs.map(() => []);
  if (def.sampler === null) throw new Error(`${def.name} is zero-shot only`);
  const pool = task.fewshotDocs;
  if (!pool)
    throw new Error(`${def.name}: few-shot documents were not loaded (load the task with { fewshot: true })`);
  if (def.sampler === 'first_n') {
    const bySubject = new Map<string, McDoc[]>();
    for (const doc of pool) {
      const list = bySubject.get(doc.subject ?? '') ?? [];
      list.push(doc);
      bySubject.set(doc.subject ?? '', list);
    }
    return task.docs.map((doc) => {
      const available = bySubject.get(doc.subject ?? '') ?? [];
      if (available.length < shots) {
        throw new EvalDataError(
          `${def.name}: ${shots} shots asked but the ${def.fewshotSplit} split has ${available.length} rows for ${doc.subject}`,
        );
      }
      return available.slice(0, shots);
    });
  }
  const draw = def.drawsExtraShot ? shots + 1 : shots;
  if (pool.length < draw)
    throw new EvalDataError(
      `${def.name}: ${draw} shots to draw but the ${def.fewshotSplit} split has ${pool.length} rows`,
    );
  const rnd = new PyRandom(seed);
  return task.docs.map((doc) =>
    rnd
      .sampleIndices(pool.length, draw)
      .map((i) => pool[i]!)
      .filter((shot) => !sameDoc(shot, doc))
      .slice(0, shots),
  );
}

/**
 * One solved example: text(shot) + " " + answer(shot) + "\n\n". The harness skips delimiter,
 * answer and blank line when doc_to_target is the empty string, which only WinoGrande's string
 * target can be (a sentence ending at its blank); other tasks' targets are indices.
 */
export function formatShot(def: TaskDefinition, shot: McDoc): string {
  const text = def.multipleInput ? shot.choices[shot.gold]! : shot.text;
  const answer = def.multipleInput ? shot.target! : shot.choices[shot.gold]!;
  return def.multipleInput && answer === '' ? text : text + TARGET_DELIMITER + answer + FEWSHOT_DELIMITER;
}

/**
 * The requests of one document: description + shots + text(doc) as context and " " + choice as
 * continuation; for WinoGrande each choice ends its own context and the continuation is shared.
 */
export function buildRequests(def: TaskDefinition, doc: McDoc, shotDocs: McDoc[]): TextRequest[] {
  const prefix = def.description(doc) + shotDocs.map((s) => formatShot(def, s)).join('');
  if (def.multipleInput) {
    return doc.choices.map((choice) => ({
      context: prefix + choice,
      continuation: TARGET_DELIMITER + doc.target!,
    }));
  }
  const context = prefix + doc.text;
  return doc.choices.map((choice) => ({ context, continuation: TARGET_DELIMITER + choice }));
}
