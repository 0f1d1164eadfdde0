import {
  ApplicationFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import type { EvaluationResult, PreparedCampaign, PreparedTask, SearchProgress } from '../src/campaign/types';
import { NON_RETRYABLE, evaluationOptions, evaluationRequest } from './options';
import { slidingWindow } from './window';

export interface SearchInput {
  campaign: PreparedCampaign;
  task: PreparedTask;
  /** The fine-tuned super-network whose sub-networks are searched. */
  modelDir: string;
}

/** What a search carries across continue-as-new. */
export interface SearchCarry {
  progress: SearchProgress;
  extraBudget: number;
  paused: boolean;
}

export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const extendBudgetUpdate = defineUpdate<number, [number]>('extendBudget');
export const searchProgressQuery = defineQuery<SearchStatus>('progress');

export interface SearchStatus extends Omit<SearchProgress, 'stateFile'> {
  task: string;
  paused: boolean;
  inFlight: number;
}

/** Ceiling of extendBudget: one update can at most multiply the planned budget by ten. */
const MAX_EXTENSION_FACTOR = 10;

function queues(input: SearchInput) {
  const { config } = input.campaign;
  const light = proxyActivities<typeof activities>({
    taskQueue: config.queues.main,
    // search steps take seconds; a lost worker's step is retried elsewhere after this long
    startToCloseTimeout: '2 minutes',
    retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
  });
  const evaluate = proxyActivities<typeof activities>(evaluationOptions(config));
  return { light, evaluate };
}

/**
 * The LINAS ask/tell loop for one task: propose a batch (an activity over the search library),
 * evaluate it for real with a bounded number in flight (the cache answers repeats), record,
 * and continue-as-new after every loop so the history stays small.
 */
export async function linasSearch(input: SearchInput, carry?: SearchCarry): Promise<SearchProgress> {
  const { campaign, task } = input;
  const { config } = campaign;
  const { light, evaluate } = queues(input);
  const plannedBudget = config.linas.evaluations;
  let extraBudget = carry?.extraBudget ?? 0;
  let paused = carry?.paused ?? false;
  let inFlight = 0;
  let progress: SearchProgress = carry?.progress ?? {
    stateFile: '',
    loop: 0,
    evaluated: 0,
    budget: plannedBudget,
    done: false,
    hypervolume: 0,
    front: [],
  };

  upsertSearchAttributes({
    CampaignName: [config.name],
    BaseModel: [campaign.baseModelName],
    NasTask: [task.name],
  });
  setHandler(pauseSignal, () => void (paused = true));
  setHandler(resumeSignal, () => void (paused = false));
  setHandler(
    extendBudgetUpdate,
    (more: number) => {
      extraBudget += more;
      return plannedBudget + extraBudget;
    },
    {
      validator: (more: number) => {
        if (!Number.isInteger(more) || more <= 0)
          throw new Error(`extendBudget: ${more} is not a positive whole number`);
        if (extraBudget + more > plannedBudget * MAX_EXTENSION_FACTOR) {
          throw new Error(
            `extendBudget: at most ${plannedBudget * MAX_EXTENSION_FACTOR} extra evaluations in all`,
          );
        }
      },
    },
  );
  setHandler(searchProgressQuery, () => {
    const { stateFile: _stateFile, ...rest } = progress;
    return { ...rest, budget: plannedBudget + extraBudget, task: task.name, paused, inFlight };
  });

  const gate = () => condition(() => !paused);
  const maxSizeBytes = config.constraints.maxSizeGiB ? config.constraints.maxSizeGiB * 2 ** 30 : undefined;

  for (;;) {
    await gate();
    const proposal = await light.searchPropose({
      stateFile: progress.stateFile || undefined,
      task: task.name,
      campaign,
      evaluation: task,
      modelDir: input.modelDir,
      space: campaign.space,
      linas: config.linas,
      objectives: config.objectives,
      maxSizeBytes,
      budget: plannedBudget + extraBudget,
    });
    if (proposal.done) return { ...progress, stateFile: proposal.stateFile, done: true };

    const requests = proposal.candidates.map((c) =>
      evaluationRequest(campaign, input.modelDir, task, c.subnet),
    );
    const results: EvaluationResult[] = await slidingWindow(
      requests,
      config.maxConcurrentEvaluations,
      (r) => evaluate.evaluateSubnet(r),
      gate,
      (n) => void (inFlight = n),
    );
    progress = await light.searchRecord({
      stateFile: proposal.stateFile,
      results,
      objectives: config.objectives,
    });
    if (progress.evaluated === 0) {
      throw ApplicationFailure.nonRetryable(
        `search ${task.name}: a loop recorded no evaluation`,
        'SearchStalled',
      );
    }
    // one loop per run keeps every history far from its limits; the state lives in files
    await continueAsNew<typeof linasSearch>(input, { progress, extraBudget, paused });
  }
}

export function searchWorkflowId(campaignWorkflowId: string, task: string): string {
  return `${campaignWorkflowId}/search/${task}`;
}
