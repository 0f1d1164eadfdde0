import { TASK_QUEUES, type QueueRole } from '../src/queues';

export { TASK_QUEUES, type QueueRole };

export function parseQueues(spec: string): QueueRole[] {
  return parseQueueSpec(spec).roles;
}

/**
 * `--queues main,eval` or, for a campaign whose config names other queues, `main=my-queue,eval`:
 * the roles and the task queue each one polls when it is not the default.
 */
export function parseQueueSpec(spec: string): {
  roles: QueueRole[];
  taskQueues: Partial<Record<QueueRole, string>>;
} {
  const taskQueues: Partial<Record<QueueRole, string>> = {};
  const roles = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const [role = '', name] = entry.split('=', 2).map((s) => s.trim());
      if (name !== undefined) {
        if (!name) throw new Error(`--queues: "${entry}" names no task queue after "="`);
        if (role in TASK_QUEUES) taskQueues[role as QueueRole] = name;
      }
      return role;
    });
  for (const role of roles) {
    if (!(role in TASK_QUEUES)) {
      throw new Error(
        `unknown queue "${role}" in --queues; choose from ${Object.keys(TASK_QUEUES).join(', ')}`,
      );
    }
  }
  return { roles: [...new Set(roles)] as QueueRole[], taskQueues };
}
