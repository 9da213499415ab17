// Errors the GPU runtime raises. Each says what went wrong, where (kernel or tensor), and what
// to do about it, so the CLI and the page can show the message as it is.

/** The browser (or Node build) offers no WebGPU at all, or no adapter. */
export class WebGpuUnavailableError extends Error {
  override name = 'WebGpuUnavailableError';
}

/** A kernel was compiled or dispatched wrongly: bad WGSL, wrong bindings, shapes or sizes. */
export class KernelError extends Error {
  override name = 'KernelError';
  constructor(readonly kernel: string, problem: string) {
    super(`kernel "${kernel}": ${problem}`);
  }
}

/** The GPU device was lost (driver reset, tab in background too long, out of memory). */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
  constructor(readonly reason: string, detail: string) {
    super(
      `the GPU device was lost (${reason}${detail ? `: ${detail}` : ''}). ` +
        'Work recorded since the last checkpoint is gone; reload the page (or restart the command) ' +
        'to get a new device, then resume from the last saved state.',
    );
  }
}
