// Preparing a campaign and fine-tuning its super-network: Temporal wrappers over src/campaign/prepare.ts.
import { Context } from '@temporalio/activity';
import { instatuneRun, prepareCampaign as prepare } from '../src/campaign/prepare';
import type { PreparedCampaign } from '../src/campaign/types';
import { openCheckpoint } from '../src/model/checkpoint';
import { classified, failIfInjected } from './failures';
import { trainModel } from './train';

/** Checks every input of a campaign before anything runs: config, checkpoint, data files. */
export async function prepareCampaign(raw: unknown): Promise<PreparedCampaign> {
  return classified(() =>
    prepare(raw, {
      onProgress: (p) => Context.current().heartbeat(p),
      signal: Context.current().cancellationSignal,
    }),
  );
}

/**
 * InstaTune: fine-tunes the base model so that its sub-networks work too, or returns the
 * super-network the campaign reuses. A rerun reuses a finished run; a retry resumes from its
 * newest checkpoint (src/campaign/prepare.ts instatuneRun names the folder by its inputs).
 */
export async function instatuneSuperNetwork(campaign: PreparedCampaign): Promise<string> {
  return classified(async () => {
    const { config } = campaign;
    if (config.finetune.superNetwork) {
      await openCheckpoint(config.finetune.superNetwork);
      return config.finetune.superNetwork;
    }
    if (config.finetune.skip) return campaign.baseModelDir;
    failIfInjected(config.faultInjection);
    const run = await instatuneRun(campaign);
    const result = await trainModel({ mode: 'instatune', config: run.config, out: run.out });
    return result.out;
  });
}
