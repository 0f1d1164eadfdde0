import { TASK_QUEUES, type QueueRole } from '../src/queues';

export { TASK_QUEUES, type QueueRole };

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
