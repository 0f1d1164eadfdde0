/** Task queues: workflows and light activities, training (GPU machines), evaluation. */
export const TASK_QUEUES = {
  main: 'llama-nas',
  train: 'llama-nas-train',
  eval: 'llama-nas-eval',
} as const;

export type QueueRole = keyof typeof TASK_QUEUES;

export function parseQueues(spec: string): QueueRole[] {
  const roles = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const role of roles) {
    if (!(role in TASK_QUEUES)) {
      throw new Error(
        `unknown queue "${role}" in --queues; choose from ${Object.keys(TASK_QUEUES).join(', ')}`,
      );
    }
  }
  return [...new Set(roles)] as QueueRole[];
}
