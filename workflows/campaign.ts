import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  defineQuery,
  defineSignal,
  executeChild,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import type { EvaluationResult, PreparedCampaign, SearchProgress } from '../src/campaign/types';
import type { SubnetSpec } from '../src/model/types';
import { NON_RETRYABLE, evaluationOptions, evaluationRequest } from './options';
import { linasSearch, pauseSignal, resumeSignal, searchWorkflowId } from './search';

export type CampaignStage =
  'preparing' | 'fine-tuning' | 'searching' | 'quantizing' | 'confirming' | 'analysing' | 'done';

export interface CampaignStatus {
  stage: CampaignStage;
  campaignDir?: string;
  superNetwork?: string;
  searches: { task: string; workflowId: string }[];
  fronts: Record<string, SearchProgress['front']>;
  quantized: number;
}

export interface CampaignResult {
  campaignDir: string;
  superNetwork: string;
  reportDir: string;
  resultsFile: string;
  fronts: Record<string, SearchProgress['front']>;
  /** The full network per task, in float: the point every sub-network is compared with. */
  fullNetwork: EvaluationResult[];
  quantized: EvaluationResult[];
  heuristics: EvaluationResult[];
}

export const campaignStatusQuery = defineQuery<CampaignStatus>('status');
export const pauseCampaignSignal = defineSignal('pause');
export const resumeCampaignSignal = defineSignal('resume');

/**
 * The full network of a campaign prepared before #16, whose space is as configured (one width
 * list shared by all layers, or one per layer) and which carries no `fullNetwork`.
 */
function legacyFullNetwork(space: { layerCounts: number[]; widths: number[] | number[][] }): SubnetSpec {
  const layers = Math.max(...space.layerCounts);
  const options = (i: number) =>
    (typeof space.widths[0] === 'number' ? space.widths : space.widths[i]) as number[];
  return { layers, intermediate: Array.from({ length: layers }, (_, i) => Math.max(...options(i))) };
}

interface RawTimeouts {
  heartbeatTimeouts?: { trainSeconds?: unknown };
}

/**
 * A LLaMA-NAS campaign: check the inputs, fine-tune the super-network (InstaTune), search each
 * task with LINAS in a child workflow of its own, quantize and re-evaluate each front, evaluate
 * the heuristic architectures the analysis suggests, and write the report.
 */
export async function llamaNasCampaign(config: unknown): Promise<CampaignResult> {
  const info = workflowInfo();
  // before #16, prepareCampaign returned the space as configured and no full network
  const preparedByV16 = patched('16-prepared-full-network');
  const prepare = proxyActivities<typeof activities>({
    taskQueue: info.taskQueue,
    startToCloseTimeout: '2 hours',
    // the raw config is not validated yet: read the one setting needed, falling back to the default
    heartbeatTimeout:
      (Number((config as RawTimeouts | undefined)?.heartbeatTimeouts?.trainSeconds) || 300) * 1000,
    retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
  });
  const status: CampaignStatus = { stage: 'preparing', searches: [], fronts: {}, quantized: 0 };
  setHandler(campaignStatusQuery, () => status);

  const campaign: PreparedCampaign = await prepare.prepareCampaign(config);
  const { config: cfg } = campaign;
  status.campaignDir = campaign.campaignDir;
  upsertSearchAttributes({ CampaignName: [cfg.name], BaseModel: [campaign.baseModelName] });

  const train = proxyActivities<typeof activities>({
    taskQueue: cfg.queues.train,
    startToCloseTimeout: '72 hours',
    heartbeatTimeout: cfg.heartbeatTimeouts.trainSeconds * 1000,
    retry: {
      initialInterval: '5 seconds',
      maximumInterval: '5 minutes',
      maximumAttempts: 50,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  });
  const evaluate = proxyActivities<typeof activities>(evaluationOptions(cfg));
  const light = proxyActivities<typeof activities>({
    taskQueue: cfg.queues.main,
    startToCloseTimeout: '30 minutes',
    retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
  });

  // 1. Elastic fine-tuning (or a super-network reused as it is)
  status.stage = 'fine-tuning';
  const superNetwork = await train.instatuneSuperNetwork(campaign);
  status.superNetwork = superNetwork;

  // 2. One LINAS search per task, in parallel, each a child workflow with its own history
  status.stage = 'searching';
  const children = campaign.tasks.map((task) => ({
    task: task.name,
    workflowId: searchWorkflowId(info.workflowId, task.name),
  }));
  status.searches = children;
  const forward = (signal: typeof pauseSignal | typeof resumeSignal) => () => {
    for (const c of children)
      void getExternalWorkflowHandle(c.workflowId)
        .signal(signal)
        .catch(() => undefined);
  };
  setHandler(pauseCampaignSignal, forward(pauseSignal));
  setHandler(resumeCampaignSignal, forward(resumeSignal));
  const finals = await Promise.all(
    campaign.tasks.map((task, i) =>
      executeChild(linasSearch, {
        workflowId: children[i].workflowId,
        taskQueue: cfg.queues.main,
        args: [{ campaign, task, modelDir: superNetwork }],
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        workflowTaskTimeout: '1 minute',
      }),
    ),
  );
  finals.forEach((f, i) => (status.fronts[campaign.tasks[i].name] = f.front));

  // 3. The full network as the reference point, then each front quantized and evaluated again
  status.stage = 'quantizing';
  const full = preparedByV16 ? campaign.fullNetwork : legacyFullNetwork(campaign.space);
  const jobs = [
    ...campaign.tasks.map((task) => ({ quant: 'none' as const, task, subnet: full })),
    ...cfg.quantization.flatMap((quant) =>
      campaign.tasks.flatMap((task, i) => [
        { quant, task, subnet: full },
        ...finals[i].front.map((point) => ({ quant, task, subnet: point.subnet })),
      ]),
    ),
  ];
  const quantized: EvaluationResult[] = [];
  const fullNetwork: EvaluationResult[] = [];
  for (let start = 0; start < jobs.length; start += cfg.maxConcurrentEvaluations) {
    const batch = jobs.slice(start, start + cfg.maxConcurrentEvaluations);
    const done = await Promise.all(
      batch.map((j) =>
        evaluate.evaluateSubnet(evaluationRequest(campaign, superNetwork, j.task, j.subnet, j.quant)),
      ),
    );
    quantized.push(...done.filter((r) => r.quant !== 'none'));
    fullNetwork.push(...done.filter((r) => r.quant === 'none'));
    status.quantized = quantized.length;
  }

  // 4. The heuristic architectures suggested by the width analysis, evaluated to confirm them
  status.stage = 'confirming';
  const suggestions = await light.suggestHeuristics({ campaign, superNetwork });
  const heuristics: EvaluationResult[] = [];
  for (const s of suggestions) {
    const task = campaign.tasks.find((t) => t.name === s.task);
    if (!task) throw ApplicationFailure.nonRetryable(`heuristic for unknown task ${s.task}`);
    heuristics.push(await evaluate.evaluateSubnet(evaluationRequest(campaign, superNetwork, task, s.subnet)));
  }

  // 5. Analysis and report; not cancelled with the campaign once started, so the files stay whole
  status.stage = 'analysing';
  const report = await CancellationScope.nonCancellable(() =>
    light.writeCampaignReport({ campaign, superNetwork, heuristics: heuristics.map((h) => h.key) }),
  );
  status.stage = 'done';
  return {
    campaignDir: campaign.campaignDir,
    superNetwork,
    reportDir: report.reportDir,
    resultsFile: report.resultsFile,
    fronts: status.fronts,
    fullNetwork,
    quantized,
    heuristics,
  };
}
