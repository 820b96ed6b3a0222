/*
 * forkexec: N times fork(2), execve(2) of a program in the child, waitpid(2) in the parent.
 *
 *   forkexec [N] [RUN] [PATH [ARGV0]]
 * PATH defaults to /bin/true (busybox in the guest; the harness passes the same static i386
 * busybox with ARGV0 "true" when it runs this natively). Prints
 * "BENCH forkexec run=RUN begin n=N" and "BENCH forkexec run=RUN end n=N failures=F guest_us=T".
 */
#include "rt.h"

int main(int argc, char **argv, char **envp) {
  u32 n = parse_u32(argc > 1 ? argv[1] : 0, 200);
  const char *run = argc > 2 ? argv[2] : "0";
  const char *path = argc > 3 ? argv[3] : "/bin/true";
  const char *argv0 = argc > 4 ? argv[4] : "true";
  const char *child_argv[2] = {argv0, 0};
  put_marker("forkexec", run, "begin n=");
  put_u32(n);
  flush_line();
  u64 t0 = now_us();
  u32 failures = 0;
  for (u32 i = 0; i < n; i++) {
    i32 pid = sys0(SYS_fork);
    if (pid == 0) {
      sys3(SYS_execve, (i32)path, (i32)child_argv, (i32)envp);
      sys_exit(127);
    }
    if (pid < 0) {
      failures++;
      continue;
    }
    i32 status = 0;
    if (sys3(SYS_waitpid, pid, (i32)&status, 0) != pid || status != 0) failures++;
  }
  u64 t1 = now_us();
  put_marker("forkexec", run, "end n=");
  put_u32(n);
  put_str(" failures=");
  put_u32(failures);
  put_str(" guest_us=");
  put_u32((u32)(t1 - t0));
  flush_line();
  return failures ? 1 : 0;
}
