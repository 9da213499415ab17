// Pause, resume and cancel for a long job, taking effect between its steps: the job calls
// `await gate.pass()` at each boundary (between training steps, between evaluation batches);
// pass() returns at once while running, waits while paused, and throws the cancel reason once
// cancelled. `signal` aborts on cancel too, for work that takes an AbortSignal (downloads).

export class StepGate {
  private readonly controller = new AbortController();
  private pauseRequested = false;
  private parked = false;
  private wake: (() => void) | null = null;
  /** Called when a pass() actually stops (paused at a boundary) and when it goes on again. */
  onPaused: (() => void) | null = null;
  onResumed: (() => void) | null = null;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get paused(): boolean {
    return this.pauseRequested;
  }

  get cancelled(): boolean {
    return this.controller.signal.aborted;
  }

  /** Stops at the next boundary. */
  pause(): void {
    this.pauseRequested = true;
  }

  resume(): void {
    this.pauseRequested = false;
    this.wake?.();
  }

  cancel(reason: Error): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
    this.wake?.();
  }

  /**
   * A step boundary. While paused, first runs `beforePause` (e.g. reporting the step in flight),
   * then waits for resume() or cancel().
   */
  async pass(beforePause?: () => Promise<void>): Promise<void> {
    this.controller.signal.throwIfAborted();
    if (!this.pauseRequested) return;
    await beforePause?.();
    this.controller.signal.throwIfAborted();
    if (!this.pauseRequested) return;
    this.parked = true;
    this.onPaused?.();
    while (this.pauseRequested && !this.controller.signal.aborted) {
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
    this.parked = false;
    this.controller.signal.throwIfAborted();
    this.onResumed?.();
  }

  /** Whether the job is stopped at a boundary right now (paused, not just asked to pause). */
  get isParked(): boolean {
    return this.parked;
  }
}
