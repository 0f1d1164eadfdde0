import { cpus, hostname } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { ModelFormatError } from '../model/config';
import type { PackedRow, SequenceScorer, SubnetSpec } from '../model/types';
import { requireTorchPython } from '../toolchain';
import { trainerPackageDir } from '../trainer/process';
import type { ScoringBackend } from './backend';
import { decodeScores, encodeFrame, encodeRows, FrameReader, type Frame } from './torch-frames';

/**
 * The PyTorch scoring backend: a long-lived Python process (python3 -m llama_nas_trainer.scoring)
 * holds the super-network, loaded once; each sub-network is scored in place (the first L layers
 * and first k MLP channels as views of the loaded weights). Rows go to it as int32 arrays and
 * scores come back as float32 in length-prefixed frames (src/eval/torch-frames.ts).
 *
 * Failures: a dead process, a lost device or an out-of-memory at batch 1 throw
 * ScoringDeviceFailure (retryable: the next call starts a new process and reopens the
 * sub-network); a checkpoint the server cannot load throws ModelFormatError (non-retryable).
 */

export type TorchDtype = 'float32' | 'float16' | 'bfloat16';

export interface TorchBackendOptions {
  /** Python interpreter that imports torch (default: toolchain's findTorchPython). */
  python?: string;
  /** torch device: 'cpu', 'cuda', 'cuda:1' ... (default 'cpu'). */
  device?: string;
  /** Weight and activation dtype (default float32; bfloat16 or float16 on CUDA). */
  dtype?: TorchDtype;
  /** CPU intra-op threads (default: torch's own choice). */
  threads?: number;
  /** Token budget per batch (rows x padded length); default: found for the device by the server. */
  budget?: number;
  /** Lines of the server's stderr. */
  onStderr?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface OpenTorchSubnetOptions {
  /**
   * A mode of src/model/quantize.ts, with the ONNX export's codes and scales: 'int8' and 'int4'
   * are weight-only (dequantized on the fly, float compute, as the exported model computes);
   * 'int8-dq', 'int8-a8' and 'int4-a8' also quantize each linear layer's input at run time as
   * those ONNX kernels do (an emulation: see src/eval/README.md for how close it gets).
   */
  quant?: string;
  quantBlockSize?: number;
  signal?: AbortSignal;
}

/** The device, the process or its memory failed: retrying (with a fresh process) can succeed. */
export class ScoringDeviceFailure extends Error {
  override name = 'ScoringDeviceFailure';
}

/** The server's own figures (the `stats` reply). */
export interface TorchServerStats {
  /** How many times the super-network's weights were loaded by this process. */
  loads: number;
  openSubnets: number;
  opened: number;
  rssKb: number;
  peakRssKb: number;
  parameterBytes: number;
  quantizedBytes: number;
  budget: number;
  halvings: number;
  pid: number;
  /** Processes started by this backend so far (restarts included). */
  starts: number;
}

export interface TorchThroughput {
  tokensPerSecond: number;
  medianSeconds: number;
  runs: number[];
  batch: number;
  length: number;
  device: string;
  deviceName: string;
  dtype: string;
  quant: string;
  threads: number;
}

interface Ready {
  device: string;
  device_name: string;
  dtype: string;
  torch: string;
  sdpa: boolean;
  max_length: number;
  vocab_size: number;
  num_layers: number;
  intermediate_size: number;
  budget: number;
}

interface Pending {
  resolve: (f: Frame) => void;
  reject: (e: Error) => void;
}

/** One Python scoring process: requests answered in order, one frame per request. */
class ScoringProcess {
  private readonly reader = new FrameReader();
  private readonly queue: Pending[] = [];
  private readonly stderrTail: string[] = [];
  private exited: Error | undefined;
  readonly ready: Promise<Ready>;
  private seq = 0;
  /** Sub-networks open in this process (a process with none may be stopped for another model). */
  users = 0;

  constructor(
    private readonly child: ChildProcess,
    readonly modelDir: string,
    onStderr?: (line: string) => void,
  ) {
    let partial = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => {
      const lines = (partial + c).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        this.stderrTail.push(line);
        if (this.stderrTail.length > 20) this.stderrTail.shift();
        onStderr?.(line);
      }
    });
    this.ready = new Promise<Ready>((res, rej) => {
      this.queue.push({
        resolve: (f) => {
          if (f.header.ok) res(f.header as unknown as Ready);
          else rej(serverError(f.header, modelDir));
        },
        reject: rej,
      });
    });
    this.ready.catch(() => undefined);
    child.stdout!.on('data', (chunk: Buffer) => {
      for (const f of this.reader.push(chunk)) this.queue.shift()?.resolve(f);
    });
    child.stdin!.on('error', () => undefined); // EPIPE after a crash: reported by 'close'
    child.on('error', (err) =>
      this.fail(new ScoringDeviceFailure(`cannot start the scoring server: ${err.message}`)),
    );
    child.on('close', (code, signal) => {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const tail = this.stderrTail.length ? `: ${this.stderrTail.slice(-5).join(' | ')}` : '';
      this.fail(new ScoringDeviceFailure(`the scoring server (pid ${child.pid}) ${how}${tail}`));
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.exited === undefined;
  }

  private fail(err: Error): void {
    this.exited ??= err;
    for (const p of this.queue.splice(0)) p.reject(this.exited);
  }

  async request(header: Record<string, unknown>, body?: Buffer): Promise<Frame> {
    await this.ready;
    if (this.exited) throw this.exited;
    const frame = await new Promise<Frame>((res, rej) => {
      this.queue.push({ resolve: res, reject: rej });
      this.child.stdin!.write(encodeFrame({ ...header, seq: ++this.seq }, body));
    });
    if (!frame.header.ok) throw serverError(frame.header, this.modelDir);
    return frame;
  }

  async shutdown(): Promise<void> {
    if (!this.alive) return;
    const closed = new Promise<void>((res) => this.child.once('close', () => res()));
    try {
      await this.request({ op: 'shutdown' });
      this.child.stdin!.end();
    } catch {
      // already dead
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await closed;
    clearTimeout(timer);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }
}

function serverError(header: Record<string, unknown>, modelDir: string): Error {
  const e = (header.error ?? {}) as { type?: string; message?: string };
  const msg = e.message ?? 'unknown error';
  switch (e.type) {
    case 'bad_checkpoint':
      return new ModelFormatError(msg);
    case 'out_of_memory':
    case 'device_failure':
      return new ScoringDeviceFailure(`${e.type}: ${msg}`);
    case 'bad_request':
      return new Error(`scoring server rejected a request (${modelDir}): ${msg}`);
    default:
      return new Error(`scoring server internal error: ${msg}`);
  }
}

interface OpenRecord {
  spec: SubnetSpec;
  opts: OpenTorchSubnetOptions;
  /** Server-side id, valid for `proc`. */
  id?: number;
  proc?: ScoringProcess;
}

/** A sub-network open in the server, reopened transparently after a restart. */
export interface TorchScorer extends SequenceScorer {
  readonly spec: SubnetSpec;
  readonly quant: string;
  /** The per-request loop of lm-evaluation-harness's HF backend (one forward per row, full logits): for benchmarks. */
  scoreNaive(rows: PackedRow[]): Promise<Float32Array[]>;
  /** The throughput objective of this sub-network on the backend's device (TorchBackend.throughput). */
  throughput(opts?: TorchThroughputOptions): Promise<TorchThroughput>;
}

export interface TorchThroughputOptions {
  batch?: number;
  length?: number;
  warmup?: number;
  repeats?: number;
  seed?: number;
}

export class TorchBackend implements ScoringBackend {
  readonly name = 'torch';
  readonly numerics: Record<string, string>;
  readonly runsOn: Record<string, string>;
  private readonly procs = new Map<string, ScoringProcess>();
  private readonly starting = new Map<string, Promise<ScoringProcess>>();
  private starts = 0;
  private readonly device: string;
  private readonly dtype: TorchDtype;

  constructor(private readonly opts: TorchBackendOptions = {}) {
    this.device = opts.device ?? 'cpu';
    this.dtype = opts.dtype ?? 'float32';
    // results on cuda:0 and cuda:1 are the same numerics: the cache key holds the device type
    this.numerics = { backend: 'torch', device: this.device.split(':')[0]!, dtype: this.dtype };
    // a speed is not shared across machines: the processor model on cpu, the device index and host on cuda
    this.runsOn = {
      device:
        this.device === 'cpu'
          ? `cpu ${cpus()[0]?.model.trim() ?? 'unknown'}`
          : `${this.device} on ${hostname()}`,
      threads: String(opts.threads ?? 'default'),
    };
  }

  /**
   * The running server for `modelDir`, started (or restarted after a failure) when needed. One
   * process per super-network; starting one for another folder first stops the idle others (no
   * open sub-network), so a worker moving to a new campaign does not keep two models loaded.
   */
  private async process(modelDir: string): Promise<ScoringProcess> {
    const dir = resolve(modelDir);
    const running = this.procs.get(dir);
    if (running?.alive) {
      await running.ready;
      return running;
    }
    const pending = this.starting.get(dir);
    if (pending) {
      const p = await pending;
      if (p.alive) return p;
    }
    const start = (async () => {
      for (const [other, p] of this.procs) {
        if (other !== dir && p.users === 0) {
          this.procs.delete(other);
          await p.shutdown();
        }
      }
      const python = this.opts.python ?? requireTorchPython(this.opts.env);
      const args = [
        '-m',
        'llama_nas_trainer.scoring',
        '--model',
        dir,
        '--device',
        this.device,
        '--dtype',
        this.dtype,
      ];
      if (this.opts.threads) args.push('--threads', String(this.opts.threads));
      if (this.opts.budget) args.push('--budget', String(this.opts.budget));
      const env = { ...(this.opts.env ?? process.env) };
      env.PYTHONPATH = env.PYTHONPATH ? `${trainerPackageDir}:${env.PYTHONPATH}` : trainerPackageDir;
      env.PYTHONUNBUFFERED = '1';
      const child = spawn(python, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      this.starts++;
      const proc = new ScoringProcess(child, dir, this.opts.onStderr);
      this.procs.set(dir, proc);
      await proc.ready;
      return proc;
    })();
    this.starting.set(dir, start);
    try {
      return await start;
    } finally {
      this.starting.delete(dir);
    }
  }

  /** What the server says about itself once started (device name, torch version, maxLength ...). */
  async describe(modelDir: string): Promise<Ready> {
    return (await this.process(modelDir)).ready;
  }

  async openSubnet(
    modelDir: string,
    spec: SubnetSpec,
    opts: OpenTorchSubnetOptions = {},
  ): Promise<TorchScorer> {
    opts.signal?.throwIfAborted();
    const record: OpenRecord = { spec, opts };
    const ensure = async (): Promise<{ proc: ScoringProcess; id: number }> => {
      const proc = await this.process(modelDir);
      if (record.proc !== proc || record.id === undefined) {
        if (record.proc) record.proc.users--;
        proc.users++;
        record.proc = proc;
        record.id = undefined;
        let f: Frame;
        try {
          f = await proc.request({
            op: 'open',
            layers: spec.layers,
            intermediate: spec.intermediate,
            quant: opts.quant ?? 'none',
            ...(opts.quantBlockSize !== undefined ? { block_size: opts.quantBlockSize } : {}),
          });
        } catch (err) {
          proc.users--;
          record.proc = undefined;
          throw err;
        }
        record.id = f.header.id as number;
      }
      return { proc, id: record.id };
    };
    const { proc } = await ensure();
    const ready = await proc.ready;
    const score = async (op: 'score' | 'naive', rows: PackedRow[]): Promise<Float32Array[]> => {
      if (rows.length === 0) return [];
      const { lengths, parentCounts, body } = encodeRows(rows);
      const { proc: p, id } = await ensure();
      const f = await p.request(
        {
          op,
          id,
          lengths,
          parent_counts: parentCounts,
          layers: spec.layers,
          intermediate: spec.intermediate,
        },
        body,
      );
      return decodeScores(f.body, lengths);
    };
    return {
      spec,
      quant: opts.quant ?? 'none',
      maxLength: ready.max_length,
      scorePacked: (rows) => score('score', rows),
      scoreNaive: (rows) => score('naive', rows),
      throughput: (t = {}) => this.throughput(modelDir, spec, { ...t, quant: opts.quant ?? 'none' }),
      close: async () => {
        const p = record.proc;
        record.proc = undefined;
        if (!p) return;
        p.users--;
        if (p.alive && record.id !== undefined) await p.request({ op: 'close', id: record.id });
      },
    };
  }

  /** The server's own figures: weight loads, resident memory, batch budget. */
  async stats(modelDir: string): Promise<TorchServerStats> {
    const proc = await this.process(modelDir);
    const h = (await proc.request({ op: 'stats' })).header as Record<string, number>;
    return {
      loads: h.loads!,
      openSubnets: h.open_subnets!,
      opened: h.opened!,
      rssKb: h.rss_kb!,
      peakRssKb: h.peak_rss_kb!,
      parameterBytes: h.parameter_bytes!,
      quantizedBytes: h.quantized_bytes!,
      budget: h.budget!,
      halvings: h.halvings!,
      pid: proc.pid,
      starts: this.starts,
    };
  }

  /**
   * Tokens/s of a sub-network on this backend's device, timed with its own contiguous weights
   * (`batch` rows of `length` seeded random tokens, every position scored; median of `repeats`).
   */
  async throughput(
    modelDir: string,
    spec: SubnetSpec,
    opts: {
      batch?: number;
      length?: number;
      warmup?: number;
      repeats?: number;
      seed?: number;
      quant?: string;
    } = {},
  ): Promise<TorchThroughput> {
    const proc = await this.process(modelDir);
    const h = (
      await proc.request({
        op: 'throughput',
        layers: spec.layers,
        intermediate: spec.intermediate,
        batch: opts.batch ?? 8,
        length: opts.length ?? 128,
        warmup: opts.warmup ?? 2,
        repeats: opts.repeats ?? 5,
        seed: opts.seed ?? 0,
        quant: opts.quant ?? 'none',
      })
    ).header;
    return {
      tokensPerSecond: h.tokens_per_s as number,
      medianSeconds: h.median_s as number,
      runs: h.runs as number[],
      batch: h.batch as number,
      length: h.length as number,
      device: h.device as string,
      deviceName: h.device_name as string,
      dtype: h.dtype as string,
      quant: h.quant as string,
      threads: h.threads as number,
    };
  }

  /** Tests only: kills the server process as a crash would. */
  killProcessForTest(): number | undefined {
    const procs = [...this.procs.values()];
    for (const p of procs) p.kill('SIGKILL');
    return procs[0]?.pid;
  }

  async close(): Promise<void> {
    await Promise.all([...this.starting.values()].map((p) => p.catch(() => undefined)));
    const procs = [...this.procs.values()];
    this.procs.clear();
    await Promise.all(procs.map((p) => p.shutdown()));
  }
}

export const TORCH_DTYPES: readonly TorchDtype[] = ['float32', 'float16', 'bfloat16'];
export const SCORING_BACKENDS = ['onnx', 'torch'] as const;
export type ScoringBackendName = (typeof SCORING_BACKENDS)[number];

/**
 * Checks the scoring flags of the CLI (`--backend`, `--device`, `--dtype`): a message naming the
 * flag, or the settings. The onnx backend runs on cpu in float32 only.
 */
export function parseScoringFlags(flags: {
  backend?: string;
  device?: string;
  dtype?: string;
}): { backend: ScoringBackendName; device: string; dtype: TorchDtype } | string {
  const backend = flags.backend ?? 'onnx';
  if (!(SCORING_BACKENDS as readonly string[]).includes(backend))
    return `--backend ${backend}: expected one of ${SCORING_BACKENDS.join(', ')}`;
  const device = flags.device ?? 'cpu';
  if (!/^(cpu|cuda(:\d+)?)$/.test(device)) return `--device ${device}: expected cpu, cuda or cuda:N`;
  const dtype = flags.dtype ?? (device === 'cpu' ? 'float32' : 'bfloat16');
  if (!(TORCH_DTYPES as readonly string[]).includes(dtype))
    return `--dtype ${dtype}: expected one of ${TORCH_DTYPES.join(', ')}`;
  if (backend === 'onnx' && (device !== 'cpu' || dtype !== 'float32'))
    return '--device and --dtype apply to --backend torch (the onnx backend runs on cpu in float32)';
  return { backend: backend as ScoringBackendName, device, dtype: dtype as TorchDtype };
}

export function torchBackend(opts: TorchBackendOptions = {}): TorchBackend {
  return new TorchBackend(opts);
}

const shared = new Map<string, TorchBackend>();

/**
 * One backend per process and settings, kept for the life of the process: a worker's evaluations
 * share its scoring process, so the super-network is loaded once for all the candidates it
 * evaluates. Closed when the process exits (the scoring process also exits when its stdin closes).
 */
export function sharedTorchBackend(opts: Omit<TorchBackendOptions, 'onStderr' | 'env'> = {}): TorchBackend {
  const id = JSON.stringify([
    opts.python ?? null,
    opts.device ?? 'cpu',
    opts.dtype ?? 'float32',
    opts.threads ?? null,
    opts.budget ?? null,
  ]);
  let backend = shared.get(id);
  if (!backend) {
    backend = torchBackend(opts);
    shared.set(id, backend);
  }
  return backend;
}

/** Closes every shared backend (a worker's shutdown). */
export async function closeSharedTorchBackends(): Promise<void> {
  const all = [...shared.values()];
  shared.clear();
  await Promise.all(all.map((b) => b.close()));
}
