// Small process helpers for the benchmark scripts (not part of the emulator).
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, capturing its output. */
export function exec(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C", DEBIAN_FRONTEND: "noninteractive" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", (e) => resolve({ code: 127, stdout, stderr: `${stderr}${e.message}` }));
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** The full path of a command on PATH, or null. */
export function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return join(dir, cmd);
    } catch {
      // keep looking
    }
  }
  return null;
}

export const isRoot = (): boolean => process.getuid?.() === 0;

/** The most telling line of a tool's error output. */
export function firstLine(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const line = lines.find((l) => l.startsWith("E:") || /error/i.test(l)) ?? lines[0] ?? "";
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/** `apt-get install -y PKGS` as root (waiting for another apt to finish); throws with a hint otherwise. */
export async function aptInstall(pkgs: string[], log: (l: string) => void): Promise<void> {
  const hint = `install it with: sudo apt-get install ${pkgs.join(" ")}`;
  if (!isRoot() || !which("apt-get")) throw new Error(`missing ${pkgs.join(", ")}: ${hint}`);
  log(`Installing ${pkgs.join(" ")} with apt-get…`);
  const args = ["install", "-y", "-q", "-o", "DPkg::Lock::Timeout=600", ...pkgs];
  let r = await exec("apt-get", args);
  if (r.code !== 0) {
    // Stale package lists: update once (a partly failed update still helps) and retry.
    await exec("apt-get", ["update", "-q", "-o", "DPkg::Lock::Timeout=600"]);
    r = await exec("apt-get", args);
  }
  if (r.code !== 0) throw new Error(`apt-get install ${pkgs.join(" ")} failed: ${firstLine(r.stderr)}`);
}
