import { z } from 'zod';
import { zodErrorText } from '../zod-error';

/**
 * The trainer's progress protocol: one JSON object per stdout line (trainer/README.md).
 * A failed run ends with one error line whose `type` names the failure, and a matching exit code.
 */
export const TRAINER_ERROR_TYPES = ['bad_config', 'bad_data', 'out_of_memory', 'device_failure', 'busy', 'internal'] as const;
export type TrainerErrorType = (typeof TRAINER_ERROR_TYPES)[number];

/** Exit codes of `python3 -m llama_nas_trainer.train`. */
export const TRAINER_EXIT_CODES = {
  done: 0,
  internal: 1,
  bad_config: 2,
  bad_data: 3,
  out_of_memory: 4,
  device_failure: 5,
  busy: 6,
  interrupted: 75,
} as const;

const subnet = z.object({ layers: z.number().int(), intermediate: z.array(z.number().int()) });

export const StartEvent = z.object({
  type: z.literal('start'),
  mode: z.enum(['pretrain', 'instatune']),
  total_steps: z.number().int(),
  step: z.number().int(),
  resumed_from: z.string().nullable(),
  items: z.number().int(),
  parameters: z.number().int(),
  device: z.string(),
  threads: z.number().int(),
  fingerprint: z.string(),
});
export const StepEvent = z.object({
  type: z.literal('step'),
  step: z.number().int(),
  total_steps: z.number().int(),
  loss: z.number(),
  lr: z.number(),
  tokens_per_s: z.number(),
  epoch: z.number(),
  subnet: subnet.nullable().optional(),
});
export const CheckpointEvent = z.object({ type: z.literal('checkpoint'), step: z.number().int(), path: z.string() });
export const DoneEvent = z.object({
  type: z.literal('done'),
  out: z.string(),
  steps: z.number().int(),
  loss: z.number().nullable(),
  fingerprint: z.string(),
  mode: z.enum(['pretrain', 'instatune']),
  checkpoint: z.string().nullable(),
});
export const InterruptedEvent = z.object({
  type: z.literal('interrupted'),
  step: z.number().int(),
  checkpoint: z.string().nullable(),
  message: z.string(),
});
export const ErrorEvent = z.object({ type: z.enum(TRAINER_ERROR_TYPES), message: z.string() });

export const TrainerEventSchema = z.union([StartEvent, StepEvent, CheckpointEvent, DoneEvent, InterruptedEvent, ErrorEvent]);
export type TrainerEvent = z.infer<typeof TrainerEventSchema>;
export type TrainerStart = z.infer<typeof StartEvent>;
export type TrainerStep = z.infer<typeof StepEvent>;
export type TrainerDone = z.infer<typeof DoneEvent>;
export type TrainerErrorEvent = z.infer<typeof ErrorEvent>;

export class TrainerProtocolError extends Error {
  override name = 'TrainerProtocolError';
}

/**
 * One stdout line as an event; `undefined` for a line that is not JSON (a library printing to
 * stdout), which callers log and skip. JSON that does not match the protocol is an error.
 */
export function parseTrainerLine(line: string): TrainerEvent | undefined {
  const text = line.trim();
  if (!text.startsWith('{')) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = TrainerEventSchema.safeParse(raw);
  if (!r.success) {
    throw new TrainerProtocolError(`trainer printed an unknown event: ${text.slice(0, 200)} (${zodErrorText(r.error)})`);
  }
  return r.data;
}

export function isErrorEvent(e: TrainerEvent): e is TrainerErrorEvent {
  return (TRAINER_ERROR_TYPES as readonly string[]).includes(e.type);
}

/** Splits a byte stream into lines, keeping the unfinished tail for the next chunk. */
export class LineSplitter {
  private tail = '';

  push(chunk: string): string[] {
    const parts = (this.tail + chunk).split('\n');
    this.tail = parts.pop() ?? '';
    return parts;
  }

  end(): string[] {
    const rest = this.tail;
    this.tail = '';
    return rest ? [rest] : [];
  }
}
