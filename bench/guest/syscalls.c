/*
 * syscalls: N getpid(2) calls through int $0x80 (the kernel entry/exit path, no work inside).
 *
 *   syscalls [N] [RUN]
 * prints "BENCH syscalls run=RUN begin n=N" and "BENCH syscalls run=RUN end n=N pidsum=X guest_us=T".
 */
#include "rt.h"

int main(int argc, char **argv, char **envp) {
  (void)envp;
  u32 n = parse_u32(argc > 1 ? argv[1] : 0, 100000);
  const char *run = argc > 2 ? argv[2] : "0";
  put_marker("syscalls", run, "begin n=");
  put_u32(n);
  flush_line();
  u64 t0 = now_us();
  u32 acc = 0;
  for (u32 i = 0; i < n; i++) acc += (u32)sys0(SYS_getpid);
  u64 t1 = now_us();
  put_marker("syscalls", run, "end n=");
  put_u32(n);
  put_str(" pidsum=");
  put_hex(acc);
  put_str(" guest_us=");
  put_u32((u32)(t1 - t0));
  flush_line();
  return 0;
}
