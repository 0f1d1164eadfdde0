import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLlamaConfig } from '../src/model/config';
import { countParameters } from '../src/model/size';
import {
  calibrationSubnets,
  checkTargets,
  childCpuSeconds,
  evaluateWorld,
  loadAverage,
  PAPER_SHOTS,
  shuffleMmluOptions,
} from '../src/world/calibrate';
import { ensureEmbeddedWorld, fineTuneEmbeddedWorld } from '../src/world/embedded';
import { generateWorld } from '../src/world/generate';
import { Rng } from '../src/world/rng';
import { FULL_SCALE, REDUCED_SCALE } from '../src/world/world';

/**
 * Calibration of the embedded world: generation time, pre-training and InstaTune times (wall and
 * CPU, with the machine's load, since the machine may be shared), then the five task scores of the
 * full fine-tuned super-network, the smallest sub-network and two in between, against the targets.
 * Cached stages are not re-run (their times are those of the run that built them): clear
 * <LLAMA_NAS_HOME>/world to measure from scratch.
 *
 * LLAMA_NAS_WORLD_SEED (default 1) and LLAMA_NAS_WORLD_SCALE (full | reduced) choose the world.
 */
export async function run({ json }: { json: boolean }): Promise<void> {
  const seed = Number(process.env.LLAMA_NAS_WORLD_SEED ?? 1);
  const scaleName = process.env.LLAMA_NAS_WORLD_SCALE === 'reduced' ? 'reduced' : 'full';
  const log = (msg: string): void => {
    if (!json) console.log(msg);
  };
  const load0 = loadAverage();

  // generation measured in full (render and write every file), into a folder thrown away after
  const scratch = mkdtempSync(join(tmpdir(), 'bench-world-'));
  const g0 = performance.now();
  try {
    generateWorld(scratch, { seed, scale: scaleName === 'reduced' ? REDUCED_SCALE : FULL_SCALE });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const generateSeconds = (performance.now() - g0) / 1000;
  log(`world generation (seed ${seed}, ${scaleName}, files written): ${generateSeconds.toFixed(1)} s`);

  let lastStage = '';
  const progress = (p: { stage: string; message: string; step?: number }): void => {
    if (p.stage !== lastStage || (p.step ?? 0) % 50 === 0) log(`  ${p.message}`);
    lastStage = p.stage;
  };
  const cpu0 = childCpuSeconds();
  const world = await ensureEmbeddedWorld({ seed, scale: scaleName, onProgress: progress });
  const cpu1 = childCpuSeconds();
  const ft = await fineTuneEmbeddedWorld(world, { onProgress: progress });
  const cpu2 = childCpuSeconds();
  const load1 = loadAverage();
  const cpuNote = (a?: number, b?: number): string =>
    a !== undefined && b !== undefined && b > a ? `, ${(b - a).toFixed(0)} CPU-s in this run` : ' (cached)';
  log(`pre-training: ${world.timings.pretrainSeconds.toFixed(0)} s wall${cpuNote(cpu0, cpu1)}`);
  log(`InstaTune: ${ft.seconds.toFixed(0)} s wall${ft.cached ? ' (cached)' : cpuNote(cpu1, cpu2)}`);
  log(
    `machine: ${cpus().length} cores, load average ${load0.toFixed(1)} at start, ${load1.toFixed(1)} after training ` +
      `(a shared machine: wall times stretch with the load, CPU seconds do not)`,
  );

  const config = loadLlamaConfig(ft.superNetworkDir);
  const subnets = calibrationSubnets(
    config.numLayers,
    world.searchSpace.layerCounts,
    world.searchSpace.widths,
  );
  const scores = await evaluateWorld(ft.superNetworkDir, world.tasks, subnets, {
    onProgress: (m) => log(`  ${m}`),
  });
  // Not a target: MMLU with the catalogue order undone measures in-context symbol binding (README).
  const [binding] = await evaluateWorld(ft.superNetworkDir, world.tasks, [subnets[0]!], {
    tasks: ['mmlu'],
    transform: (task) => shuffleMmluOptions(task, new Rng(seed).fork('shuffled-options')),
  });
  const shuffledMmlu = binding!.tasks[0]!;
  const targets = checkTargets(scores, {
    generateSeconds,
    pretrainSeconds: world.timings.pretrainSeconds,
    instatuneSeconds: ft.seconds,
  });

  if (json) {
    console.log(
      JSON.stringify({
        seed,
        scale: scaleName,
        generateSeconds,
        pretrainSeconds: world.timings.pretrainSeconds,
        pretrainCpuSeconds: cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : null,
        instatuneSeconds: ft.seconds,
        instatuneCpuSeconds: cpu1 !== undefined && cpu2 !== undefined ? cpu2 - cpu1 : null,
        loadAverage: [load0, load1],
        shots: PAPER_SHOTS,
        scores: scores.map((s) => ({
          subnet: s.subnet.name,
          spec: s.subnet.spec,
          parameters: countParameters(config, s.subnet.spec).total,
          tasks: s.tasks,
        })),
        targets,
        shuffledOptionsMmlu: shuffledMmlu,
      }),
    );
    return;
  }
  const tasks = scores[0]!.tasks.map((t) => t.task);
  const pad = (s: string, n: number): string => s.padEnd(n);
  log('');
  log(`${pad('sub-network', 26)}${pad('params', 9)}${tasks.map((t) => pad(t, 16)).join('')}`);
  log(
    `${pad('chance', 26)}${pad('', 9)}${scores[0]!.tasks.map((t) => pad(t.chance.toFixed(1), 16)).join('')}`,
  );
  for (const s of scores) {
    const label = `${s.subnet.name} (L${s.subnet.spec.layers})`;
    const params = countParameters(config, s.subnet.spec).total;
    log(
      `${pad(label, 26)}${pad(String(params), 9)}${s.tasks.map((t) => pad(`${t.acc.toFixed(1)} ±${t.stderr.toFixed(1)}`, 16)).join('')}`,
    );
  }
  log(`(shots: ${tasks.map((t) => `${t} ${PAPER_SHOTS[t]}`).join(', ')})`);
  log(
    `full network on MMLU with the options shuffled (in-context symbol binding, not a target): ` +
      `${shuffledMmlu.acc.toFixed(1)} ±${shuffledMmlu.stderr.toFixed(1)}`,
  );
  log('');
  for (const t of targets) log(`${t.holds ? 'HOLDS ' : 'MISSES'} ${t.name}: ${t.detail}`);
}
