// No imports: the workflow bundle takes this module as it is.

/** Task queues: workflows and light activities, training (GPU machines), evaluation. */
export const TASK_QUEUES = {
  main: 'llama-nas',
  train: 'llama-nas-train',
  eval: 'llama-nas-eval',
} as const;

export type QueueRole = keyof typeof TASK_QUEUES;
