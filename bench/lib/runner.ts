// Runs one emulator (or native program) as a child process and timestamps every line it
// prints on stdout (the guest's serial console) as it arrives on the host.
import { spawn } from "node:child_process";

export interface Line {
  /** Milliseconds since the child was spawned. */
  t: number;
  text: string;
}

export interface ChildRun {
  lines: Line[];
  /** stderr lines, timestamped the same way. */
  errLines: Line[];
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Milliseconds from spawn to exit. */
  exitT: number;
}

export interface ChildSpec {
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  timeoutMs: number;
  /** Called for each complete stdout line (after timestamping); may signal the child. */
  onLine?: (line: Line, child: { pid: number | undefined; kill: (sig: NodeJS.Signals) => void }) => void;
  /** Called for each complete stderr line. */
  onErrLine?: (line: Line, child: { pid: number | undefined; kill: (sig: NodeJS.Signals) => void }) => void;
  /** Once a line matches, the child gets `graceMs` to exit on its own before SIGTERM. */
  doneOn?: RegExp;
  graceMs?: number;
  /** Echo the serial output to our stderr (for --verbose). */
  echo?: boolean;
}

const strip = (s: string): string =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escapes and CRs from the guest
  s.replace(/\r/g, "").replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");

export function runChild(spec: ChildSpec): Promise<ChildRun> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const now = () => performance.now() - t0;
    const child = spawn(spec.cmd, spec.args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ...spec.env },
    });
    const lines: Line[] = [];
    const errLines: Line[] = [];
    let timedOut = false;
    let doneTimer: NodeJS.Timeout | null = null;
    const kill = (sig: NodeJS.Signals) => {
      try {
        child.kill(sig);
      } catch {
        // already gone
      }
    };
    const handle = { pid: child.pid, kill };
    const splitter = (into: Line[], isOut: boolean) => {
      let buf = "";
      return (d: Buffer) => {
        const t = now();
        buf += d.toString("latin1");
        let nl = buf.indexOf("\n");
        while (nl >= 0) {
          const line = { t, text: strip(buf.slice(0, nl)) };
          buf = buf.slice(nl + 1);
          into.push(line);
          if (isOut) {
            if (spec.echo) process.stderr.write(`  | ${line.text}\n`);
            spec.onLine?.(line, handle);
            if (spec.doneOn?.test(line.text) && !doneTimer) {
              doneTimer = setTimeout(() => kill("SIGTERM"), spec.graceMs ?? 10000);
            }
          } else {
            spec.onErrLine?.(line, handle);
          }
          nl = buf.indexOf("\n");
        }
      };
    };
    child.stdout.on("data", splitter(lines, true));
    child.stderr.on("data", splitter(errLines, false));
    child.stdin.on("error", () => {});
    const timer = setTimeout(() => {
      timedOut = true;
      kill("SIGTERM");
      setTimeout(() => kill("SIGKILL"), 5000).unref();
    }, spec.timeoutMs);
    child.on("error", (e) => {
      errLines.push({ t: now(), text: `spawn ${spec.cmd}: ${e.message}` });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (doneTimer) clearTimeout(doneTimer);
      resolve({ lines, errLines, code, signal, timedOut, exitT: now() });
    });
  });
}
