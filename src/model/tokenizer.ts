import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { z } from 'zod';
import { ModelFormatError } from './config';
import type { TextTokenizer } from './types';
import { zodErrorText } from '../zod-error';

const TokenRef = z.union([z.string(), z.looseObject({ content: z.string() })]).nullish();

const TokenizerConfigSchema = z.looseObject({
  bos_token: TokenRef,
  eos_token: TokenRef,
});

const TokenizerJsonSchema = z.looseObject({
  model: z.looseObject({ type: z.string().optional() }),
});

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new ModelFormatError(
      `${file}: missing (the tokenizer needs tokenizer.json and tokenizer_config.json)`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ModelFormatError(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

function tokenContent(ref: z.infer<typeof TokenRef>): string | undefined {
  if (ref == null) return undefined;
  return typeof ref === 'string' ? ref : ref.content;
}

/** Loads DIR/tokenizer.json with DIR/tokenizer_config.json; BOS/EOS come from the config. */
export async function loadTokenizer(dir: string): Promise<TextTokenizer> {
  const jsonFile = join(dir, 'tokenizer.json');
  const configFile = join(dir, 'tokenizer_config.json');
  const json = await readJson(jsonFile);
  const tj = TokenizerJsonSchema.safeParse(json);
  if (!tj.success)
    throw new ModelFormatError(`${jsonFile}: not a tokenizer.json (${zodErrorText(tj.error)})`);
  const rawConfig = await readJson(configFile);
  const cfg = TokenizerConfigSchema.safeParse(rawConfig);
  if (!cfg.success) throw new ModelFormatError(`${configFile}: ${zodErrorText(cfg.error)}`);
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json as object, rawConfig as object);
  } catch (err) {
    throw new ModelFormatError(`${jsonFile}: cannot build the tokenizer (${(err as Error).message})`);
  }
  const idOf = (ref: z.infer<typeof TokenRef>, field: string): number | undefined => {
    const content = tokenContent(ref);
    if (content === undefined) return undefined;
    const id = tokenizer.token_to_id(content);
    if (id === undefined)
      throw new ModelFormatError(`${configFile}: ${field} "${content}" is not in the vocabulary`);
    return id;
  };
  const bosId = idOf(cfg.data.bos_token, 'bos_token');
  const eosId = idOf(cfg.data.eos_token, 'eos_token');
  let vocabSize = 0;
  for (const id of tokenizer.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);
  return {
    bosId,
    eosId,
    vocabSize,
    encode: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => tokenizer.decode(ids, { skip_special_tokens: true }),
  };
}
