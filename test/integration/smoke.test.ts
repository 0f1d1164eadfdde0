import { createWorkers } from '../../workers/run';
import { TASK_QUEUES } from '../../workers/queues';
import { testClient, uniqueId, withWorkers } from '../helpers/temporal';

describe('a real worker on the real dev server', () => {
  it('runs the probe workflow and its activity end to end', async () => {
    const { client, close } = await testClient();
    try {
      const workers = await createWorkers({ roles: ['main'] });
      const result = await withWorkers(workers, () =>
        client.workflow.execute('probeWorkflow', {
          taskQueue: TASK_QUEUES.main,
          workflowId: uniqueId('probe'),
          args: [],
        }),
      );
      expect(result.node).toBe(process.version);
      expect(result.cpus).toBeGreaterThan(0);
      const history = await client.workflow
        .getHandle(uniqueId('none'))
        .describe()
        .catch((e: Error) => e);
      expect(history).toBeInstanceOf(Error);
    } finally {
      await close();
    }
  });
});
