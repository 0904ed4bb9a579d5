// The batched eBPF backend's kernel side: the calls bpf/leastpriv.bt reports, written into one BPF ring
// buffer without a wake-up per event (the loader, bpf/loader.c, drains it on a timer). Frames are
// described in bpf/events.h; lib/bpf/ring-reader.ts decodes them. Tracepoints only, most attached as
// BTF raw tracepoints (tp_btf): the kernel hands over its own arguments, with no event record formatted
// first for each call, and a probe comes off without waiting for a grace period.
// A call is seen once, at its end (raw_syscalls:sys_exit): its registers still hold its arguments there
// (x86-64 and arm64 keep them in pt_regs, arm64's first in orig_x0), so no probe runs at every call's
// entry. On the walk of bench/ring-workload.mjs, a probe at raw_syscalls:sys_enter cost the traced
// program about 0.1x of its untraced time even when it returned at once. An exec's strings are gone
// once it succeeds: they are read at sched_prepare_exec (Linux 6.10), where the kernel has found the
// file and its format and the old memory is still in place, and for an exec that failed, at its end.
// On an older kernel the loader loads the sys_enter probe for execs instead (enter_exec). (The events
// syscalls:sys_enter_exec* cost less than sys_enter too, but detaching them took 250-300 ms.)

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "events.h"
#include "nr.h"

// libbpf 1.1 has no sixth system-call argument (vmlinux.h is the host's own, so its pt_regs fits). On
// x86-64 the registers are loaded directly (a BTF pointer), not each through a helper call.
#ifndef PT_REGS_PARM6_SYSCALL
#if defined(__TARGET_ARCH_x86)
#define PT_REGS_PARM6_SYSCALL(x) ((x)->r9)
#elif defined(__TARGET_ARCH_arm64)
#define PT_REGS_PARM6_SYSCALL(x) BPF_CORE_READ((x), regs[5])
#endif
#endif

// the number of the call a task is in, from its registers
#if defined(__TARGET_ARCH_x86)
#define SYSCALL_NR(r) ((r)->orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_NR(r) ((r)->syscallno)
#endif

char LICENSE[] SEC("license") = "GPL";

// set by the loader before the program is loaded
const volatile u32 target_mode = 0;        // 1 tree, 2 cgroup, 3 cgroups made from now on
const volatile u64 wake_mark = 1 << 20;    // bytes waiting in the ring past which the reader is woken

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 24); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 65536); __type(key, u32); __type(value, u8); } tasks SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); __type(key, u64); __type(value, u8); } cgroups SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, LP_NR_MAX); __type(key, u32); __type(value, struct lp_call); } calls SEC(".maps");
// an exec from its entry to its end, by thread: the registers it was called with (a successful exec
// replaces them) and whether its argv could not all be read at the entry
struct execing { u32 argv_unread; u32 pad; u64 a[6]; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384); __type(key, u32); __type(value, struct execing); } execs SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1); __type(key, u32); __type(value, struct lp_scratch); } scratch SEC(".maps");
// what could not be written, by kind (LP_DROP_*): read by the loader, never silent
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, LP_DROP_KINDS); __type(key, u32); __type(value, u64); } drops SEC(".maps");

static __always_inline void dropped(u32 kind) {
  u64 *n = bpf_map_lookup_elem(&drops, &kind);
  if (n) (*n)++;
}

static __always_inline int traced(u32 tid) {
  if (bpf_map_lookup_elem(&tasks, &tid)) return 1;
  if (target_mode == 1) return 0;
  u64 cg = bpf_get_current_cgroup_id();
  return bpf_map_lookup_elem(&cgroups, &cg) != 0;
}

static __always_inline struct lp_scratch *buf(void) {
  u32 z = 0;
  return bpf_map_lookup_elem(&scratch, &z);
}

static __always_inline void head(struct lp_hdr *h, u16 type, u32 nr) {
  u64 id = bpf_get_current_pid_tgid();
  h->type = type; h->extra = 0; h->tid = (u32)id; h->pid = id >> 32; h->nr = nr;
  h->ns = bpf_ktime_get_ns();
  // a process tree's records carry no cgroup (the reader does not scope them by it)
  h->cgroup = target_mode == 1 ? 0 : bpf_get_current_cgroup_id();
}

// submits `len` bytes of the scratch buffer; the reader is woken only when the ring fills past the mark
static __always_inline void send(struct lp_scratch *s, u32 len, u32 kind) {
  if (len > sizeof(s->b)) return;
  u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > wake_mark ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
  if (bpf_ringbuf_output(&events, s->b, len, flags)) dropped(kind);
}

// a piece at offset off (8-aligned, below LP_PIECES_END): returns the offset after it
static __always_inline u32 piece_str(struct lp_scratch *s, u32 off, u8 kind, u8 arg, const void *p, u32 max) {
  if (off > LP_PIECES_END) return off;
  struct lp_piece *pc = (void *)&s->b[off & LP_OFF_MASK];
  pc->kind = kind; pc->arg = arg; pc->status = 0; pc->len = 0;
  if (!p) { pc->status = LP_ST_NULL; return off + sizeof(*pc); }
  long n = bpf_probe_read_user_str(&s->b[(off + sizeof(*pc)) & LP_OFF_MASK], max, p);
  if (n < 0) { pc->status = LP_ST_FAULT; return off + sizeof(*pc); }
  // n counts the NUL; a string that filled the buffer was longer than it
  if ((u32)n == max) pc->status = LP_ST_CUT;
  pc->len = n > 0 ? n - 1 : 0;
  return (off + sizeof(*pc) + pc->len + 7) & ~7u;
}

static __always_inline u32 piece_raw(struct lp_scratch *s, u32 off, u8 kind, u8 arg, const void *p, u32 n) {
  if (off > LP_PIECES_END || n > 64) return off;
  struct lp_piece *pc = (void *)&s->b[off & LP_OFF_MASK];
  pc->kind = kind; pc->arg = arg; pc->status = 0; pc->len = n;
  if (!p) { pc->status = LP_ST_NULL; pc->len = 0; return off + sizeof(*pc); }
  if (bpf_probe_read_user(&s->b[(off + sizeof(*pc)) & LP_OFF_MASK], n & 127, p)) { pc->status = LP_ST_FAULT; pc->len = 0; return off + sizeof(*pc); }
  return (off + sizeof(*pc) + n + 7) & ~7u;
}

// a socket address: its family, then the bytes that say where (a unix name up to its NUL)
static __always_inline u32 piece_addr(struct lp_scratch *s, u32 off, u8 arg, const void *p) {
  if (off > LP_PIECES_END) return off;
  struct lp_piece *pc = (void *)&s->b[off & LP_OFF_MASK];
  pc->kind = 'a'; pc->arg = arg; pc->status = 0; pc->len = 0;
  u16 fam = 0;
  if (!p) { pc->status = LP_ST_NULL; return off + sizeof(*pc); }
  if (bpf_probe_read_user(&fam, 2, p)) { pc->status = LP_ST_FAULT; return off + sizeof(*pc); }
  u8 *d = &s->b[(off + sizeof(*pc)) & LP_OFF_MASK];
  *(u16 *)d = fam;
  u32 n = 0;
  if (fam == 1) {
    long r = bpf_probe_read_user_str(d + 2, 109, (const char *)p + 2);
    if (r < 0) { pc->status = LP_ST_FAULT; return off + sizeof(*pc); }
    // an abstract name starts with a NUL: its bytes are read past it
    if (r == 1) {
      r = bpf_probe_read_user_str(d + 3, 108, (const char *)p + 3);
      if (r < 0) r = 1;
      n = 1 + (r > 0 ? r - 1 : 0);
    } else n = r - 1;
  } else if (fam == 2) {
    if (bpf_probe_read_user(d + 2, 6, (const char *)p + 2)) { pc->status = LP_ST_FAULT; return off + sizeof(*pc); }
    n = 6;
  } else if (fam == 10) {
    if (bpf_probe_read_user(d + 2, 22, (const char *)p + 2)) { pc->status = LP_ST_FAULT; return off + sizeof(*pc); }
    n = 22;
  }
  pc->len = 2 + (n & 127);
  return (off + sizeof(*pc) + pc->len + 7) & ~7u;
}

struct argv_loop { struct lp_scratch *s; const u64 *argv; u32 i; u32 at; u32 status; u32 faults; };

// one argv chunk per turn: a string longer than a chunk goes on in the next one
static long argv_chunk(u64 k, struct argv_loop *c) {
  struct lp_scratch *s = c->s;
  u64 p = 0;
  if (bpf_probe_read_user(&p, 8, c->argv + c->i)) { c->status = LP_ARGV_FAULT; return 1; }
  if (!p) { c->status = LP_ARGV_DONE; return 1; }
  struct lp_arg *a = (void *)s->b;
  head(&a->h, LP_ARG, 0);
  a->index = c->i; a->at = c->at;
  long n = bpf_probe_read_user_str(a->data, LP_ARG_CHUNK, (const char *)p + c->at);
  if (n < 0) { a->status = LP_ST_FAULT; a->len = 0; n = 1; c->faults++; }
  else { a->status = (u32)n == LP_ARG_CHUNK ? LP_ST_MORE : 0; a->len = n - 1; }
  send(s, (sizeof(*a) - LP_ARG_CHUNK + a->len + 7) & ~7u, LP_DROP_ARGV);
  if (a->status == LP_ST_MORE) c->at += LP_ARG_CHUNK - 1;
  else { c->i++; c->at = 0; }
  return 0;
}

// returns whether the argv could not all be read
static __always_inline u32 exec_start(u32 nr, const char *path, const u64 *argv) {
  struct lp_scratch *s = buf();
  if (!s) return 0;
  struct lp_exec *x = (void *)s->b;
  head(&x->h, LP_EXEC, nr);
  u32 end = piece_str(s, sizeof(*x), 'S', 0, path, LP_PATH_READ);
  send(s, end, LP_DROP_EVENT);
  struct argv_loop c = { .s = s, .argv = argv, .i = 0, .at = 0, .status = LP_ARGV_CUT, .faults = 0 };
  if (argv) bpf_loop(LP_ARGV_TURNS, argv_chunk, &c, 0);
  else c.status = LP_ARGV_DONE;
  struct lp_argv_end *e = (void *)s->b;
  head(&e->h, LP_ARGV_END, nr);
  e->argc = c.i; e->status = c.status;
  send(s, sizeof(*e), LP_DROP_EVENT);
  return c.faults > 0 || c.status == LP_ARGV_FAULT;
}

struct block_loop { struct lp_scratch *s; u64 from; u32 len; u32 at; u32 status; };

// one chunk of the new image's argument block per turn
static long block_chunk(u64 k, struct block_loop *c) {
  if (c->at >= c->len) { c->status = LP_ARGV_DONE; return 1; }
  struct lp_arg *a = (void *)c->s->b;
  head(&a->h, LP_ARGV_NEW, 0);
  u64 got = (u64)(c->len - c->at);
  if (got > LP_ARG_CHUNK) got = LP_ARG_CHUNK;
  a->index = (u32)k; a->at = c->at; a->status = 0;
  if (bpf_probe_read_user(a->data, got & (2 * LP_ARG_CHUNK - 1), (const void *)(c->from + c->at))) { got = 0; a->status = LP_ST_FAULT; c->status = LP_ARGV_FAULT; }
  a->len = (u32)got;
  send(c->s, (u32)((sizeof(*a) - LP_ARG_CHUNK + (got & (2 * LP_ARG_CHUNK - 1)) + 7) & ~7ull), LP_DROP_ARGV);
  if (!got) return 1;
  c->at += (u32)got;
  return 0;
}

// the exec succeeded: the kernel copied its strings onto the new stack, where they are in memory
static __always_inline void exec_block(u32 nr) {
  struct lp_scratch *s = buf();
  if (!s) return;
  struct task_struct *t = bpf_get_current_task_btf();
  u64 from = BPF_CORE_READ(t, mm, arg_start), to = BPF_CORE_READ(t, mm, arg_end);
  struct block_loop c = { .s = s, .from = from, .len = to > from && to - from < (1u << 30) ? (u32)(to - from) : 0, .at = 0, .status = LP_ARGV_CUT };
  bpf_loop(LP_ARGV_TURNS, block_chunk, &c, 0);
  struct lp_argv_end *e = (void *)s->b;
  head(&e->h, LP_ARGV_NEW_END, nr);
  e->argc = c.len; e->status = c.status;
  send(s, sizeof(*e), LP_DROP_EVENT);
}

// the arguments a call was made with, from its registers (they hold them until it returns)
static __always_inline void call_args(struct pt_regs *regs, u64 *a) {
  a[0] = PT_REGS_PARM1_SYSCALL(regs); a[1] = PT_REGS_PARM2_SYSCALL(regs); a[2] = PT_REGS_PARM3_SYSCALL(regs);
  a[3] = PT_REGS_PARM4_SYSCALL(regs); a[4] = PT_REGS_PARM5_SYSCALL(regs); a[5] = PT_REGS_PARM6_SYSCALL(regs);
}

// an exec's path and argv, where execve or execveat has them: whether its argv could not all be read
static __always_inline u32 exec_strings(u32 nr, const u64 *a) {
  int at = nr == LP_NR_EXECVEAT;
  return exec_start(nr, (const char *)(at ? a[1] : a[0]), (const u64 *)(at ? a[2] : a[1]));
}

// an exec on its way: its strings read, and its registers kept for its end (where, once it has
// succeeded, they are the new program's)
static __always_inline void exec_enter(struct pt_regs *regs, u32 nr) {
  u32 tid = (u32)bpf_get_current_pid_tgid();
  if (!traced(tid)) return;
  struct execing e = { .argv_unread = 0, .pad = 0 };
  call_args(regs, e.a);
  e.argv_unread = exec_strings(nr, e.a);
  // (without it the end is not written either: the exec's start frames then go unanswered, counted)
  if (bpf_map_update_elem(&execs, &tid, &e, BPF_ANY)) dropped(LP_DROP_EVENT);
}

SEC("tp_btf/sched_prepare_exec")
int BPF_PROG(prepare_exec, struct task_struct *task, struct linux_binprm *bprm) {
  // (the exec of a traced task is always one of its calls: no kernel thread is traced)
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
  u32 nr = (u32)SYSCALL_NR(regs);
  if (nr == LP_NR_EXECVE || nr == LP_NR_EXECVEAT) exec_enter(regs, nr);
  return 0;
}

// for a kernel without sched_prepare_exec: loaded in its place (see the top)
SEC("tp_btf/sys_enter")
int BPF_PROG(enter_exec, struct pt_regs *regs, long id) {
  if (id == LP_NR_EXECVE || id == LP_NR_EXECVEAT) exec_enter(regs, (u32)id);
  return 0;
}

static __always_inline u64 argn(const u64 *a, u32 k) {
  // k is 1-based (0: none)
  switch (k) { case 1: return a[0]; case 2: return a[1]; case 3: return a[2]; case 4: return a[3]; case 5: return a[4]; case 6: return a[5]; }
  return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret) {
  u32 tid = (u32)bpf_get_current_pid_tgid();
  if (!traced(tid)) return 0;
  u32 nr = (u32)SYSCALL_NR(regs);
  struct lp_call *c = bpf_map_lookup_elem(&calls, &nr);
  if (!c || !c->want) return 0;
  // a new task's first return is from its parent's fork (strace shows the call once, in the parent)
  if (ret == 0 && (c->flags & (LP_CALL_CLONE | LP_CALL_CLONE3 | LP_CALL_VFORK | LP_CALL_FORK))) return 0;
  u64 a[6];
  int exec = (c->flags & (LP_CALL_EXECVE | LP_CALL_EXECVEAT)) != 0;
  struct execing *e = exec ? bpf_map_lookup_elem(&execs, &tid) : 0;
  if (e) {
    #pragma unroll
    for (int i = 0; i < 6; i++) a[i] = e->a[i];
    u32 unread = e->argv_unread;
    bpf_map_delete_elem(&execs, &tid);
    // (before the call's frame, which the reader writes the record at)
    if (ret == 0 && unread) exec_block(nr);
  } else {
    // an exec that succeeded unseen (begun before the task was traced) has no start: none is written
    if (exec && ret == 0) return 0;
    call_args(regs, a);
    // one that failed before it was prepared has its strings where they were
    if (exec) exec_strings(nr, a);
    // fcntl only where it changes the fd table: F_DUPFD, F_SETFD, F_DUPFD_CLOEXEC
    else if ((c->flags & LP_CALL_FCNTL) && a[1] != 0 && a[1] != 2 && a[1] != 1030) return 0;
  }
  struct lp_scratch *s = buf();
  if (!s) return 0;
  struct lp_callrec *r = (void *)s->b;
  head(&r->h, LP_CALL, nr);
  r->ret = ret;
  #pragma unroll
  for (int i = 0; i < 6; i++) r->a[i] = a[i];
  // read in place (the helper, which copies it up to its NUL, cost about 40 ns a call on the walk)
  struct task_struct *t = bpf_get_current_task_btf();
  __builtin_memcpy(r->comm, t->comm, sizeof(r->comm));
  u32 off = sizeof(*r);
  #pragma unroll
  for (int k = 0; k < 3; k++) {
    u32 at = c->s[k];
    if (at) off = piece_str(s, off, 's', at - 1, (const void *)argn(a, at), LP_PATH_READ);
  }
  if (c->sa) off = piece_addr(s, off, c->sa - 1, (const void *)argn(a, c->sa));
  if (c->mh) {
    u64 name = 0;
    const void *m = (const void *)argn(a, c->mh);
    if (m && !bpf_probe_read_user(&name, 8, m)) off = piece_addr(s, off, c->mh - 1, (const void *)name);
    else off = piece_addr(s, off, c->mh - 1, 0);
  }
  if (c->pr) off = piece_raw(s, off, 'p', c->pr - 1, (const void *)argn(a, c->pr), 8);
  if (c->dr) off = piece_raw(s, off, 'f', c->dr - 1, (const void *)argn(a, c->dr), 8);
  r->h.extra = off;
  send(s, off, LP_DROP_EVENT);
  return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(fork, struct task_struct *parent, struct task_struct *task) {
  u32 tid = (u32)bpf_get_current_pid_tgid();
  if (!traced(tid)) return 0;
  u32 child = task->pid;
  u8 one = 1;
  if (bpf_map_lookup_elem(&tasks, &tid)) bpf_map_update_elem(&tasks, &child, &one, BPF_ANY);
  struct lp_scratch *s = buf();
  if (!s) return 0;
  struct lp_fork *e = (void *)s->b;
  head(&e->h, LP_FORK, 0);
  e->child = child; e->pad = 0; e->flags = 0;
  // the clone flags say whether the child shares its parent's cwd and fd table
  // (the parent is in the call that forks: its registers say which, and with what)
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
  u32 nr = (u32)SYSCALL_NR(regs);
  struct lp_call *c = bpf_map_lookup_elem(&calls, &nr);
  if (c && (c->flags & LP_CALL_CLONE)) e->flags = PT_REGS_PARM1_SYSCALL(regs);
  else if (c && (c->flags & LP_CALL_CLONE3)) { if (bpf_probe_read_user(&e->flags, 8, (const void *)PT_REGS_PARM1_SYSCALL(regs))) e->flags = 0; }
  else if (c && (c->flags & LP_CALL_VFORK)) e->flags = 0x4100;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  send(s, sizeof(*e), LP_DROP_EVENT);
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(exit_, struct task_struct *p) {
  u32 tid = (u32)bpf_get_current_pid_tgid();
  if (!traced(tid)) return 0;
  struct lp_scratch *s = buf();
  if (s) {
    struct lp_exit *e = (void *)s->b;
    head(&e->h, LP_EXIT, 0);
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    e->status = BPF_CORE_READ(t, exit_code);
    e->pad = 0;
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    send(s, sizeof(*e), LP_DROP_EVENT);
  }
  bpf_map_delete_elem(&tasks, &tid);
  // (a task killed in an exec never ends the call)
  bpf_map_delete_elem(&execs, &tid);
  return 0;
}

// a thread other than the leader called execve: it goes on under the leader's pid
SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) {
  u32 o = old_pid, n = p->pid;
  if (o == n) return 0;
  u8 one = 1;
  int was = bpf_map_lookup_elem(&tasks, &o) != 0;
  if (!was && target_mode == 1) return 0;
  if (!was) { u64 cg = bpf_get_current_cgroup_id(); if (!bpf_map_lookup_elem(&cgroups, &cg)) return 0; }
  if (was) { bpf_map_update_elem(&tasks, &n, &one, BPF_ANY); bpf_map_delete_elem(&tasks, &o); }
  // the exec it is in ends under the new pid
  struct execing *x = bpf_map_lookup_elem(&execs, &o);
  if (x) { struct execing moved = *x; bpf_map_delete_elem(&execs, &o); if (bpf_map_update_elem(&execs, &n, &moved, BPF_ANY)) dropped(LP_DROP_EVENT); }
  struct lp_scratch *s = buf();
  if (!s) return 0;
  struct lp_super *e = (void *)s->b;
  head(&e->h, LP_SUPER, 0);
  e->h.tid = n; e->h.pid = n;
  e->old = o; e->pad = 0;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  send(s, sizeof(*e), LP_DROP_EVENT);
  return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(mkdir_, struct cgroup *cgrp, const char *path) {
  // the default hierarchy (cgroup v2) is number 0
  if (target_mode != 3 || cgrp->root->hierarchy_id != 0) return 0;
  u64 id = cgrp->kn->id;
  u8 one = 1;
  bpf_map_update_elem(&cgroups, &id, &one, BPF_ANY);
  struct lp_scratch *s = buf();
  if (!s) return 0;
  struct lp_mkdir *e = (void *)s->b;
  head(&e->h, LP_MKDIR, 0);
  e->id = id; e->level = cgrp->level; e->pad = 0;
  u32 end = piece_str(s, sizeof(*e), 's', 0, 0, LP_PATH_READ);
  struct lp_piece *pc = (void *)&s->b[sizeof(*e)];
  long r = bpf_probe_read_kernel_str(&s->b[sizeof(*e) + sizeof(*pc)], LP_PATH_READ, path);
  pc->status = r < 0 ? LP_ST_FAULT : (u32)r == LP_PATH_READ ? LP_ST_CUT : 0;
  pc->len = r > 0 ? r - 1 : 0;
  end = (sizeof(*e) + sizeof(*pc) + pc->len + 7) & ~7u;
  send(s, end, LP_DROP_EVENT);
  return 0;
}
