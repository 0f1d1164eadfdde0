import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CampaignConfigInput } from '../../config/campaign';
import type { ArtifactRow } from '../../src/campaign/artifacts';
import { readGguf } from '../../src/model/gguf';
import type { CampaignResult } from '../../workflows/campaign';
import { describeRealModel, realModel } from '../helpers/real-model';
import { writeTaskData } from '../helpers/real-model-data';
import { killHard, startWorkerProcess } from '../helpers/reduced-campaign';
import { testClient } from '../helpers/temporal';

/**
 * A short campaign on SmolLM2-135M (imported from its GGUF) through the real Temporal server and
 * a worker process: two tasks on rows in their original formats, a small LINAS budget over
 * 10-12 layers of 512 or 1024 MLP channels, int8 of the fronts, and the report listing each
 * front point's ONNX and GGUF. Fine-tuning is skipped here (the InstaTune test covers it).
 */
jest.setTimeout(1_500_000);

describeRealModel('SmolLM2-135M (imported from GGUF): a campaign', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'real-campaign-'));
  });
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('searches two tasks, quantizes the fronts and reports ONNX and GGUF models of every front point', async () => {
    const model = await realModel();
    const data = writeTaskData(join(dir, 'data'));
    const config: CampaignConfigInput = {
      name: 'smollm2-real',
      baseModel: model.dir,
      outDir: join(dir, 'campaign'),
      finetune: { skip: true },
      tasks: [
        { name: 'arc_easy', data: data.arc_easy, limit: 8 },
        { name: 'winogrande', data: data.winogrande, limit: 8 },
      ],
      searchSpace: { layerCounts: [10, 12], widths: [512, 1024] },
      linas: { population: 4, evaluations: 4, predictorEvaluations: 200, seed: 0 },
      quantization: ['int8'],
      maxConcurrentEvaluations: 1,
    };
    const home = join(dir, 'home');
    const worker = startWorkerProcess(home, process.env.TEMPORAL_ADDRESS!);
    const { client, close } = await testClient(process.env.TEMPORAL_ADDRESS!);
    try {
      const handle = await client.workflow.start('llamaNasCampaign', {
        taskQueue: 'llama-nas',
        workflowId: `campaign-smollm2-real-${Date.now()}`,
        args: [config],
      });
      const result = (await handle.result()) as CampaignResult;
      expect(Object.keys(result.fronts).sort()).toEqual(['arc_easy', 'winogrande']);
      expect(result.quantized.length).toBeGreaterThan(0);
      for (const q of result.quantized) expect(q.quant).toBe('int8');
      const rows = JSON.parse(
        readFileSync(join(result.reportDir, 'tables', 'models.json'), 'utf8'),
      ) as ArtifactRow[];
      // every front point of both tasks, float and int8
      for (const task of ['arc_easy', 'winogrande'])
        for (const quant of ['none', 'int8'])
          expect(rows.some((r) => r.task === task && r.quant === quant)).toBe(true);
      const html = readFileSync(join(result.reportDir, 'report.html'), 'utf8');
      for (const r of rows) {
        expect(existsSync(join(result.reportDir, r.onnx))).toBe(true);
        expect(html).toContain(r.onnx);
        expect(html).toContain(r.gguf);
        const g = readGguf(join(result.reportDir, r.gguf));
        expect(g.metadata.get('general.architecture')!.value).toBe(r.ggufArchitecture);
        expect(g.metadata.get(`${r.ggufArchitecture}.block_count`)!.value).toBe(r.layers);
        expect(g.tensors.get('blk.0.attn_q.weight')!.type).toBe(r.quant === 'int8' ? 8 : 1); // Q8_0 : F16
        expect(g.metadata.get('tokenizer.ggml.pre')!.value).toBe('smollm');
        // the int8 ONNX is smaller than the float one of the same sub-network
        const float = rows.find((f) => f.key === r.key && f.quant === 'none');
        if (r.quant === 'int8' && float) expect(r.onnxBytes).toBeLessThan(float.onnxBytes);
      }
      console.log(
        `campaign on SmolLM2-135M: ${rows.length} front models\n` +
          rows
            .map(
              (r) =>
                `${r.front} ${r.layers} layers ${r.widths}: ${(100 * r.accuracy).toFixed(1)}%, ${r.gguf} (${r.ggufArchitecture})`,
            )
            .join('\n'),
      );
    } finally {
      await close();
      await killHard(worker);
    }
  });
});
