// The GPU runtime every op runs on, in the browser and in Node alike: one device, a pipeline
// cache keyed by kernel name, a buffer pool, and a recorder that packs dispatches into one
// compute pass per command buffer until something needs the results (a read-back or sync).
//
// Read-backs copy into MAP_READ staging buffers kept in a small pool by size class, so a
// training step's few reads (its loss, its gradient norm) create no buffer once warm.
//
// A warm step creates nothing on the device and submits once (see CreationCounts): bind groups
// are cached by the buffers they bind, the uniform parameters live in one ring bound at a dynamic
// offset (so that a bind group does not depend on them), an idle buffer of a size is always the
// one created first (so that a step that releases what it takes gets the same buffers, hence the
// same bind groups, every time), and a write while work is recorded goes through an upload ring
// and a recorded copy instead of a submission.
//
// Errors: shapes, binding sizes and workgroup counts are checked in TypeScript before a
// dispatch is recorded and raise KernelError naming the kernel. What only the device can
// detect (validation of a submitted batch, out of memory, a lost device) is caught by error
// scopes and raised at the next sync()/read(), naming the kernels of that batch.

import { DeviceLostError, KernelError } from './errors';
import { BYTES_PER_ELEMENT, checkShape, shapeSize, Tensor, type DType } from './tensor';
import { parseBindings, type BindingDecl } from './wgsl-layout';

/** What a caller asks the runtime to compile: one entry point of one WGSL module. */
export interface KernelSpec {
  /** Unique, human-readable name used in errors, timings and the pipeline cache. */
  name: string;
  code: string;
  entryPoint: string;
  /** WGSL `override` constants. */
  constants?: Record<string, number>;
}

/** A compiled kernel with its binding contract. */
export interface Kernel {
  readonly name: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  /** The layout's number in this context: bind groups are cached under it. */
  readonly layoutId: number;
  readonly bindings: readonly BindingDecl[];
}

export type Binding = Tensor | GPUBuffer;
export type WorkgroupCount = readonly [number, number?, number?];

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for software adapters (lavapipe, SwiftShader): slow, for correctness only. */
  isCpu: boolean;
}

/**
 * What a context has created on its device so far, by kind, how many command buffers it
 * submitted and how many dispatches it recorded: a training step that is warm creates none of
 * them (buffers, bind groups, pipelines, shader modules) and encodes and submits one command
 * buffer; its dispatches are what the host pays for per step.
 */
export interface CreationCounts {
  buffers: number;
  bindGroups: number;
  pipelines: number;
  shaderModules: number;
  commandEncoders: number;
  submissions: number;
  dispatches: number;
}

export interface TimingResult {
  ms: number;
  source: 'timestamp-query' | 'wall-clock';
}

const BUFFER_ALIGN = 256;

/**
 * The uniform ring's size: 16384 slots of 256 bytes (the usual minUniformBufferOffsetAlignment),
 * four training steps of a 30-layer model. A batch that fills it is submitted and the ring starts
 * over; it never grows, since every bind group names it.
 */
const UNIFORM_RING_BYTES = 4 << 20;
/** The upload ring's first size; it doubles when a batch outgrows it. */
const UPLOAD_RING_START_BYTES = 64 * 1024;
/** Larger writes while work is recorded submit that work and write directly (a model's weights). */
const UPLOAD_STAGED_MAX_BYTES = 1 << 20;
/**
 * Bind groups kept; past this many, all are dropped and remade as used. A training step of a
 * 30-layer model binds about 4200 distinct sets, evaluation and generation a few hundred more.
 */
const BIND_GROUP_CACHE_MAX = 16384;

/** A cached bind group with what it binds, in the order of its kernel's bindings. */
interface CachedBindGroup {
  layout: GPUBindGroupLayout;
  buffers: GPUBuffer[];
  /** Binding sizes in bytes (a pooled buffer may be bound at several). */
  sizes: number[];
  /** Binding offsets in bytes (a view's place in its parent's buffer). */
  offsets: number[];
  group: GPUBindGroup;
}

// Staging buffers for read-backs come in powers of two from STAGING_MIN_BYTES, so reads of
// nearby sizes (a batch's losses, whatever its row count) share a class. A read larger than
// STAGING_POOLED_MAX_BYTES (an export's weights) gets a buffer of its exact size, destroyed after
// use; the idle pooled buffers never hold more than STAGING_POOL_BYTES together.
const STAGING_MIN_BYTES = 256;
const STAGING_POOLED_MAX_BYTES = 4 << 20;
const STAGING_POOL_BYTES = 16 << 20;

// A device lost under a pending GPU call (destroy(), a driver reset) may reject that call before
// it resolves `device.lost`: Chromium rejects a pending mapAsync at once, in the page's process,
// and resolves `lost` when its GPU process has answered (0.5-0.75 s later on lavapipe, over 1 s
// under load); Dawn in Node resolves `lost` first. A rejected call waits up to this long for the
// loss, so that it is raised as the DeviceLostError it is, not as a bare AbortError that reads
// like a bug. Only a failing call ever waits (one on a device that is not lost, a bug, waits it all).
const LOSS_REPORT_WAIT_MS = 10_000;

/**
 * A GPU buffer filled on the host while work is recorded, then written whole by one writeBuffer
 * just before the submission that reads it, and reused from its start by the next batch: the
 * queue orders that write after every earlier submission, so none of them sees it.
 */
interface StagedRing {
  label: string;
  usage: GPUBufferUsageFlags;
  buffer: GPUBuffer;
  host: ArrayBuffer;
  used: number;
}

export class GpuContext {
  readonly features: ReadonlySet<string>;
  readonly limits: GPUSupportedLimits;
  /** Set when the device is lost; every later call raises it. */
  private lostError: DeviceLostError | null = null;
  private destroyed = false;
  /** Compiled kernels by name, one per entry point and constants. */
  private readonly kernels = new Map<string, { entryPoint: string; constants: Record<string, number>; kernel: Kernel }[]>();
  /** Explicit bind-group layouts by module text and entry point. */
  private readonly layouts = new Map<string, { layout: GPUBindGroupLayout; layoutId: number; bindings: BindingDecl[] }>();
  private readonly pool = new Map<number, GPUBuffer[]>();
  /** Bytes of the buffers in `pool` (idle, held by no tensor). */
  private pooledBytes = 0;
  /** Idle MAP_READ staging buffers by size; each is unmapped and held by no read. */
  private readonly stagingPool = new Map<number, GPUBuffer[]>();
  private stagingPoolBytes = 0;
  private stagingCreated = 0;
  private readonly lostListeners = new Set<(e: DeviceLostError) => void>();
  private readonly counts: CreationCounts = { buffers: 0, bindGroups: 0, pipelines: 0, shaderModules: 0, commandEncoders: 0, submissions: 0, dispatches: 0 };
  /**
   * Each buffer's id, in creation order (for the pool's order and the bind-group cache), and its
   * size: GPUBuffer.size and GPUSupportedLimits are getters into the native binding, a few
   * hundred nanoseconds each, too slow for every binding of every dispatch.
   */
  private readonly buffers = new WeakMap<GPUBuffer, { id: number; size: number }>();
  private nextId = 1;
  /**
   * Bind groups by a hash of their layout and of what they bind (mixHash over the layout's
   * number and each binding's buffer number, offset and size); the few that share a hash are
   * told apart by comparing everything.
   */
  private readonly bindGroups = new Map<number, CachedBindGroup[]>();
  private bindGroupCount = 0;
  /** What a dispatch binds, filled in place for every dispatch and copied only into a new bind group. */
  private readonly bound = { buffers: [] as GPUBuffer[], sizes: [] as number[], offsets: [] as number[] };

  // Recording state: one encoder and one open compute pass.
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly dynamicOffset = [0];
  /** The pipeline last set in the open pass. */
  private passPipeline: GPUComputePipeline | null = null;
  private batchKernels: string[] = [];
  private readonly uniforms: StagedRing;
  /** Over the uniform ring's host copy, which never grows. */
  private readonly uniformView: DataView;
  private readonly uploads: StagedRing;
  /** Ring buffers outgrown in this batch, destroyed once it is submitted. */
  private retired: GPUBuffer[] = [];
  /** Errors popped from error scopes of earlier submissions, raised at the next sync. */
  private pendingErrors: Promise<Error | null>[] = [];
  /** Whether time() is recording its timed pass (nothing may end the pass meanwhile). */
  private timing = false;
  /** A tiny buffer bound where a kernel declares a binding the caller does not use. */
  readonly empty: GPUBuffer;

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    /** Submit and check after every dispatch so an error names exactly one kernel. */
    readonly strict = false,
  ) {
    this.features = new Set(device.features);
    // A plain copy: reading the device's own object calls into the native binding every time.
    const limits: Record<string, number> = {};
    for (const name in device.limits) limits[name] = (device.limits as unknown as Record<string, number>)[name]!;
    this.limits = Object.freeze(limits) as unknown as GPUSupportedLimits;
    this.empty = this.createBuffer({ label: 'empty', size: 16, usage: GPUBufferUsage.STORAGE });
    this.uniforms = this.ring('uniform ring', GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, UNIFORM_RING_BYTES);
    this.uniformView = new DataView(this.uniforms.host);
    this.uploads = this.ring('upload ring', GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, UPLOAD_RING_START_BYTES);
    void device.lost.then((info) => {
      if (this.destroyed) return;
      this.lostError = new DeviceLostError(info.reason ?? 'unknown', info.message);
      for (const listener of this.lostListeners) listener(this.lostError);
    });
  }

  /** A snapshot of what this context has created and submitted so far (see CreationCounts). */
  get created(): CreationCounts {
    return { ...this.counts };
  }

  private createBuffer(descriptor: GPUBufferDescriptor): GPUBuffer {
    this.counts.buffers++;
    const buffer = this.device.createBuffer(descriptor);
    this.buffers.set(buffer, { id: this.nextId++, size: descriptor.size });
    return buffer;
  }

  /** A buffer's creation-order id and size (a buffer made elsewhere is numbered when first seen). */
  private infoOf(buffer: GPUBuffer): { id: number; size: number } {
    let info = this.buffers.get(buffer);
    if (info === undefined) {
      info = { id: this.nextId++, size: buffer.size };
      this.buffers.set(buffer, info);
    }
    return info;
  }

  private createCommandEncoder(): GPUCommandEncoder {
    this.counts.commandEncoders++;
    return this.device.createCommandEncoder();
  }

  get hasTimestamps(): boolean {
    return this.features.has('timestamp-query');
  }

  /** Called once with the error when the device is lost (not when destroyed on purpose). */
  onDeviceLost(listener: (e: DeviceLostError) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  // ---------------------------------------------------------------------------------------
  // Kernels

  /**
   * Compiles (once, synchronously) and returns a kernel. Compilation problems are gathered
   * asynchronously and raised as KernelError, with WGSL line numbers, by the next sync() or
   * read(); `await ctx.sync()` right after creating kernels surfaces them early.
   */
  kernel(spec: KernelSpec): Kernel {
    this.throwIfLost();
    // Looked up for every dispatch: by name, then entry point and constants compared in place.
    let variants = this.kernels.get(spec.name);
    if (!variants) {
      variants = [];
      this.kernels.set(spec.name, variants);
    }
    for (const v of variants) if (v.entryPoint === spec.entryPoint && sameConstants(v.constants, spec.constants)) return v.kernel;
    const { layout, layoutId, bindings } = this.layoutOf(spec);
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label: spec.name, code: spec.code });
    this.counts.shaderModules++;
    this.counts.pipelines++;
    const pipeline = this.device.createComputePipeline({
      label: spec.name,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: spec.entryPoint, constants: spec.constants ?? {} },
    });
    const scope = this.device.popErrorScope();
    this.pendingErrors.push(
      Promise.all([module.getCompilationInfo(), scope]).then(([info, error]) => {
        const lines = info.messages
          .filter((m) => m.type === 'error')
          .map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}`);
        if (lines.length > 0) return new KernelError(spec.name, `WGSL does not compile:\n${lines.join('\n')}`);
        return error ? new KernelError(spec.name, `pipeline creation failed: ${error.message}`) : null;
      }),
    );
    const kernel: Kernel = { name: spec.name, pipeline, layout, layoutId, bindings };
    variants.push({ entryPoint: spec.entryPoint, constants: { ...spec.constants }, kernel });
    return kernel;
  }

  private layoutOf(spec: KernelSpec): { layout: GPUBindGroupLayout; layoutId: number; bindings: BindingDecl[] } {
    const key = `${spec.entryPoint}\n${spec.code}`;
    let parsed = this.layouts.get(key);
    if (!parsed) {
      let bindings: BindingDecl[];
      try {
        bindings = parseBindings(spec.code, spec.name, spec.entryPoint);
      } catch (e) {
        throw new KernelError(spec.name, (e as Error).message);
      }
      if (bindings.filter((b) => b.kind === 'uniform').length > 1) {
        // packUniform reserves one slot per dispatch; a second struct would need a second offset
        // into a ring that may have grown in between.
        throw new KernelError(spec.name, `entry point "${spec.entryPoint}" uses more than one uniform binding; the runtime packs one parameter struct per kernel`);
      }
      const layout = this.device.createBindGroupLayout({
        label: spec.name,
        entries: bindings.map((b) => ({
          binding: b.binding,
          visibility: GPUShaderStage.COMPUTE,
          // Uniforms at a dynamic offset into the ring: a bind group then serves any parameters.
          buffer: { type: b.kind, hasDynamicOffset: b.kind === 'uniform' },
        })),
      });
      parsed = { layout, layoutId: this.layouts.size + 1, bindings };
      this.layouts.set(key, parsed);
    }
    return parsed;
  }

  /**
   * Records one dispatch. `bindings` maps the WGSL variable names of the storage bindings to
   * tensors (or raw buffers); `params` fills the uniform struct field by field.
   */
  dispatch(
    kernel: Kernel,
    bindings: Record<string, Binding>,
    params: Record<string, number>,
    workgroups: WorkgroupCount,
  ): void {
    this.throwIfLost();
    const x = workgroups[0];
    const y = workgroups[1] ?? 1;
    const z = workgroups[2] ?? 1;
    this.checkWorkgroups(kernel, 'x', x);
    this.checkWorkgroups(kernel, 'y', y);
    this.checkWorkgroups(kernel, 'z', z);
    if (x === 0 || y === 0 || z === 0) return; // an empty problem: nothing to do

    // This runs for every dispatch of every step: plain loops and no allocation. What only a
    // new set of buffers can get wrong (aliasing, a binding too large) is checked when its bind
    // group is made; a cached one passed those checks with the same buffers, offsets and sizes.
    const decls = kernel.bindings;
    const { buffers, sizes, offsets } = this.bound;
    buffers.length = sizes.length = offsets.length = decls.length;
    let uniformOffset = -1;
    let given = 0;
    let hash = kernel.layoutId;
    for (let i = 0; i < decls.length; i++) {
      const decl = decls[i]!;
      if (decl.kind === 'uniform') {
        const slot = this.packUniform(kernel, decl, params);
        uniformOffset = slot.offset;
        buffers[i] = this.uniforms.buffer;
        sizes[i] = slot.bytes;
        offsets[i] = 0;
        hash = mixHash(hash, slot.bytes);
        continue;
      }
      const b = bindings[decl.name];
      if (b === undefined) {
        throw new KernelError(kernel.name, `binding "${decl.name}" (@binding(${decl.binding})) was not given`);
      }
      given++;
      let buffer: GPUBuffer;
      let size: number;
      let offset = 0;
      let id: number;
      if (b instanceof Tensor) {
        if (b.isReleased) throw new KernelError(kernel.name, `binding "${decl.name}": tensor "${b.label}" was already released`);
        buffer = b.buffer;
        size = b.byteLength > 0 ? b.byteLength : 4; // f32, u32 and i32 tensors: a multiple of 4
        offset = b.byteOffset;
        id = b.bufferId;
      } else {
        buffer = b;
        const info = this.infoOf(b);
        size = alignUp(info.size, 4);
        id = info.id;
      }
      buffers[i] = buffer;
      sizes[i] = size;
      offsets[i] = offset;
      hash = mixHash(mixHash(mixHash(hash, id), offset), size);
    }
    let named = 0;
    for (const _ in bindings) named++;
    if (named !== given) {
      const known = decls.filter((d) => d.kind !== 'uniform').map((d) => d.name);
      const unknown = Object.keys(bindings).find((n) => !known.includes(n));
      throw new KernelError(kernel.name, `unknown binding "${unknown}"; the kernel declares ${known.join(', ')}`);
    }
    const bindGroup = this.bindGroupFor(kernel, hash);
    const pass = this.openPass();
    if (this.passPipeline !== kernel.pipeline) {
      pass.setPipeline(kernel.pipeline);
      this.passPipeline = kernel.pipeline;
    }
    if (uniformOffset >= 0) {
      this.dynamicOffset[0] = uniformOffset; // Dawn copies it during the call
      pass.setBindGroup(0, bindGroup, this.dynamicOffset);
    }
    else pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.counts.dispatches++;
    this.batchKernels.push(kernel.name);
    if (this.strict) this.flush();
  }

  private checkWorkgroups(kernel: Kernel, axis: 'x' | 'y' | 'z', n: number): void {
    if (!Number.isInteger(n) || n < 0) {
      throw new KernelError(kernel.name, `workgroup count ${axis}=${n} must be a non-negative integer`);
    }
    const maxPerDim = this.limits.maxComputeWorkgroupsPerDimension;
    if (n > maxPerDim) {
      throw new KernelError(
        kernel.name,
        `workgroup count ${axis}=${n} exceeds this device's maxComputeWorkgroupsPerDimension (${maxPerDim}); split the work or use a larger tile`,
      );
    }
  }

  /**
   * The cached bind group of `kernel`'s layout over what `dispatch` put in `bound` (whose hash
   * is `hash`), made on a miss after checking the bindings. The uniform ring is the same buffer
   * in every one, bound at a dynamic offset.
   */
  private bindGroupFor(kernel: Kernel, hash: number): GPUBindGroup {
    const { buffers, sizes, offsets } = this.bound;
    const decls = kernel.bindings;
    let candidates = this.bindGroups.get(hash);
    if (candidates) {
      for (const c of candidates) {
        if (c.layout !== kernel.layout) continue;
        let same = true;
        for (let i = 0; i < decls.length && same; i++) same = c.buffers[i] === buffers[i] && c.sizes[i] === sizes[i] && c.offsets[i] === offsets[i];
        if (same) return c.group;
      }
    }
    this.checkBindings(kernel);
    if (this.bindGroupCount >= BIND_GROUP_CACHE_MAX) {
      this.bindGroups.clear();
      this.bindGroupCount = 0;
      candidates = undefined;
    }
    if (!candidates) {
      candidates = [];
      this.bindGroups.set(hash, candidates);
    }
    this.counts.bindGroups++;
    this.bindGroupCount++;
    const group = this.device.createBindGroup({
      label: kernel.name,
      layout: kernel.layout,
      entries: decls.map((d, i) => ({ binding: d.binding, resource: { buffer: buffers[i]!, offset: offsets[i]!, size: sizes[i]! } })),
    });
    candidates.push({ layout: kernel.layout, buffers: buffers.slice(), sizes: sizes.slice(), offsets: offsets.slice(), group });
    return group;
  }

  /** What a new set of buffers in `bound` must satisfy: no written alias, sizes the device binds. */
  private checkBindings(kernel: Kernel): void {
    const { buffers, sizes } = this.bound;
    const decls = kernel.bindings;
    for (let i = 0; i < decls.length; i++) {
      const decl = decls[i]!;
      if (decl.kind === 'uniform') continue;
      if (sizes[i]! > this.limits.maxStorageBufferBindingSize) {
        throw new KernelError(
          kernel.name,
          `binding "${decl.name}" is ${sizes[i]} bytes, over this device's maxStorageBufferBindingSize (${this.limits.maxStorageBufferBindingSize}); use a smaller batch or sequence length`,
        );
      }
      for (let j = 0; j < i; j++) {
        const other = decls[j]!;
        // WebGPU's rule is the buffer's, not the range's: views of one buffer alias too.
        if (buffers[j] !== buffers[i] || other.kind === 'uniform') continue;
        if (decl.kind === 'storage') throw new KernelError(kernel.name, `binding "${decl.name}" is written but aliases "${other.name}"`);
        if (other.kind === 'storage') throw new KernelError(kernel.name, `binding "${decl.name}" aliases written binding "${other.name}"`);
      }
    }
  }

  /** Packs the uniform struct of `decl` into the uniform ring; its offset and size there. */
  private packUniform(kernel: Kernel, decl: BindingDecl, params: Record<string, number>): { offset: number; bytes: number } {
    const fields = decl.fields ?? [];
    let named = 0;
    for (const _ in params) named++;
    if (named > fields.length) throw unknownParameter(kernel, decl, params)!;
    const bytes = alignUp(Math.max(fields.length * 4, 16), 16);
    const align = this.limits.minUniformBufferOffsetAlignment;
    if (alignUp(this.uniforms.used, align) + bytes > this.uniforms.host.byteLength) {
      // The ring is full: the work recorded so far is submitted with it, and it starts over.
      this.flush();
      this.uniforms.used = 0;
    }
    const offset = this.reserve(this.uniforms, bytes, align);
    const view = this.uniformView;
    for (let k = 0; k < fields.length; k++) {
      const f = fields[k]!;
      const v = params[f.name];
      const i = offset + 4 * k;
      if (v === undefined) {
        // Fewer given than declared, or one misspelt: name the stranger if there is one.
        throw unknownParameter(kernel, decl, params) ?? new KernelError(kernel.name, `parameter "${f.name}" (${f.type}) was not given`);
      }
      if (f.type === 'f32') {
        view.setFloat32(i, v, true);
      } else if (f.type === 'u32') {
        if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
          throw new KernelError(kernel.name, `parameter "${f.name}" must be a u32, got ${v}`);
        }
        view.setUint32(i, v, true);
      } else {
        if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
          throw new KernelError(kernel.name, `parameter "${f.name}" must be an i32, got ${v}`);
        }
        view.setInt32(i, v, true);
      }
    }
    return { offset, bytes };
  }

  private ring(label: string, usage: GPUBufferUsageFlags, size: number): StagedRing {
    return { label, usage, buffer: this.createBuffer({ label, size, usage }), host: new ArrayBuffer(size), used: 0 };
  }

  /**
   * The offset of `bytes` bytes reserved in `ring` for this batch, aligned to `align`. A batch
   * that outgrows the ring writes what it holds at once and goes on in a buffer twice the size
   * (the old one is destroyed after the submission).
   */
  private reserve(ring: StagedRing, bytes: number, align: number): number {
    let offset = alignUp(ring.used, align);
    if (offset + bytes > ring.host.byteLength) {
      this.writeRing(ring);
      this.retired.push(ring.buffer);
      const size = 2 ** Math.ceil(Math.log2(Math.max(2 * ring.host.byteLength, bytes)));
      const grown = this.ring(ring.label, ring.usage, size);
      Object.assign(ring, grown);
      offset = 0;
    }
    ring.used = offset + bytes;
    return offset;
  }

  /** Writes what this batch put in `ring` to its GPU buffer and starts the ring over. */
  private writeRing(ring: StagedRing): void {
    if (ring.used > 0) this.device.queue.writeBuffer(ring.buffer, 0, ring.host, 0, alignUp(ring.used, 4));
    ring.used = 0;
  }

  private openPass(): GPUComputePassEncoder {
    if (!this.encoder) this.encoder = this.createCommandEncoder();
    if (!this.pass) {
      this.pass = this.encoder.beginComputePass();
      this.passPipeline = null;
    }
    return this.pass;
  }

  private closePass(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.createCommandEncoder();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.encoder;
  }

  /** Records a buffer-to-buffer copy (whole source unless `bytes` is given). */
  copy(src: Tensor, dst: Tensor, bytes = src.byteLength, srcOffset = 0, dstOffset = 0): void {
    this.throwIfLost();
    // Within the buffers (a pooled tensor's may be longer than its elements); a view's within itself.
    const room = (t: Tensor) => (t.parent === null ? this.infoOf(t.buffer).size : t.byteLength);
    if (srcOffset + bytes > room(src) || dstOffset + bytes > room(dst)) {
      throw new Error(`copy "${src.label}" → "${dst.label}": ${bytes} bytes do not fit`);
    }
    if (src.buffer === dst.buffer) throw new Error(`copy "${src.label}" → "${dst.label}": both are in one buffer, which WebGPU cannot copy within`);
    if (bytes === 0) return;
    this.closePass().copyBufferToBuffer(src.buffer, src.byteOffset + srcOffset, dst.buffer, dst.byteOffset + dstOffset, bytes);
    this.batchKernels.push(`copy ${src.label}→${dst.label}`);
  }

  /** Submits everything recorded so far. Errors surface at the next sync()/read(). */
  flush(): void {
    if (!this.encoder) return;
    const encoder = this.closePass();
    this.encoder = null;
    const kernels = this.batchKernels;
    this.batchKernels = [];
    this.writeRing(this.uniforms);
    this.writeRing(this.uploads);
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    this.device.queue.submit([encoder.finish()]);
    this.counts.submissions++;
    const validation = this.device.popErrorScope();
    const oom = this.device.popErrorScope();
    this.pendingErrors.push(
      Promise.all([validation, oom]).then(([v, o]) => {
        const e = v ?? o;
        if (!e) return null;
        const where = kernels.length === 1 ? `kernel "${kernels[0]}"` : `a batch of kernels (${describeBatch(kernels)})`;
        return new KernelError(kernels.length === 1 ? kernels[0]! : kernels[kernels.length - 1]!, `${e.message} [in ${where}]`);
      }),
    );
    for (const b of this.retired) b.destroy();
    this.retired = [];
  }

  /** Submits and waits for the GPU; raises any error of the work submitted so far. */
  async sync(): Promise<void> {
    this.flush();
    await this.raisePending();
    await this.guardLost(this.device.queue.onSubmittedWorkDone());
    this.throwIfLost();
  }

  private async raisePending(): Promise<void> {
    const pending = this.pendingErrors;
    this.pendingErrors = [];
    for (const p of pending) {
      const e = await p;
      if (e) throw e;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Tensors

  /** A tensor with undefined contents (from the pool when a buffer of that size is free). */
  tensor(shape: readonly number[], dtype: DType = 'f32', label = 'tensor'): Tensor {
    this.throwIfLost();
    checkShape(shape, `tensor "${label}"`);
    const bytes = shapeSize(shape) * BYTES_PER_ELEMENT[dtype];
    const size = alignUp(Math.max(bytes, 16), BUFFER_ALIGN);
    if (size > this.limits.maxBufferSize) {
      throw new Error(
        `tensor "${label}" of shape [${shape.join(', ')}] needs ${bytes} bytes; this device allows at most ${this.limits.maxBufferSize} per buffer (maxBufferSize)`,
      );
    }
    const pooled = this.pool.get(size)?.pop(); // the idle buffer of this size created first
    if (pooled) this.pooledBytes -= size;
    const buffer = pooled ?? this.createStorageBuffer(label, size);
    return new Tensor(this, buffer, [...shape], dtype, label, this.infoOf(buffer).id);
  }

  /**
   * A view of `shape` over `parent`'s elements from `elementOffset` on: bound, read, written,
   * cleared and copied like any tensor, in place in the parent's buffer. The offset must be a
   * multiple of the device's storage-binding alignment (minStorageBufferOffsetAlignment bytes).
   */
  view(parent: Tensor, elementOffset: number, shape: readonly number[], label: string): Tensor {
    checkShape(shape, `view "${label}"`);
    if (parent.parent !== null) throw new Error(`view "${label}": "${parent.label}" is itself a view; take the view of its parent`);
    if (parent.isReleased) throw new Error(`view "${label}": "${parent.label}" was already released`);
    const bytes = BYTES_PER_ELEMENT[parent.dtype];
    const byteOffset = elementOffset * bytes;
    const align = this.limits.minStorageBufferOffsetAlignment;
    if (!Number.isInteger(elementOffset) || elementOffset < 0 || byteOffset % align !== 0) {
      throw new Error(`view "${label}": element offset ${elementOffset} must be a non-negative multiple of ${align / bytes} (minStorageBufferOffsetAlignment ${align} bytes)`);
    }
    if (elementOffset + shapeSize(shape) > parent.size) {
      throw new Error(`view "${label}": elements ${elementOffset}…${elementOffset + shapeSize(shape) - 1} are outside "${parent.label}" (${parent.size} elements)`);
    }
    return new Tensor(this, parent.buffer, [...shape], parent.dtype, label, parent.bufferId, byteOffset, parent);
  }

  /**
   * Before a buffer is created: the pool may hold at most as many idle bytes as tensors hold,
   * the largest idle buffers going first. A buffer is pooled by its exact size, so without this
   * every new shape (a batch padded to another length, an evaluation batch) would leave a whole
   * step's buffers idle beside the new ones, and a run's memory would grow with the shapes it
   * met rather than with its largest step.
   */
  private boundPool(): void {
    // A timed pass (time()) must stay one pass: the pool is bounded once it has ended.
    if (this.timing) return;
    const inUse = this.memory.current - this.pooledBytes;
    if (this.pooledBytes <= inUse) return;
    // Recorded work may still use an idle buffer (released after its last dispatch was recorded).
    this.flush();
    const sizes = [...this.pool.keys()].sort((a, b) => b - a);
    for (const size of sizes) {
      const list = this.pool.get(size)!;
      while (list.length > 0 && this.pooledBytes > inUse) {
        list.pop()!.destroy();
        this.pooledBytes -= size;
        this.memory.current -= size;
      }
      if (list.length === 0) this.pool.delete(size);
      if (this.pooledBytes <= inUse) return;
    }
  }

  private createStorageBuffer(label: string, size: number): GPUBuffer {
    this.boundPool();
    const buffer = this.createBuffer({
      label,
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.memory.current += size;
    this.memory.peak = Math.max(this.memory.peak, this.memory.current);
    return buffer;
  }

  /** Bytes of tensor buffers alive (in use or pooled), and the most there ever were. */
  readonly memory = { current: 0, peak: 0 };

  /** Starts a new peak measurement from the current footprint. */
  resetPeakMemory(): void {
    this.memory.peak = this.memory.current;
  }

  /** A tensor filled with zeros (cleared on the GPU, in order with recorded work). */
  zeros(shape: readonly number[], dtype: DType = 'f32', label = 'zeros'): Tensor {
    const t = this.tensor(shape, dtype, label);
    this.clear(t);
    return t;
  }

  /** Records setting every element of `t` to zero. */
  clear(t: Tensor): void {
    this.throwIfLost();
    // A tensor's whole buffer (the pool's size, past its elements); a view's own range only.
    if (t.parent === null) this.closePass().clearBuffer(t.buffer);
    else this.closePass().clearBuffer(t.buffer, t.byteOffset, alignUp(t.byteLength, 4));
    this.batchKernels.push(`clear ${t.label}`);
  }

  /** Uploads host data into a new tensor; `data.length` must equal the shape's size. */
  upload(data: Float32Array | Uint32Array | Int32Array, shape: readonly number[], label = 'upload'): Tensor {
    const dtype: DType = data instanceof Float32Array ? 'f32' : data instanceof Uint32Array ? 'u32' : 'i32';
    checkShape(shape, `tensor "${label}"`);
    if (data.length !== shapeSize(shape)) {
      throw new Error(`tensor "${label}": ${data.length} values do not fill shape [${shape.join(', ')}] (${shapeSize(shape)})`);
    }
    const t = this.tensor(shape, dtype, label);
    this.write(t, data);
    return t;
  }

  /** Overwrites a tensor's contents from the host, in order with recorded work. */
  write(t: Tensor, data: Float32Array | Uint32Array | Int32Array): void {
    if (data.length !== t.size) {
      throw new Error(`tensor "${t.label}": ${data.length} values for ${t.size} elements`);
    }
    if (data.byteLength === 0) return;
    // queue.writeBuffer lands before the next submission, ahead of the work recorded so far,
    // which may still use this buffer (a pooled buffer's earlier tensor): while work is recorded,
    // a small write goes through the upload ring and a copy recorded in order; a large one
    // submits the recorded work first.
    if (this.encoder && data.byteLength <= UPLOAD_STAGED_MAX_BYTES) {
      const offset = this.reserve(this.uploads, data.byteLength, 4);
      new Uint8Array(this.uploads.host, offset, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      this.closePass().copyBufferToBuffer(this.uploads.buffer, offset, t.buffer, t.byteOffset, data.byteLength);
      this.batchKernels.push(`write ${t.label}`);
      return;
    }
    this.flush();
    this.device.queue.writeBuffer(t.buffer, t.byteOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Reads a tensor back to the host (submits recorded work first). */
  async read(t: Tensor): Promise<Float32Array> {
    const bytes = await this.readBytes(t);
    return new Float32Array(bytes);
  }

  /** Reads several tensors back in one submission (a training step's loss and gradient norm). */
  async readAll(ts: readonly Tensor[]): Promise<Float32Array[]> {
    this.throwIfLost();
    const offsets: number[] = [];
    let bytes = 0;
    for (const t of ts) {
      offsets.push(bytes);
      bytes += alignUp(Math.max(t.byteLength, 4), 4);
    }
    const staging = this.takeStaging(bytes);
    const encoder = this.closePass();
    ts.forEach((t, i) => encoder.copyBufferToBuffer(t.buffer, t.byteOffset, staging, offsets[i]!, alignUp(Math.max(t.byteLength, 4), 4)));
    const data = await this.readStaging(staging, bytes, bytes);
    return ts.map((t, i) => new Float32Array(data, offsets[i]!, t.size));
  }

  async readBytes(t: Tensor): Promise<ArrayBuffer> {
    this.throwIfLost();
    const bytes = alignUp(Math.max(t.byteLength, 4), 4);
    const staging = this.takeStaging(bytes);
    this.closePass().copyBufferToBuffer(t.buffer, t.byteOffset, staging, 0, bytes);
    return this.readStaging(staging, bytes, t.byteLength);
  }

  /**
   * Submits the recorded work, whose last command copies `bytes` into `staging`, and returns a
   * copy of the first `keep` of them. The buffer goes back to the pool unmapped; after a failure
   * (an error of the submitted work, a lost device) its state is unknown and it is destroyed.
   */
  private async readStaging(staging: GPUBuffer, bytes: number, keep: number): Promise<ArrayBuffer> {
    let data: ArrayBuffer | null = null;
    try {
      this.flush();
      await this.raisePending();
      await this.guardLost(staging.mapAsync(GPUMapMode.READ, 0, bytes));
      data = staging.getMappedRange(0, bytes).slice(0, keep);
      staging.unmap();
    } finally {
      if (data !== null) this.returnStaging(staging);
      else staging.destroy();
    }
    return data;
  }

  /** MAP_READ staging buffers created so far; once warm, read-backs reuse pooled ones. */
  get stagingBuffersCreated(): number {
    return this.stagingCreated;
  }

  /**
   * An unmapped MAP_READ | COPY_DST buffer of at least `bytes`, taken out of the pool (so no
   * other read can have it until returnStaging) or newly created.
   */
  private takeStaging(bytes: number): GPUBuffer {
    const size = bytes > STAGING_POOLED_MAX_BYTES ? bytes : Math.max(STAGING_MIN_BYTES, 2 ** Math.ceil(Math.log2(bytes)));
    const pooled = this.stagingPool.get(size)?.pop();
    if (pooled) {
      this.stagingPoolBytes -= size;
      return pooled;
    }
    this.stagingCreated++;
    return this.createBuffer({ label: 'read-back staging', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /** Puts an unmapped staging buffer back in the pool, or destroys it when the pool is full. */
  private returnStaging(buffer: GPUBuffer): void {
    if (this.destroyed || buffer.size > STAGING_POOLED_MAX_BYTES || this.stagingPoolBytes + buffer.size > STAGING_POOL_BYTES) {
      buffer.destroy();
      return;
    }
    const list = this.stagingPool.get(buffer.size);
    if (list) list.push(buffer);
    else this.stagingPool.set(buffer.size, [buffer]);
    this.stagingPoolBytes += buffer.size;
  }

  /**
   * Returns a buffer to the pool (called by Tensor.release). Each size's idle buffers are kept
   * latest-created first, so that tensor() takes the earliest: which buffers a step gets then
   * depends on which are idle, not on the order earlier steps released them in.
   */
  recycle(buffer: GPUBuffer): void {
    const { id, size } = this.infoOf(buffer);
    const list = this.pool.get(size);
    if (list) {
      // Binary search for the first buffer created before this one (a size class may hold hundreds).
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.infoOf(list[mid]!).id > id) lo = mid + 1;
        else hi = mid;
      }
      list.splice(lo, 0, buffer);
    } else {
      this.pool.set(size, [buffer]);
    }
    this.pooledBytes += size;
  }

  /** Frees every pooled buffer, tensors' and read-backs' (tensors still held stay valid). */
  trimPool(): void {
    // Work recorded but not yet submitted may still use a pooled buffer (a clear, a dispatch of a
    // run cancelled between stages): submitted first, the buffers are freed once the GPU is done.
    // A context being destroyed drops its recorded work instead.
    if (!this.destroyed) this.flush();
    for (const list of this.pool.values()) {
      for (const b of list) {
        this.memory.current -= b.size;
        b.destroy();
      }
    }
    this.pool.clear();
    this.pooledBytes = 0;
    // Bind groups of the freed buffers can never be used again; the rest are cheap to remake.
    this.bindGroups.clear();
    this.bindGroupCount = 0;
    for (const list of this.stagingPool.values()) for (const b of list) b.destroy();
    this.stagingPool.clear();
    this.stagingPoolBytes = 0;
  }

  // ---------------------------------------------------------------------------------------
  // Timing

  /**
   * GPU time of the dispatches `record` makes: timestamp queries around one compute pass when
   * the adapter has them, else wall clock from submit to completion (includes submit overhead).
   */
  async time(record: () => void): Promise<TimingResult> {
    await this.sync();
    if (!this.hasTimestamps) {
      const t0 = performance.now();
      record();
      await this.sync();
      return { ms: performance.now() - t0, source: 'wall-clock' };
    }
    const querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 });
    const resolve = this.createBuffer({
      size: 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    try {
      this.encoder = this.createCommandEncoder();
      this.pass = this.encoder.beginComputePass({
        timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
      });
      this.passPipeline = null;
      const timedPass = this.pass;
      this.timing = true;
      try {
        record();
      } finally {
        this.timing = false;
      }
      if (this.pass !== timedPass || this.encoder === null) {
        throw new Error('time(): the recorded work must be dispatches only (no copies, clears or flushes)');
      }
      const encoder = this.closePass();
      encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
      const readback = this.takeStaging(16);
      encoder.copyBufferToBuffer(resolve, 0, readback, 0, 16);
      const [t0, t1] = new BigUint64Array(await this.readStaging(readback, 16, 16));
      return { ms: Number(t1! - t0!) / 1e6, source: 'timestamp-query' };
    } finally {
      querySet.destroy();
      resolve.destroy();
      this.boundPool(); // what the timed pass's allocations left idle
    }
  }

  // ---------------------------------------------------------------------------------------

  destroy(): void {
    this.destroyed = true;
    this.trimPool();
    this.device.destroy();
  }

  private throwIfLost(): void {
    if (this.lostError) throw this.lostError;
    if (this.destroyed) throw new Error('the GPU context was destroyed');
  }

  /** Awaits a GPU promise, turning a rejection caused by device loss into DeviceLostError. */
  private async guardLost<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      await this.lossReported();
      this.throwIfLost();
      throw e;
    }
  }

  /** Resolves once `device.lost` has (then lostError is set) or after LOSS_REPORT_WAIT_MS, whichever comes first. */
  private async lossReported(): Promise<void> {
    if (this.lostError !== null || this.destroyed) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The constructor's handler on `lost` was registered first, so it has run when this resolves.
    await Promise.race([this.device.lost, new Promise((resolve) => (timer = setTimeout(resolve, LOSS_REPORT_WAIT_MS)))]);
    clearTimeout(timer);
  }
}

function sameConstants(a: Record<string, number>, b: Record<string, number> | undefined): boolean {
  let n = 0;
  for (const k in b) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _ in a) n--;
  return n === 0;
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** The error naming a parameter `decl`'s struct lacks, if `params` has one. */
function unknownParameter(kernel: Kernel, decl: BindingDecl, params: Record<string, number>): KernelError | undefined {
  const fields = decl.fields ?? [];
  const unknown = Object.keys(params).find((n) => !fields.some((f) => f.name === n));
  return unknown === undefined ? undefined : new KernelError(kernel.name, `unknown parameter "${unknown}"; ${decl.name} has ${fields.map((f) => f.name).join(', ')}`);
}

/** One step of a 32-bit multiplicative hash (FNV-1a's prime) over the integers of a binding set. */
function mixHash(hash: number, value: number): number {
  return Math.imul(hash ^ value, 16777619) >>> 0;
}

function describeBatch(kernels: string[]): string {
  const counts = new Map<string, number>();
  for (const k of kernels) counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join(', ');
}
