// Virtual clock and timers for the board (QEMU's QEMU_CLOCK_VIRTUAL in miniature).
//
// Time is a plain number of nanoseconds since the clock was created. Two modes:
// - `realtime`: follows the host's monotonic clock (`performance.now()`), but stands still
//   while the VM is paused, so guest time never jumps over a stop;
// - `deterministic`: moves only when the board calls `advance()` (e.g. 1 ns per executed
//   instruction), which makes device tests and differential runs reproducible.
//
// Timers sit in a singly-linked list sorted by deadline. Device counts are tiny, so an O(n)
// insert beats a heap and mod()/del()/runTimers() allocate nothing.

export type ClockMode = "realtime" | "deterministic";

export type TimerCallback = () => void;

export class Timer {
  /** Absolute deadline in ns; meaningless while not armed. */
  deadline = 0;
  armed = false;
  /** @internal next timer in the clock's sorted list. */
  next: Timer | null = null;

  constructor(
    private readonly clock: Clock,
    readonly callback: TimerCallback,
  ) {}

  /** Arm (or re-arm) the timer to fire once when the clock reaches `deadlineNs`. */
  mod(deadlineNs: number): void {
    this.clock.insertTimer(this, deadlineNs);
  }

  /** Disarm; harmless when not armed. */
  del(): void {
    this.clock.removeTimer(this);
  }
}

export class Clock {
  readonly mode: ClockMode;
  private running: boolean;
  /** Deterministic mode: the current time. Realtime mode: the time when last paused. */
  private frozenNs = 0;
  /** Realtime mode: host ms at which we resumed, and the virtual time at that moment. */
  private hostBaseMs = 0;
  private head: Timer | null = null;

  constructor(mode: ClockMode = "realtime") {
    this.mode = mode;
    // Deterministic clocks are always "running": advance() is what moves them.
    this.running = mode === "deterministic";
  }

  /** Current virtual time in nanoseconds. */
  now(): number {
    if (this.mode === "realtime" && this.running) {
      return this.frozenNs + (performance.now() - this.hostBaseMs) * 1e6;
    }
    return this.frozenNs;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Start or resume the VM's time (realtime mode). */
  resume(): void {
    if (this.running) return;
    this.running = true;
    this.hostBaseMs = performance.now();
  }

  /** Stop the VM's time (realtime mode): now() stays put until resume(). */
  pause(): void {
    if (!this.running || this.mode !== "realtime") return;
    this.frozenNs = this.now();
    this.running = false;
  }

  /** Deterministic mode: move time forward by `ns` (>= 0). Timers are not run here. */
  advance(ns: number): void {
    if (this.mode !== "deterministic") throw new Error("Clock.advance() needs deterministic mode");
    if (ns > 0) this.frozenNs += ns;
  }

  /** Deterministic mode: jump to `ns` if it is in the future (an idle guest skipping to a deadline). */
  advanceTo(ns: number): void {
    if (this.mode !== "deterministic") throw new Error("Clock.advanceTo() needs deterministic mode");
    if (ns > this.frozenNs) this.frozenNs = ns;
  }

  newTimer(callback: TimerCallback): Timer {
    return new Timer(this, callback);
  }

  /** Earliest armed deadline, or Infinity when no timer is armed. */
  nextDeadline(): number {
    return this.head === null ? Number.POSITIVE_INFINITY : this.head.deadline;
  }

  /**
   * Fire every timer whose deadline is <= now, earliest first. A callback may re-arm its own
   * timer (periodic devices do); one re-armed at or before now fires again in this call.
   * Returns the number of callbacks run.
   */
  runTimers(): number {
    let fired = 0;
    const now = this.now();
    while (this.head !== null && this.head.deadline <= now) {
      const t = this.head;
      this.head = t.next;
      t.next = null;
      t.armed = false;
      fired++;
      t.callback();
    }
    return fired;
  }

  /** @internal */
  insertTimer(t: Timer, deadline: number): void {
    if (t.armed) this.removeTimer(t);
    t.deadline = deadline;
    t.armed = true;
    // Equal deadlines keep insertion order (FIFO), so same-time events fire as scheduled.
    if (this.head === null || deadline < this.head.deadline) {
      t.next = this.head;
      this.head = t;
      return;
    }
    let p = this.head;
    while (p.next !== null && p.next.deadline <= deadline) p = p.next;
    t.next = p.next;
    p.next = t;
  }

  /** @internal */
  removeTimer(t: Timer): void {
    if (!t.armed) return;
    t.armed = false;
    if (this.head === t) {
      this.head = t.next;
    } else {
      let p = this.head;
      while (p !== null && p.next !== t) p = p.next;
      if (p !== null) p.next = t.next;
    }
    t.next = null;
  }
}
