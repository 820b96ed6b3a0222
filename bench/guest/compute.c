/*
 * compute: a deterministic CPU-bound user-mode workload for tsqemu's benchmarks.
 *
 *   compute [UNITS] [RUN]
 *
 * Each unit does a sieve of Eratosthenes, a table-driven CRC32 over a pseudo-random buffer and
 * an integer multiply/divide mix; the results fold into one checksum that depends only on
 * UNITS (so every emulator must print the same one). It prints
 *   BENCH compute run=RUN begin units=UNITS
 *   BENCH compute run=RUN end units=UNITS checksum=XXXXXXXX guest_us=N
 * and the harness times the two marker lines on the host. guest_us is the program's own
 * CLOCK_MONOTONIC reading, kept only as information: clocks inside emulators drift.
 */
#include "rt.h"

#define SIEVE_N (1u << 17)
#define CRC_BYTES (1u << 16)
#define MULDIV_ITERS 20000u

static unsigned char sieve_buf[SIEVE_N];
static unsigned char crc_buf[CRC_BYTES];
static u32 crc_table[256];

static u32 sieve(void) {
  memset(sieve_buf, 1, SIEVE_N);
  sieve_buf[0] = sieve_buf[1] = 0;
  for (u32 i = 2; i * i < SIEVE_N; i++) {
    if (!sieve_buf[i]) continue;
    for (u32 j = i * i; j < SIEVE_N; j += i) sieve_buf[j] = 0;
  }
  u32 count = 0, sum = 0;
  for (u32 i = 0; i < SIEVE_N; i++) {
    if (sieve_buf[i]) {
      count++;
      sum += i;
    }
  }
  return count ^ (sum << 7);
}

static void crc_init(void) {
  for (u32 i = 0; i < 256; i++) {
    u32 c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

static u32 crc32(u32 seed) {
  /* Fill with a xorshift stream seeded per unit, then CRC it. */
  u32 x = seed | 1;
  for (u32 i = 0; i < CRC_BYTES; i += 4) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    crc_buf[i] = (unsigned char)x;
    crc_buf[i + 1] = (unsigned char)(x >> 8);
    crc_buf[i + 2] = (unsigned char)(x >> 16);
    crc_buf[i + 3] = (unsigned char)(x >> 24);
  }
  u32 c = 0xffffffffu;
  for (u32 i = 0; i < CRC_BYTES; i++) c = crc_table[(c ^ crc_buf[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

static u32 muldiv(u32 seed) {
  u32 a = seed | 1, acc = 0;
  i32 s = (i32)seed;
  for (u32 i = 1; i <= MULDIV_ITERS; i++) {
    a = a * 1103515245u + 12345u;
    u32 d = (a >> 16) | 1;
    acc += a / d;          /* div */
    acc ^= a % (i + 7);    /* div (remainder) */
    s = s * 31 - (i32)i;   /* imul */
    acc += (u32)(s / (i32)((i & 0xff) + 3)); /* idiv */
    u64 wide = (u64)a * (u64)(acc | 1);       /* mul, 64-bit product */
    acc ^= (u32)(wide >> 32);
  }
  return acc;
}

int main(int argc, char **argv, char **envp) {
  (void)envp;
  u32 units = parse_u32(argc > 1 ? argv[1] : 0, 100);
  const char *run = argc > 2 ? argv[2] : "0";
  put_marker("compute", run, "begin units=");
  put_u32(units);
  flush_line();
  u64 t0 = now_us();
  crc_init();
  u32 sum = 0;
  for (u32 u = 0; u < units; u++) {
    sum = (sum << 5 | sum >> 27) ^ sieve();
    sum = (sum << 5 | sum >> 27) ^ crc32(0x9e3779b9u * (u + 1));
    sum = (sum << 5 | sum >> 27) ^ muldiv(u * 2654435761u);
  }
  u64 t1 = now_us();
  put_marker("compute", run, "end units=");
  put_u32(units);
  put_str(" checksum=");
  put_hex(sum);
  put_str(" guest_us=");
  put_u32((u32)(t1 - t0));
  flush_line();
  return 0;
}
