// The batched eBPF backend's kernel side: the calls bpf/leastpriv.bt reports, written into one BPF ring
// buffer without a wake-up per event (the loader, bpf/loader.c, drains it on a timer). Frames are
// described in bpf/events.h; lib/bpf/ring-reader.ts decodes them. Tracepoints only, attached as BTF
// raw tracepoints (tp_btf): the kernel hands over its own arguments, with no event record formatted
// first for each call, and a probe comes off without waiting for a grace period.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "events.h"

// libbpf 1.1 has no sixth system-call argument (vmlinux.h is the host's own, so its pt_regs fits). On
// x86-64 the registers are loaded directly (a BTF pointer), not each through a helper call.
#ifndef PT_REGS_PARM6_SYSCALL
#if defined(__TARGET_ARCH_x86)
#define PT_REGS_PARM6_SYSCALL(x) ((x)->r9)
#elif defined(__TARGET_ARCH_arm64)
#define PT_REGS_PARM6_SYSCALL(x) BPF_CORE_READ((x), regs[5])
#endif
#endif

char LICENSE[] SEC("license") = "GPL";

// set by the loader before the program is loaded
const volatile u32 target_mode = 0;        // 1 tree, 2 cgroup, 3 cgroups made from now on
const volatile u64 wake_mark = 1 << 20;    // bytes waiting in the ring past which the reader is woken

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 24); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 65536); __type(key, u32); __type(value, u8); } tasks SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); __type(key, u64); __type(value, u8); } cgroups SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, LP_NR_MAX); __type(key, u32); __type(value, struct lp_call); } calls SEC(".maps");
struct inflight { u32 nr; u32 argv_unread; u64 a[6]; };   // argv_unread: an exec's argv not all read
// the call a task is in, from its entry to its exit: task-local (no hash insert and delete per call; it
// goes with the task, and stays with a thread that execs and becomes its leader)
struct { __uint(type, BPF_MAP_TYPE_TASK_STORAGE); __uint(map_flags, BPF_F_NO_PREALLOC); __type(key, int); __type(value, struct inflight); } on SEC(".maps");
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

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id) {
  u32 tid = (u32)bpf_get_current_pid_tgid();
  if (!traced(tid)) return 0;
  u32 nr = (u32)id;
  struct lp_call *c = bpf_map_lookup_elem(&calls, &nr);
  if (!c || !c->want) return 0;
  // fcntl only where it changes the fd table: F_DUPFD, F_SETFD, F_DUPFD_CLOEXEC
  if (c->flags & LP_CALL_FCNTL) {
    u64 cmd = PT_REGS_PARM2_SYSCALL(regs);
    if (cmd != 0 && cmd != 2 && cmd != 1030) return 0;
  }
  struct inflight *f = bpf_task_storage_get(&on, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!f) { dropped(LP_DROP_EVENT); return 0; }
  f->nr = nr + 1;      // 0: not in a traced call
  f->argv_unread = 0;
  // the registers the call was made with, as the architecture passes a system call's arguments
  f->a[0] = PT_REGS_PARM1_SYSCALL(regs); f->a[1] = PT_REGS_PARM2_SYSCALL(regs); f->a[2] = PT_REGS_PARM3_SYSCALL(regs);
  f->a[3] = PT_REGS_PARM4_SYSCALL(regs); f->a[4] = PT_REGS_PARM5_SYSCALL(regs); f->a[5] = PT_REGS_PARM6_SYSCALL(regs);
  // a successful exec replaces the memory its strings are in: they are read now
  if (c->flags & LP_CALL_EXECVE) f->argv_unread = exec_start(nr, (const char *)f->a[0], (const u64 *)f->a[1]);
  else if (c->flags & LP_CALL_EXECVEAT) f->argv_unread = exec_start(nr, (const char *)f->a[1], (const u64 *)f->a[2]);
  return 0;
}

static __always_inline u64 argn(struct inflight *f, u32 k) {
  // k is 1-based (0: none)
  switch (k) { case 1: return f->a[0]; case 2: return f->a[1]; case 3: return f->a[2]; case 4: return f->a[3]; case 5: return f->a[4]; case 6: return f->a[5]; }
  return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret) {
  struct inflight *f = bpf_task_storage_get(&on, bpf_get_current_task_btf(), 0, 0);
  if (!f || !f->nr) return 0;
  u32 nr = f->nr - 1;
  f->nr = 0;
  struct lp_call *c = bpf_map_lookup_elem(&calls, &nr);
  if (!c) return 0;
  // (before the call's frame, which the reader writes the record at)
  if (ret == 0 && f->argv_unread && (c->flags & (LP_CALL_EXECVE | LP_CALL_EXECVEAT))) exec_block(nr);
  struct lp_scratch *s = buf();
  if (!s) return 0;
  struct lp_callrec *r = (void *)s->b;
  head(&r->h, LP_CALL, nr);
  r->ret = ret;
  #pragma unroll
  for (int i = 0; i < 6; i++) r->a[i] = f->a[i];
  bpf_get_current_comm(r->comm, sizeof(r->comm));
  u32 off = sizeof(*r);
  #pragma unroll
  for (int k = 0; k < 3; k++) {
    u32 at = c->s[k];
    if (at) off = piece_str(s, off, 's', at - 1, (const void *)argn(f, at), LP_PATH_READ);
  }
  if (c->sa) off = piece_addr(s, off, c->sa - 1, (const void *)argn(f, c->sa));
  if (c->mh) {
    u64 name = 0;
    const void *m = (const void *)argn(f, c->mh);
    if (m && !bpf_probe_read_user(&name, 8, m)) off = piece_addr(s, off, c->mh - 1, (const void *)name);
    else off = piece_addr(s, off, c->mh - 1, 0);
  }
  if (c->pr) off = piece_raw(s, off, 'p', c->pr - 1, (const void *)argn(f, c->pr), 8);
  if (c->dr) off = piece_raw(s, off, 'f', c->dr - 1, (const void *)argn(f, c->dr), 8);
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
  struct inflight *f = bpf_task_storage_get(&on, bpf_get_current_task_btf(), 0, 0);
  if (f && f->nr) {
    u32 nr = f->nr - 1;
    struct lp_call *c = bpf_map_lookup_elem(&calls, &nr);
    if (c && (c->flags & LP_CALL_CLONE)) e->flags = f->a[0];
    else if (c && (c->flags & LP_CALL_CLONE3)) { if (bpf_probe_read_user(&e->flags, 8, (const void *)f->a[0])) e->flags = 0; }
    else if (c && (c->flags & LP_CALL_VFORK)) e->flags = 0x4100;
  }
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
  // (the call it is in stays with its task)
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
