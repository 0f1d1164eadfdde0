import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigError, parseCampaignConfig, type TaskName } from '../../config/campaign';
import { loadTask } from '../eval/tasks';
import { writeJsonAtomic } from '../fsutil';
import { openCheckpoint } from '../model/checkpoint';
import { loadLlamaConfig } from '../model/config';
import { createSpace, fullNetwork, type SearchSpace, type SearchSpaceInput } from '../search/space';
import { stateDir } from '../toolchain';
import { parseTrainConfig, TrainConfigError } from '../trainer';
import { ensureEmbeddedWorld, type EnsureWorldOptions } from '../world/embedded';
import { campaignFile } from './layout';
import type { PreparedCampaign, PreparedTask } from './types';

/** The default elastic space of a base model: {0.75, 0.875, 1} x layers, {1/2, 1} x MLP width. */
export function defaultSpace(numLayers: number, intermediate: number): SearchSpaceInput {
  const layers = [...new Set([Math.round(numLayers * 0.75), Math.round(numLayers * 0.875), numLayers])];
  return { layerCounts: layers, widths: [Math.floor(intermediate / 2), intermediate] };
}

/** A space must fit the base model: no more layers, no wider MLPs than it has. */
function checkSpace(
  space: SearchSpace,
  base: { numLayers: number; intermediateSize: number },
  field: string,
): void {
  const layers = Math.max(...space.layerCounts);
  if (layers > base.numLayers) {
    throw new ConfigError(
      `campaign config: field ${field}: ${layers} layers, but the base model has ${base.numLayers}`,
    );
  }
  const widest = Math.max(...space.widths.flat());
  if (widest > base.intermediateSize) {
    throw new ConfigError(
      `campaign config: field ${field}: MLP width ${widest}, but the base model's is ${base.intermediateSize}`,
    );
  }
}

export interface PrepareOptions {
  /** Progress of building the embedded world, when the campaign runs on it. */
  onProgress?: EnsureWorldOptions['onProgress'];
  signal?: AbortSignal;
}

/**
 * Checks every input of a campaign before anything runs (config, checkpoint, data files),
 * resolves its paths, normalises its space, and writes the result as the campaign's campaign.json.
 */
export async function prepareCampaign(raw: unknown, opts: PrepareOptions = {}): Promise<PreparedCampaign> {
  const config = parseCampaignConfig(raw, 'campaign config');
  const home = stateDir();
  let baseModelDir = config.baseModel;
  let instructionData = config.finetune.data;
  let taskData: Partial<Record<TaskName, string>> = {};
  let worldSpace: SearchSpaceInput | undefined;
  let trainerDefaults: Record<string, unknown> = {};
  if (config.baseModel === 'embedded') {
    const world = await ensureEmbeddedWorld({
      seed: config.worldSeed,
      scale: config.worldScale,
      onProgress: opts.onProgress,
      signal: opts.signal,
    });
    baseModelDir = world.baseModelDir;
    instructionData ??= world.instructionData;
    taskData = world.tasks;
    worldSpace = world.searchSpace;
    const { description: _description, ...instatune } = world.configs.instatune as Record<string, unknown>;
    trainerDefaults = instatune;
  }
  await openCheckpoint(baseModelDir); // a bad checkpoint fails here, naming the file and tensor
  const base = loadLlamaConfig(baseModelDir);
  const tasks: PreparedTask[] = config.tasks.map((t) => {
    const dataPath = t.data ?? taskData[t.name];
    if (!dataPath) throw new ConfigError(`campaign config: field tasks: no data for ${t.name}`);
    loadTask(t.name, dataPath, { fewshot: (t.shots ?? 0) > 0 }); // a bad row fails here, naming file and line
    return { name: t.name, dataPath, shots: t.shots, limit: t.limit, fraction: t.fraction };
  });
  if (!config.finetune.skip && !config.finetune.superNetwork && !instructionData) {
    throw new ConfigError('campaign config: field finetune.data: instruction data is needed to fine-tune');
  }
  const space = createSpace(
    config.searchSpace ?? worldSpace ?? defaultSpace(base.numLayers, base.intermediateSize),
  );
  checkSpace(space, base, config.searchSpace ? 'searchSpace' : "the base model's default space");
  const campaignDir = config.outDir ?? join(home, 'campaigns', config.name);
  mkdirSync(campaignDir, { recursive: true });
  const prepared: PreparedCampaign = {
    config,
    campaignDir,
    baseModelDir,
    instructionData,
    tasks,
    space,
    fullNetwork: fullNetwork(space),
    trainerDefaults,
    cacheDir: join(home, 'cache', 'evaluations'),
    baseModelName:
      config.baseModel === 'embedded' ? `embedded-world-${config.worldSeed}` : basename(baseModelDir),
  };
  if (!config.finetune.skip && !config.finetune.superNetwork) instatuneConfig(prepared);
  writeJsonAtomic(campaignFile(campaignDir), prepared);
  return prepared;
}

/** The trainer config of the campaign's InstaTune stage, validated (errors name finetune.trainer). */
export function instatuneConfig(campaign: PreparedCampaign): Record<string, unknown> {
  const widths = [...new Set(campaign.space.widths.flat())].sort((a, b) => a - b);
  const config = {
    ...campaign.trainerDefaults,
    ...campaign.config.finetune.trainer,
    model: campaign.baseModelDir,
    data: { path: campaign.instructionData, format: 'alpaca' },
    search_space: { layers: campaign.space.layerCounts, intermediate: widths },
  };
  try {
    parseTrainConfig(config, 'campaign config field finetune.trainer', 'instatune');
  } catch (err) {
    if (err instanceof TrainConfigError) throw new ConfigError(err.message);
    throw err;
  }
  return config;
}

/**
 * Where InstaTune writes the campaign's super-network, with the trainer config: the folder is
 * named by the content of what goes in (base checkpoint, data, hyper-parameters, space), so a
 * rerun reuses a finished run and a retry resumes from its newest checkpoint.
 */
export async function instatuneRun(
  campaign: PreparedCampaign,
): Promise<{ config: Record<string, unknown>; out: string }> {
  const base = await openCheckpoint(campaign.baseModelDir);
  const config = instatuneConfig(campaign);
  const id = createHash('sha256')
    .update(JSON.stringify([base.identity, config]))
    .digest('hex')
    .slice(0, 16);
  return { config, out: join(stateDir(), 'supernets', id) };
}
