import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../fsutil';
import { join } from 'node:path';
import { z } from 'zod';
import { zodErrorText } from '../zod-error';

/**
 * The evaluation cache: real measurements of sub-networks, keyed by the canonical sub-network
 * key, the task, the evaluation settings and the quantization, on disk and shared by every
 * search and campaign that points at the same folder.
 *
 * Layout: <dir>/<context hash>/context.json describes one (task, settings, quantization);
 * <dir>/<context hash>/<key hash>.json holds one result. Each file is written atomically (temp
 * file, then rename), so concurrent writers never leave a torn entry; two writers of the same
 * key simply both leave a complete file.
 */
export const evaluationContextSchema = z
  .object({
    task: z.string().min(1),
    /** Everything else that changes a measurement: the checkpoint, shots, question limit, dtype... */
    settings: z.record(z.string(), z.unknown()).default({}),
    quantization: z.string().min(1).default('none'),
  })
  .strict();
export type EvaluationContextInput = z.input<typeof evaluationContextSchema>;
export type EvaluationContext = z.output<typeof evaluationContextSchema>;

const entrySchema = z
  .object({
    version: z.literal(1),
    key: z.string().min(1),
    context: evaluationContextSchema,
    values: z.record(z.string(), z.number()),
    /** Free-form details of the run (seconds, host...), not part of the identity. */
    details: z.record(z.string(), z.unknown()).default({}),
    createdAt: z.string(),
  })
  .strict();
export type CacheEntry = z.output<typeof entrySchema>;

export class CacheError extends Error {
  override name = 'CacheError';
}

/** JSON with object keys sorted at every level, so equal contexts hash equally. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new CacheError(`not JSON: ${value}`);
    if (
      value === undefined ||
      typeof value === 'function' ||
      typeof value === 'bigint' ||
      typeof value === 'symbol'
    ) {
      throw new CacheError(`not JSON: a ${typeof value}`);
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export class EvaluationCache {
  constructor(readonly dir: string) {}

  private contextDir(context: EvaluationContext): string {
    return join(this.dir, sha256(canonicalJson(context)).slice(0, 32));
  }

  private entryPath(context: EvaluationContext, key: string): string {
    return join(this.contextDir(context), `${sha256(key).slice(0, 40)}.json`);
  }

  private parseContext(input: EvaluationContextInput): EvaluationContext {
    const parsed = evaluationContextSchema.safeParse(input);
    if (!parsed.success) throw new CacheError(`evaluation context: ${zodErrorText(parsed.error)}`);
    canonicalJson(parsed.data); // settings must be plain JSON
    return parsed.data;
  }

  private readEntry(path: string): CacheEntry {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new CacheError(`${path}: not a JSON cache entry (${(e as Error).message})`);
    }
    const parsed = entrySchema.safeParse(json);
    if (!parsed.success) throw new CacheError(`${path}: ${zodErrorText(parsed.error)}`);
    return parsed.data;
  }

  /** The cached result of `key` in `context`, if any. */
  get(contextInput: EvaluationContextInput, key: string): CacheEntry | undefined {
    const context = this.parseContext(contextInput);
    const path = this.entryPath(context, key);
    if (!existsSync(path)) return undefined;
    const entry = this.readEntry(path);
    if (entry.key !== key || canonicalJson(entry.context) !== canonicalJson(context)) {
      throw new CacheError(`${path}: holds ${entry.key} in another context (hash collision or a moved file)`);
    }
    return entry;
  }

  has(context: EvaluationContextInput, key: string): boolean {
    return this.get(context, key) !== undefined;
  }

  /** Stores a result (replacing any earlier one for the same key and context). */
  put(
    contextInput: EvaluationContextInput,
    key: string,
    values: Record<string, number>,
    details: Record<string, unknown> = {},
  ): CacheEntry {
    const context = this.parseContext(contextInput);
    for (const [name, v] of Object.entries(values)) {
      if (!Number.isFinite(v))
        throw new CacheError(`cache put ${key}: value "${name}" is ${v}, not a finite number`);
    }
    const entry: CacheEntry = {
      version: 1,
      key,
      context,
      values,
      details,
      createdAt: new Date().toISOString(),
    };
    const dir = this.contextDir(context);
    mkdirSync(dir, { recursive: true });
    const contextFile = join(dir, 'context.json');
    if (!existsSync(contextFile)) writeFileAtomic(contextFile, `${JSON.stringify(context, null, 2)}\n`);
    writeFileAtomic(this.entryPath(context, key), `${JSON.stringify(entry)}\n`);
    return entry;
  }

  /** Every cached result in `context` (for a warm start), in key order. */
  entries(contextInput: EvaluationContextInput): CacheEntry[] {
    const context = this.parseContext(contextInput);
    const dir = this.contextDir(context);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => f.endsWith('.json') && f !== 'context.json')
      .map((f) => this.readEntry(join(dir, f)))
      .filter((e) => canonicalJson(e.context) === canonicalJson(context))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
