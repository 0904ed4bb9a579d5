// The batched eBPF backend's loader: loads bpf/leastpriv.bpf.c (its skeleton is built in), scopes it
// to a process tree or a cgroup, drains the ring buffer every few milliseconds (and when the kernel side
// wakes it, past a fill mark) into a buffer of its own, and writes every frame to stdout as a u32 length
// and its bytes, in batches (see on_event) and as fast as its reader takes them (see `out`).
//
// Usage: leastpriv-bpf [--tick-ms N] [--ring-mb N] [--hold-mb N] [--batch-ms N] [--wake-mark BYTES] [--stats 1] [--exec-probe P] MODE ID [CWD]
//        leastpriv-bpf --check [--ring-mb N] [--exec-probe P]
//   SIGUSR1 (sent by trace-run once the traced command runs): its reader, the parent, goes to idle
//   priority while it keeps up (see raise_reader); it is set back when the loader ends.
//   --tick-ms: how often the ring is drained (10); --ring-mb: its size, a power of two (16);
//   --hold-mb: how much the loader holds, drained from the ring, while its reader is behind (a
//   sixteenth of the machine's memory, from 16 to 256);
//   --batch-ms: how long a frame may wait before it is written (1000; 0: each drain at once; see on_event)
//   --wake-mark: bytes waiting past which the kernel side wakes the loader at once (a quarter of the ring)
//   --stats 1: the kernel's run-time statistics while it runs; at the end, one line per probe on stderr
//   ("leastpriv-bpf: stats PROBE RUNS NS"), and the most it held ("leastpriv-bpf: held BYTES"), for
//   the benchmarks
//   --exec-probe: where an exec's strings are read, prepare (sched_prepare_exec, where the kernel has
//   it) or entry (sys_enter, as on a kernel before 6.10; for the tests)
//   MODE 1: process ID and every task it starts; 2: cgroup ID (the inode of its v2 directory);
//   3: every cgroup made from now on. CWD is only repeated in the ready frame.
//   --check: whether a run could load its program here: the program is opened and loaded as a run
//   loads it (the same exec probe, the same ring), nothing is attached, and the loader exits, silent
//   and 0 when it loaded, else with its one line and 1 or 4.
// The ready frame (R) is written once every probe is attached; the end (Q) after SIGINT or SIGTERM, with
// what the kernel side could not write, by kind. Exit 0 after Q; 2 on a usage error; 1 when loading
// or attaching failed (one line on stderr says why); 3 when stdout could not be written; 4 when the
// kernel lets this process load no BPF program at all (any BPF tool would be refused: no CAP_BPF and
// CAP_PERFMON nor CAP_SYS_ADMIN, a security module, a kernel without the bpf system call).
// libbpf's own messages are printed only with LEASTPRIV_DEBUG set in the environment.

// (SCHED_IDLE)
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include "events.h"
#include "leastpriv.skel.h"
#include "calls.h"

static volatile sig_atomic_t stop, idle_asked;
static void on_signal(int s) { (void)s; stop = 1; }
static void on_usr1(int s) { (void)s; idle_asked = 1; }

static uint64_t now_ns(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

// The reader's priority. Where the traced programs keep both CPUs busy and wait on each other (short
// programs started in a loop), the reader's CPU time comes out of theirs; at SCHED_IDLE it runs in
// their gaps instead (300 short programs: 1.13x untraced against 1.26x at normal priority, in one set
// of interleaved runs). A reader that cannot keep up at idle priority would be starved and the ring
// would overflow, so once a write has waited for it BEHIND_NS it is raised to SCHED_OTHER again, and
// lowered once it has kept up for CALM_NS. Only a reader running at SCHED_OTHER is lowered (one run under chrt or nice -n is left
// as it was), every thread of it, and it is set back when the loader ends.
#define BEHIND_NS 20000000ull
#define CALM_NS 500000000ull
static int reader_state;          // 0 untouched, 1 idle, 2 raised again
static uint64_t reader_behind;    // when a write last had to wait for the reader

static void reader_policy(int policy) {
  pid_t pp = getppid();
  char dir[64];
  if (pp <= 1) return;
  snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pp);
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  struct sched_param sp = { .sched_priority = 0 };
  while ((e = readdir(d))) {
    char *end;
    long tid = strtol(e->d_name, &end, 10);
    if (*end || tid <= 0) continue;
    // (a thread that is gone meanwhile, or one set otherwise by someone else, is left)
    int now = sched_getscheduler((pid_t)tid);
    if (now == (policy == SCHED_IDLE ? SCHED_OTHER : SCHED_IDLE)) sched_setscheduler((pid_t)tid, policy, &sp);
  }
  closedir(d);
}

static void idle_reader(void) {
  if (reader_state != 0) return;
  if (sched_getscheduler(getppid()) != SCHED_OTHER) { reader_state = -1; return; }
  reader_policy(SCHED_IDLE);
  reader_state = 1;
}

static void raise_reader(void) {
  reader_behind = now_ns(CLOCK_MONOTONIC);
  if (reader_state == 1) { reader_policy(SCHED_OTHER); reader_state = 2; }
}

static void calm_reader(void) {
  if (reader_state == 2 && now_ns(CLOCK_MONOTONIC) - reader_behind > CALM_NS) { reader_policy(SCHED_IDLE); reader_state = 1; }
}

// stdout, held here: the ring is drained into this buffer, a circular one, and it is written as fast
// as the reader takes it, so that a reader at idle priority, behind while the traced programs keep a CPU
// busy, neither holds up the draining nor is raised until much is waiting (see the main loop); it
// catches up in their gaps, or once they end. The buffer grows up to hold_max; full, the loader waits
// for the reader (stdout is non-blocking: a write that must wait waits in poll, where the wait is
// timed) and the ring holds what comes meanwhile.
static char *out;
static size_t out_start, out_used, out_cap = 1 << 20, hold_max, held_most;
static int out_failed;

// what the pipe takes now, without waiting
static void write_some(void) {
  while (out_used > 0 && !out_failed) {
    size_t len = out_cap - out_start < out_used ? out_cap - out_start : out_used;
    ssize_t n = write(1, out + out_start, len);
    if (n > 0) { out_start = (out_start + (size_t)n) % out_cap; out_used -= (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) out_failed = 1;
    break;
  }
  if (out_used == 0) {
    out_start = 0;
    // what a backlog made the buffer grow to is given back once it is written
    if (out_cap > (16u << 20)) { char *m = realloc(out, 1 << 20); if (m) { out = m; out_cap = 1 << 20; } }
  }
}

// one wait for the reader to take some (raised once it has kept the loader waiting BEHIND_NS in all)
static void wait_reader(uint64_t *since) {
  uint64_t t = now_ns(CLOCK_MONOTONIC);
  if (!*since) *since = t;
  else if (t - *since >= BEHIND_NS) raise_reader();
  struct pollfd p = { .fd = 1, .events = POLLOUT };
  if (poll(&p, 1, 5) == 1 && (p.revents & (POLLERR | POLLHUP)) && !(p.revents & POLLOUT)) out_failed = 1;
}

// everything held, written
static void flush_out(void) {
  uint64_t since = 0;
  for (write_some(); out_used > 0 && !out_failed; write_some()) wait_reader(&since);
}

// room for `need` more bytes: the buffer grows (up to hold_max, or to one frame's size) or the
// reader is waited for
static int make_room(size_t need) {
  uint64_t since = 0;
  while (out_used + need > out_cap && !out_failed) {
    size_t want = out_used + need, cap = out_cap, most = hold_max > need ? hold_max : need;
    while (cap < want) cap *= 2;
    if (cap > most) cap = most;
    if (cap >= want) {
      char *m = realloc(out, cap);
      if (!m) { out_failed = 1; break; }
      // what had wrapped round to the front goes after the old end
      if (out_start + out_used > out_cap) memcpy(m + out_cap, m, out_start + out_used - out_cap);
      out = m;
      out_cap = cap;
      break;
    }
    write_some();
    if (out_used + need > out_cap) wait_reader(&since);
  }
  return !out_failed;
}

static void put(const void *data, size_t n) {
  size_t at = (out_start + out_used) % out_cap, first = out_cap - at < n ? out_cap - at : n;
  memcpy(out + at, data, first);
  memcpy(out, (const char *)data + first, n - first);
  out_used += n;
}

static void frame(const void *data, uint32_t len) {
  if (!make_room(4 + (size_t)len)) return;
  put(&len, 4);
  put(data, len);
  if (out_used > held_most) held_most = out_used;
}

// Frames are handed to the reader in batches: once batch_bytes are held, or the oldest has waited
// batch_ns; and at once from the moment the traced command's first process has exited (what follows
// is the tree's end, which trace-run waits for), or the reader was raised, or the trace ends. A reader
// woken at every drain decodes a few records each time, and that work costs the traced programs their
// own time even on the other CPU (see README.md: 300 short programs).
static uint64_t batch_ns = 1000000000ull, held_since;
static size_t batch_bytes;
static int writing;             // a batch is due: written until nothing is held
static int prompt;              // every drain is written at once from now on
static uint32_t root_tid;       // mode 1: the traced command's first process

static int on_event(void *ctx, void *data, size_t len) {
  (void)ctx;
  const struct lp_hdr *h = data;
  if (out_used == 0) held_since = now_ns(CLOCK_MONOTONIC);
  frame(data, (uint32_t)len);
  if (root_tid && len >= sizeof(*h) && h->type == LP_EXIT && h->tid == root_tid) prompt = 1;
  return 0;
}

static void lost_frame(struct leastpriv_bpf *skel, uint16_t type, uint64_t *last) {
  int ncpu = libbpf_num_possible_cpus();
  struct lp_lost l;
  memset(&l, 0, sizeof(l));
  l.h.type = type;
  l.h.ns = now_ns(CLOCK_MONOTONIC);
  uint64_t *v = calloc((size_t)ncpu, sizeof(uint64_t));
  int changed = 0;
  for (uint32_t k = 0; k < LP_DROP_KINDS && v; k++) {
    if (bpf_map__lookup_elem(skel->maps.drops, &k, sizeof(k), v, sizeof(uint64_t) * (size_t)ncpu, 0) == 0)
      for (int c = 0; c < ncpu; c++) l.n[k] += v[c];
    if (l.n[k] != last[k]) changed = 1;
    last[k] = l.n[k];
  }
  free(v);
  if (changed || type == LP_QUIT) frame(&l, sizeof(l));
}

// the reader went away (stdout's pipe closed): nothing more can be told, so the trace ends
static int reader_gone(void) {
  struct pollfd p = { .fd = 1, .events = 0 };
  return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

static void stats_lines(struct leastpriv_bpf *skel) {
  struct bpf_program *p;
  bpf_object__for_each_program(p, skel->obj) {
    struct bpf_prog_info info;
    uint32_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) == 0)
      fprintf(stderr, "leastpriv-bpf: stats %s %llu %llu\n", bpf_program__name(p), (unsigned long long)info.run_cnt, (unsigned long long)info.run_time_ns);
  }
}

// whether the running kernel has a tracepoint a tp_btf probe can attach to
static int kernel_has_tracepoint(const struct btf *vmlinux, const char *name) {
  char t[128];
  snprintf(t, sizeof(t), "btf_trace_%s", name);
  return btf__find_by_name_kind(vmlinux, t, BTF_KIND_TYPEDEF) >= 0;
}

// libbpf's messages: on a failure they name what failed, among lines that do not matter, and a program
// the verifier refused brings its whole log (thousands of lines); so they are kept, not printed, and the
// loader's one line on failure carries the gist: the verifier's reason, or libbpf's first warning.
static int libbpf_verbose;
static char libbpf_first[256], verifier_said[320];

static void one_line(char *to, size_t cap, const char *from, size_t len) {
  size_t n = len < cap - 1 ? len : cap - 1;
  memcpy(to, from, n);
  to[n] = 0;
  for (char *c = to; *c; c++) if (*c == '\n' || *c == '\t') *c = ' ';
}

static int on_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  if (libbpf_verbose) return vfprintf(stderr, fmt, ap);
  char *m;
  if (vasprintf(&m, fmt, ap) < 0) return 0;
  const char *skip = strncmp(m, "libbpf: ", 8) == 0 ? m + 8 : m;
  char *log = strstr(m, "-- BEGIN PROG LOAD LOG --\n"), *end = log ? strstr(log, "-- END PROG LOAD LOG --") : NULL;
  if (log && end && !verifier_said[0]) {
    // "prog 'NAME': -- BEGIN ...": the probe's name; the reason is the log's last line but its statistics
    const char *name = strncmp(skip, "prog '", 6) == 0 ? skip + 6 : "";
    const char *q = strchr(name, '\'');
    int nl = q ? (int)(q - name) : 0;
    const char *body = log + strlen("-- BEGIN PROG LOAD LOG --\n"), *line = NULL;
    size_t line_len = 0;
    for (const char *at = body; at < end;) {
      const char *eol = memchr(at, '\n', (size_t)(end - at));
      size_t len = eol ? (size_t)(eol - at) : (size_t)(end - at);
      if (len && strncmp(at, "processed ", 10) != 0 && strncmp(at, "verification time", 17) != 0) { line = at; line_len = len; }
      at += len + 1;
    }
    char why[256] = "";
    if (line) one_line(why, sizeof(why), line, line_len);
    snprintf(verifier_said, sizeof(verifier_said), "the kernel's verifier refused %.*s%s%s", nl, name, why[0] ? ": " : "", why);
  } else if (!libbpf_first[0]) one_line(libbpf_first, sizeof(libbpf_first), skip, strcspn(skip, "\n"));
  free(m);
  return 0;
}

// Whether the kernel lets this process load a BPF program at all, asked with the least program of the
// kind every tracer loads (bpftrace too): it needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN, and no
// security module in the way. 0, or the errno of a refusal that no program would get past.
static int bpf_refused(void) {
  struct bpf_insn least[] = {
    { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
    { .code = BPF_JMP | BPF_EXIT },
  };
  int fd = bpf_prog_load(BPF_PROG_TYPE_TRACEPOINT, NULL, "GPL", least, 2, NULL);
  if (fd >= 0) { close(fd); return 0; }
  int e = errno;
  return e == EPERM || e == EACCES || e == ENOSYS ? e : 0;
}

static int usage(void) {
  fprintf(stderr, "usage: leastpriv-bpf [--tick-ms N] [--ring-mb N] [--hold-mb N] [--batch-ms N] [--wake-mark BYTES] [--stats 1] [--exec-probe prepare|entry] MODE ID [CWD]\n"
                  "       leastpriv-bpf --check [--ring-mb N] [--exec-probe prepare|entry]\n");
  return 2;
}

int main(int argc, char **argv) {
  int tick = 10, ring_mb = 16, hold = 0, batch = 1000, a = 1;
  long long mark = -1;
  int stats = 0, check = 0;
  const char *exec_probe = NULL;
  while (a < argc && strncmp(argv[a], "--", 2) == 0) {
    if (strcmp(argv[a], "--check") == 0) { check = 1; a++; continue; }
    if (a + 1 >= argc) return usage();
    if (strcmp(argv[a], "--tick-ms") == 0) tick = atoi(argv[a + 1]);
    else if (strcmp(argv[a], "--ring-mb") == 0) ring_mb = atoi(argv[a + 1]);
    else if (strcmp(argv[a], "--wake-mark") == 0) mark = atoll(argv[a + 1]);
    else if (strcmp(argv[a], "--hold-mb") == 0) hold = atoi(argv[a + 1]);
    else if (strcmp(argv[a], "--batch-ms") == 0) batch = atoi(argv[a + 1]);
    else if (strcmp(argv[a], "--stats") == 0) stats = atoi(argv[a + 1]);
    else if (strcmp(argv[a], "--exec-probe") == 0) exec_probe = argv[a + 1];
    else return usage();
    a += 2;
  }
  if (check ? argc != a : argc - a < 2 || argc - a > 3) return usage();
  // (a check loads the program as a process tree's run would)
  int mode = check ? 1 : atoi(argv[a]);
  char *endp = "";
  unsigned long long id = check ? 0 : strtoull(argv[a + 1], &endp, 10);
  const char *cwd = argc - a == 3 ? argv[a + 2] : "";
  if (mode < 1 || mode > 3 || *endp || tick < 1 || ring_mb < 1 || (ring_mb & (ring_mb - 1)) || hold < 0 || hold > 65536 || batch < 0) return usage();
  if (!hold) {
    // (behind a reader at idle priority, 41-45 MB waited at most while four walks of /usr ran, 69 MB for eight)
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t sixteenth = pages > 0 && page > 0 ? ((uint64_t)pages * (uint64_t)page / 16) >> 20 : 64;
    hold = sixteenth < 16 ? 16 : sixteenth > 256 ? 256 : (int)sixteenth;
  }
  hold_max = (size_t)hold << 20;
  batch_ns = (uint64_t)batch * 1000000ull;
  batch_bytes = hold_max / 2 < (4u << 20) ? hold_max / 2 : (4u << 20);
  if (exec_probe && strcmp(exec_probe, "prepare") != 0 && strcmp(exec_probe, "entry") != 0) return usage();
  out = malloc(out_cap);
  if (!out) return 1;

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  struct rlimit r = { RLIM_INFINITY, RLIM_INFINITY };
  setrlimit(RLIMIT_MEMLOCK, &r);
  libbpf_verbose = getenv("LEASTPRIV_DEBUG") != NULL;
  libbpf_set_print(on_libbpf);

  int refused = bpf_refused();
  if (refused == ENOSYS) { fprintf(stderr, "leastpriv-bpf: this kernel has no bpf system call (it needs CONFIG_BPF_SYSCALL)\n"); return 4; }
  if (refused) { fprintf(stderr, "leastpriv-bpf: the kernel lets this process load no BPF program (%s): it needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN\n", strerror(refused)); return 4; }
  // every probe is a BTF one (tp_btf), and CO-RE reads the kernel's structures by their BTF
  struct btf *vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) {
    // (libbpf says ESRCH when it found no BTF in any of the places it looks)
    fprintf(stderr, "leastpriv-bpf: this kernel has no BTF (/sys/kernel/btf/vmlinux: %s): the eBPF backend needs a kernel built with CONFIG_DEBUG_INFO_BTF\n", errno == ESRCH ? "not found" : strerror(errno));
    return 1;
  }
  struct leastpriv_bpf *skel = leastpriv_bpf__open();
  if (!skel) { fprintf(stderr, "leastpriv-bpf: cannot open the BPF program: %s\n", strerror(errno)); return 1; }
  skel->rodata->target_mode = (uint32_t)mode;
  // one of the two exec probes is loaded: sched_prepare_exec where the kernel has it (sys_enter at
  // every call cost the traced program far more)
  int prepare = exec_probe ? strcmp(exec_probe, "prepare") == 0 : kernel_has_tracepoint(vmlinux, "sched_prepare_exec");
  btf__free(vmlinux);
  bpf_program__set_autoload(prepare ? skel->progs.enter_exec : skel->progs.prepare_exec, false);
  uint64_t ring = (uint64_t)ring_mb << 20;
  skel->rodata->wake_mark = mark >= 0 ? (uint64_t)mark : ring / 4;
  bpf_map__set_max_entries(skel->maps.events, (uint32_t)ring);
  int err = leastpriv_bpf__load(skel);
  if (err) {
    const char *detail = verifier_said[0] ? verifier_said : libbpf_first;
    fprintf(stderr, "leastpriv-bpf: cannot load the BPF program: %s%s%s%s\n", strerror(-err), detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
    return 1;
  }
  if (check) { leastpriv_bpf__destroy(skel); return 0; }
  for (size_t i = 0; i < sizeof(lp_calls) / sizeof(lp_calls[0]); i++) {
    uint32_t nr = lp_calls[i].nr;
    bpf_map__update_elem(skel->maps.calls, &nr, sizeof(nr), &lp_calls[i].c, sizeof(struct lp_call), 0);
  }
  uint8_t one = 1;
  if (mode == 1) { uint32_t t = (uint32_t)id; bpf_map__update_elem(skel->maps.tasks, &t, sizeof(t), &one, 1, 0); root_tid = t; }
  if (mode == 2) { uint64_t g = id; bpf_map__update_elem(skel->maps.cgroups, &g, sizeof(g), &one, 1, 0); }
  // held open while the loader runs: the kernel turns the statistics off again when it closes
  int stats_fd = stats ? bpf_enable_stats(BPF_STATS_RUN_TIME) : -1;
  if (stats && stats_fd < 0) { fprintf(stderr, "leastpriv-bpf: cannot enable the kernel's BPF statistics: %s\n", strerror(errno)); return 1; }
  err = leastpriv_bpf__attach(skel);
  if (err) { fprintf(stderr, "leastpriv-bpf: cannot attach to the tracepoints: %s (the kernel needs BTF raw tracepoints, Linux 5.5 or later)\n", strerror(-err)); return 1; }
  struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
  if (!rb) { fprintf(stderr, "leastpriv-bpf: cannot read the ring buffer: %s\n", strerror(errno)); return 1; }

  struct { struct lp_ready r; struct lp_piece p; char cwd[4096]; } ready;
  memset(&ready, 0, sizeof(ready));
  ready.r.h.type = LP_READY;
  ready.r.format = LP_FORMAT;
  ready.r.mode = (uint32_t)mode;
  ready.r.id = id;
  ready.r.mono_ns = now_ns(CLOCK_MONOTONIC);
  ready.r.real_ns = now_ns(CLOCK_REALTIME);
  ready.r.h.ns = ready.r.mono_ns;
  snprintf(ready.r.arch, sizeof(ready.r.arch), "%s", LP_ARCH);
  size_t cl = strlen(cwd);
  if (cl > sizeof(ready.cwd)) cl = sizeof(ready.cwd);
  ready.p.kind = 's';
  ready.p.len = (uint32_t)cl;
  memcpy(ready.cwd, cwd, cl);
  frame(&ready, (uint32_t)(sizeof(ready.r) + sizeof(ready.p) + cl));
  int fl = fcntl(1, F_GETFL);
  if (fl >= 0) fcntl(1, F_SETFL, fl | O_NONBLOCK);
  flush_out();

  uint64_t last[LP_DROP_KINDS] = {0};
  while (!stop && !out_failed) {
    // a wake-up comes only when the ring fills past the mark; otherwise every tick
    // (and while a batch is being written, when the reader has taken some)
    struct pollfd p[2] = { { .fd = ring_buffer__epoll_fd(rb), .events = POLLIN }, { .fd = 1, .events = writing ? POLLOUT : 0 } };
    if (poll(p, 2, tick) < 0 && errno != EINTR) { fprintf(stderr, "leastpriv-bpf: waiting for the ring buffer: %s\n", strerror(errno)); break; }
    int n = ring_buffer__consume(rb);
    if (n < 0 && n != -EINTR) { fprintf(stderr, "leastpriv-bpf: reading the ring buffer: %s\n", strerror(-n)); break; }
    lost_frame(skel, LP_LOST, last);
    // (the last quarter, and the ring, hold what comes while the raised reader gets going)
    if (out_used > hold_max / 4 * 3) raise_reader();
    if (out_used > 0 && (prompt || reader_state == 2 || out_used >= batch_bytes || now_ns(CLOCK_MONOTONIC) - held_since >= batch_ns)) writing = 1;
    if (writing) { write_some(); writing = out_used > 0; }
    if (reader_gone()) out_failed = 1;
    if (idle_asked) idle_reader();
    calm_reader();
  }
  // the probes go first, then what is left in the ring is read
  leastpriv_bpf__detach(skel);
  ring_buffer__consume(rb);
  // (the backlog, and what the reader does after the trace, at the priority it was started with)
  if (reader_state > 0) reader_policy(SCHED_OTHER);
  lost_frame(skel, LP_QUIT, last);
  flush_out();
  if (stats) { stats_lines(skel); close(stats_fd); fprintf(stderr, "leastpriv-bpf: held %zu\n", held_most); }
  ring_buffer__free(rb);
  leastpriv_bpf__destroy(skel);
  return out_failed ? 3 : 0;
}
