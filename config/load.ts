import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, parseCampaignConfig, type CampaignConfig } from './campaign';

/** Reads a campaign file (JSON or YAML) without validating it. */
export function readCampaignFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read the campaign config (${(err as Error).message})`);
  }
  try {
    return /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `${file}: not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(err as Error).message}`,
    );
  }
}

/** Paths in a campaign, made absolute against `baseDir` (the config file's folder). */
export function resolveCampaignPaths(config: CampaignConfig, baseDir: string): CampaignConfig {
  const abs = (p: string | undefined): string | undefined =>
    p === undefined || isAbsolute(p) ? p : resolve(baseDir, p);
  return {
    ...config,
    baseModel: config.baseModel === 'embedded' ? 'embedded' : abs(config.baseModel)!,
    outDir: abs(config.outDir),
    finetune: {
      ...config.finetune,
      superNetwork: abs(config.finetune.superNetwork),
      data: abs(config.finetune.data),
    },
    tasks: config.tasks.map((t) => ({ ...t, data: abs(t.data) })),
  };
}

/** Loads, validates and resolves a campaign file; errors name the file and the field. */
export function loadCampaignFile(file: string): CampaignConfig {
  return resolveCampaignPaths(parseCampaignConfig(readCampaignFile(file), file), dirname(resolve(file)));
}
