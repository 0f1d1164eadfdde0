import { join } from 'node:path';
import * as protobuf from 'protobufjs';

/** ONNX TensorProto.DataType values used here. */
export const OnnxType = { FLOAT: 1, UINT8: 2, INT8: 3, INT64: 7 } as const;

let root: protobuf.Root | undefined;
function protoRoot(): protobuf.Root {
  root ??= protobuf.loadSync(join(__dirname, 'onnx.proto'));
  return root;
}
function modelType(): protobuf.Type {
  return protoRoot().lookupType('onnx.ModelProto');
}

export type AttributeValue = number | number[] | string | { float: number };

interface AttributeObject {
  name: string;
  type: number;
  i?: number;
  f?: number;
  ints?: number[];
  s?: Uint8Array;
}

function attribute(name: string, value: AttributeValue): AttributeObject {
  if (typeof value === 'string') return { name, type: 3, s: Buffer.from(value, 'utf8') };
  if (Array.isArray(value)) return { name, type: 7, ints: value };
  if (typeof value === 'object') return { name, type: 1, f: value.float };
  return { name, type: 2, i: value };
}

/** Where an initializer's bytes live in an external data file next to the model. */
export interface ExternalLocation {
  location: string;
  offset: number;
  length: number;
}

interface TensorObject {
  name: string;
  dims: number[];
  dataType: number;
  rawData?: Uint8Array;
  dataLocation?: number;
  externalData?: { key: string; value: string }[];
}

/** Builds an ONNX graph node by node; values get unique generated names. */
export class GraphBuilder {
  private readonly nodes: unknown[] = [];
  private readonly initializers: TensorObject[] = [];
  private readonly inputs: unknown[] = [];
  private readonly outputs: unknown[] = [];
  private counter = 0;

  private valueInfo(name: string, elemType: number, dims: (number | string)[]): unknown {
    return {
      name,
      type: {
        tensorType: {
          elemType,
          shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    };
  }

  input(name: string, elemType: number, dims: (number | string)[]): string {
    this.inputs.push(this.valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: number, dims: (number | string)[]): void {
    this.outputs.push(this.valueInfo(name, elemType, dims));
  }

  fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  /** Adds a node with `outputs` outputs (generated names unless given) and returns their names. */
  nodeN(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttributeValue> = {},
    outputs: number | string[] = 1,
    domain = '',
  ): string[] {
    const outNames =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()))
        : outputs;
    this.nodes.push({
      opType,
      domain,
      name: this.fresh(`n_${opType}`),
      input: inputs,
      output: outNames,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outNames;
  }

  /** Adds a single-output node and returns its output name. */
  node(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttributeValue> = {},
    output?: string,
  ): string {
    return this.nodeN(opType, inputs, attrs, output ? [output] : 1)[0]!;
  }

  constInt64(values: number[], dims: number[] = [values.length]): string {
    const raw = new Uint8Array(values.length * 8);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    const name = this.fresh('const_i64');
    this.initializers.push({ name, dims, dataType: OnnxType.INT64, rawData: raw });
    return name;
  }

  constFloat(values: Float32Array | number[], dims: number[] = [values.length]): string {
    const raw = new Uint8Array(new Float32Array(values).buffer);
    const name = this.fresh('const_f32');
    this.initializers.push({ name, dims, dataType: OnnxType.FLOAT, rawData: raw });
    return name;
  }

  /** An initializer stored inside the model. */
  constTensor(dataType: number, dims: number[], raw: Uint8Array): string {
    const name = this.fresh('const');
    this.initializers.push({ name, dims, dataType, rawData: raw });
    return name;
  }

  /** An initializer stored in an external data file. */
  external(name: string, dataType: number, dims: number[], where: ExternalLocation): string {
    this.initializers.push({
      name,
      dims,
      dataType,
      dataLocation: 1,
      externalData: [
        { key: 'location', value: where.location },
        { key: 'offset', value: String(where.offset) },
        { key: 'length', value: String(where.length) },
      ],
    });
    return name;
  }

  encode(options: {
    graphName: string;
    opsets: { domain: string; version: number }[];
    metadata?: Record<string, string>;
    docString?: string;
  }): Uint8Array {
    const type = modelType();
    const model = {
      irVersion: 8,
      producerName: 'llama-nas',
      producerVersion: '0.1.0',
      opsetImport: options.opsets,
      docString: options.docString ?? '',
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: options.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
    const err = type.verify(model);
    if (err) throw new Error(`internal error: ONNX model does not verify: ${err}`);
    return type.encode(type.fromObject(model)).finish();
  }
}

export interface DecodedNode {
  opType: string;
  domain: string;
  attributes: Map<string, number>;
}

/** Reads the nodes of an ONNX model with their integer attributes. */
export function decodeNodes(bytes: Uint8Array): DecodedNode[] {
  const type = modelType();
  const obj = type.toObject(type.decode(bytes), { longs: Number, defaults: false }) as {
    graph?: { node?: { opType: string; domain?: string; attribute?: { name: string; i?: number }[] }[] };
  };
  return (obj.graph?.node ?? []).map((n) => ({
    opType: n.opType,
    domain: n.domain ?? '',
    attributes: new Map((n.attribute ?? []).filter((a) => a.i !== undefined).map((a) => [a.name, a.i!])),
  }));
}

export interface DecodedInitializer {
  name: string;
  dims: number[];
  dataType: number;
  external?: ExternalLocation;
  rawBytes: number;
}

/** Reads the initializers of an ONNX model (for measuring an export). */
export function decodeInitializers(bytes: Uint8Array): DecodedInitializer[] {
  const type = modelType();
  const obj = type.toObject(type.decode(bytes), { longs: Number, defaults: false, bytes: Array }) as {
    graph?: {
      initializer?: {
        name: string;
        dims?: number[];
        dataType: number;
        rawData?: number[];
        dataLocation?: number;
        externalData?: { key: string; value: string }[];
      }[];
    };
  };
  return (obj.graph?.initializer ?? []).map((t) => {
    const ext =
      t.dataLocation === 1 ? new Map((t.externalData ?? []).map((e) => [e.key, e.value])) : undefined;
    return {
      name: t.name,
      dims: t.dims ?? [],
      dataType: t.dataType,
      rawBytes: t.rawData?.length ?? 0,
      ...(ext
        ? {
            external: {
              location: ext.get('location') ?? '',
              offset: Number(ext.get('offset') ?? 0),
              length: Number(ext.get('length') ?? 0),
            },
          }
        : {}),
    };
  });
}
