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

/**
 * The instruction cap of realtime clocks: between two reads, guest time may advance at most this
 * much per instruction retired (a 10 MIPS floor: every engine is faster, so real work is never cut)...
 */
const CAP_NS_PER_INSN = 100;
/** ...or this much, whatever ran: enough for any block of compiled code, far below a host stall. */
const CAP_MIN_STEP_NS = 2000;

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
  /** Instruction cap (see now()): the instruction counter, and the last read's count and time. */
  private retired: (() => number) | null = null;
  private lastInsns = 0;
  private lastNs = 0;
  /** Whether the cap applies now (the guest is running, not halted). */
  capped = false;
  /** Realtime mode: host ms left out of guest time by steal() and not yet paid back. */
  private owedMs = 0;

  constructor(mode: ClockMode = "realtime") {
    this.mode = mode;
    // Deterministic clocks are always "running": advance() is what moves them.
    this.running = mode === "deterministic";
  }

  /** Current virtual time in nanoseconds. */
  now(): number {
    if (this.mode !== "realtime" || !this.running) return this.frozenNs;
    let t = this.frozenNs + (performance.now() - this.hostBaseMs) * 1e6;
    if (this.capped && this.retired !== null) {
      // Between two looks at the clock the guest sees at most what its instructions could have
      // taken: a host stall (garbage collection, V8 compiling, the OS) is left out of guest time.
      const insns = this.retired();
      const max = this.lastNs + Math.max(CAP_MIN_STEP_NS, (insns - this.lastInsns) * CAP_NS_PER_INSN);
      this.lastInsns = insns;
      if (t > max) {
        const ms = (t - max) / 1e6;
        this.hostBaseMs += ms;
        this.owedMs += ms;
        t = max;
      }
    }
    if (t < this.lastNs) t = this.lastNs;
    this.lastNs = t;
    return t;
  }

  /**
   * Realtime mode: from now on, cap the time that passes between two reads of the clock by the
   * instructions the guest retired meanwhile (`retired` counts them live). The run loop turns the
   * cap off while the guest is halted, when time must flow freely.
   */
  capByInstructions(retired: () => number): void {
    this.retired = retired;
    this.lastInsns = retired();
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

  /**
   * Realtime mode: leave `ms` of host time that just passed out of the guest's time. The run loop
   * calls this for host work the guest must not see as time passing while it runs (yields to the
   * host's event loop, compiling code), so that tight guest loops timed against the PIT or the TSC
   * (Linux's TSC calibration) see a steady clock. The time is owed and paid back by payBack().
   */
  steal(ms: number): void {
    if (this.mode !== "realtime" || !this.running || ms <= 0) return;
    this.hostBaseMs += ms;
    this.owedMs += ms;
  }

  /**
   * Realtime mode: give back up to `maxMs` of stolen time (a forward jump), so that guest time keeps
   * following the host's over the long run. The run loop calls it while the guest is halted, where
   * a jump looks like a late wake-up. Returns the ms paid back.
   */
  payBack(maxMs: number): number {
    if (this.mode !== "realtime" || !this.running) return 0;
    const ms = Math.min(maxMs, this.owedMs);
    this.hostBaseMs -= ms;
    this.owedMs -= ms;
    return ms;
  }

  /** Stolen host time not paid back yet (ms). */
  get owed(): number {
    return this.owedMs;
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
