/*
 * A tiny freestanding runtime for tsqemu's guest benchmarks (i386 Linux, int $0x80).
 *
 * No libc: every emulator then runs exactly the same instruction stream (glibc would pick
 * different string routines from CPUID), the binaries stay a few KiB, and nothing touches the
 * x87/SSE units. Built with: gcc -m32 -march=i686 -static -nostdlib -ffreestanding -O2.
 */
#ifndef TSQEMU_BENCH_RT_H
#define TSQEMU_BENCH_RT_H

typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
typedef long long i64;

#define UNUSED __attribute__((unused))

#define SYS_exit 1
#define SYS_fork 2
#define SYS_write 4
#define SYS_execve 11
#define SYS_getpid 20
#define SYS_waitpid 7
#define SYS_clock_gettime 265
#define CLOCK_MONOTONIC 1

static inline i32 sys1(i32 n, i32 a) {
  i32 r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a) : "memory");
  return r;
}
static inline i32 sys2(i32 n, i32 a, i32 b) {
  i32 r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b) : "memory");
  return r;
}
static inline i32 sys3(i32 n, i32 a, i32 b, i32 c) {
  i32 r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c) : "memory");
  return r;
}
static inline i32 sys0(i32 n) {
  i32 r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(n) : "memory");
  return r;
}

static UNUSED __attribute__((noreturn)) void sys_exit(i32 code) {
  for (;;) sys1(SYS_exit, code);
}

static UNUSED u32 str_len(const char *s) {
  u32 n = 0;
  while (s[n]) n++;
  return n;
}

/* Output is collected in one buffer and written with one write(2) per line, so a marker line
 * reaches the serial console in one piece. */
static char out_buf[256];
static u32 out_len;

static void put_str(const char *s) {
  while (*s && out_len < sizeof out_buf - 1) out_buf[out_len++] = *s++;
}
static void put_u32(u32 v) {
  char tmp[12];
  int i = 0;
  do {
    tmp[i++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (i > 0 && out_len < sizeof out_buf - 1) out_buf[out_len++] = tmp[--i];
}
static UNUSED void put_hex(u32 v) {
  for (int s = 28; s >= 0; s -= 4) {
    if (out_len < sizeof out_buf - 1) out_buf[out_len++] = "0123456789abcdef"[(v >> s) & 15];
  }
}
static void flush_line(void) {
  out_buf[out_len++] = '\n';
  sys3(SYS_write, 1, (i32)out_buf, (i32)out_len);
  out_len = 0;
}

/* Parses a decimal argument; `def` when absent or malformed. */
static u32 parse_u32(const char *s, u32 def) {
  if (!s || !*s) return def;
  u32 v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return def;
    v = v * 10 + (u32)(*s - '0');
  }
  return v;
}

struct ts32 {
  i32 sec;
  i32 nsec;
};

/* Guest monotonic time in microseconds (informational only: the harness times the markers). */
static u64 now_us(void) {
  struct ts32 t;
  if (sys2(SYS_clock_gettime, CLOCK_MONOTONIC, (i32)&t) != 0) return 0;
  return (u64)(u32)t.sec * 1000000u + (u32)t.nsec / 1000u;
}

/* The label printed in markers: "BENCH <name> run=<run>". */
static void put_marker(const char *name, const char *run, const char *what) {
  put_str("BENCH ");
  put_str(name);
  put_str(" run=");
  put_str(run && *run ? run : "0");
  put_str(" ");
  put_str(what);
}

int main(int argc, char **argv, char **envp);

/* The ELF entry: the kernel leaves argc, argv[], NULL, envp[] on the stack. The stack is
 * re-aligned to 16 bytes before calling main. */
__asm__(
    ".text\n"
    ".globl _start\n"
    "_start:\n"
    "  xorl %ebp, %ebp\n"
    "  movl (%esp), %eax\n"
    "  leal 4(%esp), %ecx\n"
    "  leal 8(%esp,%eax,4), %edx\n"
    "  andl $-16, %esp\n"
    "  subl $4, %esp\n"
    "  pushl %edx\n"
    "  pushl %ecx\n"
    "  pushl %eax\n"
    "  call main\n"
    "  movl %eax, %ebx\n"
    "  movl $1, %eax\n"
    "  int $0x80\n"
    "  hlt\n");

/* gcc may emit calls to these even with -ffreestanding. */
void *memset(void *d, int c, u32 n) {
  unsigned char *p = d;
  while (n--) *p++ = (unsigned char)c;
  return d;
}
void *memcpy(void *d, const void *s, u32 n) {
  unsigned char *p = d;
  const unsigned char *q = s;
  while (n--) *p++ = *q++;
  return d;
}

#endif
