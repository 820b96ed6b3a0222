// Character devices for the Node CLI: the stdio multiplexer with QEMU's Ctrl-A escapes, files,
// TCP/unix servers. Each backend connects a byte sink (the guest's UART or the monitor) to the host.
import { closeSync, openSync, unlinkSync, writeSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";

export interface ByteSink {
  /** Bytes from the host to the frontend (guest serial input or monitor keystrokes). */
  receive(data: Uint8Array): void;
  /** The stdio mux gave this frontend the terminal (Ctrl-A c). */
  focused?(): void;
}

/**
 * Output to a host stream, gathered and written once per turn of the host's event loop (the run
 * loop yields every few milliseconds) and at close. A guest UART sends one byte per THR write: one
 * host write per byte took ~170 ms of a Linux boot's console output on a pipe (CPU profile: socket
 * write requests), while nobody sees a few milliseconds of delay.
 */
export class OutputBuffer {
  private buf = new Uint8Array(4096);
  private len = 0;
  private scheduled = false;
  private readonly flushNow = () => this.flush();

  constructor(private readonly emit: (data: Uint8Array) => void) {}

  byte(b: number): void {
    if (this.len === this.buf.length) this.grow(1);
    this.buf[this.len++] = b;
    this.schedule();
  }

  write(data: string | Uint8Array): void {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    if (this.len + bytes.length > this.buf.length) this.grow(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    this.schedule();
  }

  /** Write out what is gathered now (called at close and before anything that must follow it). */
  flush(): void {
    this.scheduled = false;
    if (this.len === 0) return;
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    this.emit(out);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushNow);
  }

  private grow(more: number): void {
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + more));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

export const MUX_HELP = [
  "C-a h    print this help",
  "C-a x    exit emulator",
  "C-a s    save disk data back to file (if -snapshot)",
  "C-a t    toggle console timestamps",
  "C-a b    send break (magic sysrq)",
  "C-a c    switch between console and monitor",
  "C-a C-a  sends C-a",
].join("\r\n");

export interface MuxCallbacks {
  onExit(): void;
  onBreak(): void;
}

/**
 * stdin/stdout shared by the guest console and the monitor, switched with Ctrl-A c (QEMU's "mux").
 * The terminal is put in raw mode and restored on every exit path.
 */
export class StdioMux {
  private frontends: ByteSink[] = [];
  private focus = 0;
  private escape = false;
  private timestamps = false;
  private atLineStart = true;
  private readonly start = Date.now();
  private restored = false;
  private readonly onData = (buf: Buffer) => this.input(buf);
  private readonly out = new OutputBuffer((data) => process.stdout.write(data));

  constructor(private readonly cb: MuxCallbacks) {}

  /** Add a frontend; the first is focused. Returns its index. */
  add(sink: ByteSink): number {
    this.frontends.push(sink);
    return this.frontends.length - 1;
  }

  get focused(): number {
    return this.focus;
  }

  setFocus(k: number): void {
    this.focus = k;
  }

  open(): void {
    const stdin = process.stdin;
    if (stdin.isTTY) {
      stdin.setRawMode(true);
      // Also when the process exits another way than the CLI's stop path (signals end the run
      // through it: src/cli/main.ts).
      process.once("exit", () => this.close());
    }
    stdin.on("data", this.onData);
    stdin.resume();
  }

  /** Restore the terminal and stop reading stdin. Safe to call more than once. */
  close(): void {
    if (this.restored) return;
    this.restored = true;
    this.out.flush();
    process.stdin.off("data", this.onData);
    if (process.stdin.isTTY) process.stdin.setRawMode(false);
    process.stdin.pause();
  }

  /** Output from a frontend to the terminal. */
  write(data: string | Uint8Array): void {
    if (!this.timestamps) {
      this.out.write(data);
      return;
    }
    const text = typeof data === "string" ? data : Buffer.from(data).toString("latin1");
    let out = "";
    for (const ch of text) {
      if (this.atLineStart) {
        const t = (Date.now() - this.start) / 1000;
        out += `[${t.toFixed(3).padStart(10)}] `;
      }
      out += ch;
      this.atLineStart = ch === "\n";
    }
    this.out.write(out);
  }

  /** One byte from the guest's UART (no timestamps: the common case, without a copy). */
  writeByte(b: number): void {
    if (this.timestamps) this.write(Uint8Array.of(b));
    else this.out.byte(b);
  }

  private input(buf: Buffer): void {
    let pending: number[] = [];
    const flush = () => {
      if (pending.length > 0) this.frontends[this.focus]?.receive(Uint8Array.from(pending));
      pending = [];
    };
    for (const b of buf) {
      if (this.escape) {
        this.escape = false;
        switch (b) {
          case 0x01:
            pending.push(0x01);
            break;
          case 0x78: // x
            flush();
            this.write("QEMU: Terminated\r\n");
            this.cb.onExit();
            return;
          case 0x68: // h
          case 0x3f: // ?
            flush();
            this.write(`\r\n${MUX_HELP}\r\n`);
            break;
          case 0x63: // c
            flush();
            this.focus = (this.focus + 1) % Math.max(1, this.frontends.length);
            this.frontends[this.focus]?.focused?.();
            break;
          case 0x74: // t
            this.timestamps = !this.timestamps;
            break;
          case 0x62: // b
            flush();
            this.cb.onBreak();
            break;
          case 0x73: // s: no disks yet
            break;
          default:
            pending.push(0x01, b);
        }
        continue;
      }
      if (b === 0x01) {
        this.escape = true;
        continue;
      }
      pending.push(b);
    }
    flush();
  }
}

/** `-serial file:PATH`: append guest output to a file. */
export class FileSink {
  private readonly fd: number;
  private readonly out: OutputBuffer;
  constructor(path: string) {
    const fd = openSync(path, "w");
    this.fd = fd;
    this.out = new OutputBuffer((data) => writeSync(fd, data));
  }
  writeByte(b: number): void {
    this.out.byte(b);
  }
  close(): void {
    this.out.flush();
    closeSync(this.fd);
  }
}

/**
 * A listening socket (`tcp:[host]:port,server[,nowait]` or `unix:PATH,server[,nowait]`) with one
 * client at a time, as QEMU's socket chardev in server mode.
 */
export class SocketServer {
  private server: Server | null = null;
  private client: Socket | null = null;
  private readonly out = new OutputBuffer((data) => this.client?.write(data));
  onConnect: ((write: (s: string | Uint8Array) => void) => void) | null = null;

  constructor(
    readonly spec: string,
    private readonly sink: ByteSink,
  ) {}

  /** Start listening; resolves once listening, and (without nowait) once a client has connected. */
  async listen(): Promise<void> {
    const { path, host, port, wait } = parseSocketSpec(this.spec);
    const server = createServer((sock) => {
      if (this.client) {
        sock.end();
        return;
      }
      this.client = sock;
      sock.on("data", (d) => this.sink.receive(new Uint8Array(d)));
      sock.on("close", () => {
        if (this.client === sock) this.client = null;
      });
      sock.on("error", () => {});
      this.onConnect?.((s) => sock.write(s));
      connected?.();
    });
    this.server = server;
    let connected: (() => void) | null = null;
    const whenConnected = new Promise<void>((resolve) => {
      connected = resolve;
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      if (path !== undefined) {
        // As QEMU: a stale socket file from an earlier run is replaced.
        try {
          unlinkSync(path);
        } catch {}
        server.listen(path, resolve);
      } else server.listen(port, host, resolve);
    });
    if (wait) {
      process.stderr.write(`QEMU waiting for connection on: disconnected:${this.spec}\n`);
      await whenConnected;
    }
  }

  writeByte(b: number): void {
    this.out.byte(b);
  }

  close(): void {
    this.out.flush();
    this.client?.destroy();
    this.server?.close();
  }
}

/** Parses `tcp:[host]:port,server[,nowait]` / `unix:PATH,server[,nowait]`; throws Error with the reason. */
export function parseSocketSpec(spec: string): { path?: string; host: string; port: number; wait: boolean } {
  const parts = spec.split(",");
  const wait = !parts.includes("nowait") && !parts.includes("wait=off");
  if (!parts.includes("server") && !parts.includes("server=on"))
    throw new Error("only server sockets are supported yet (add ,server)");
  const head = parts[0];
  for (const p of parts.slice(1))
    if (!["server", "server=on", "nowait", "wait=off", "wait", "wait=on"].includes(p))
      throw new Error(`invalid socket option '${p}'`);
  if (head.startsWith("unix:")) {
    if (head.length === 5) throw new Error("missing socket path");
    return { path: head.slice(5), host: "", port: 0, wait };
  }
  const m = /^tcp:([^:]*):(\d+)$/.exec(head);
  if (!m || Number(m[2]) > 65535) throw new Error("invalid socket address (tcp:[host]:port)");
  return { host: m[1] === "" ? "127.0.0.1" : m[1], port: Number(m[2]), wait };
}
