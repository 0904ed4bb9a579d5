// The frames of the batched eBPF backend, shared by the kernel program (leastpriv.bpf.c), the loader
// (loader.c) and, by hand, lib/bpf/ring-reader.ts: little-endian, fixed headers, lengths in bytes.
// On stdout the loader writes each frame as a u32 length followed by that many bytes, so that no byte
// of a path or an argument can end or split a frame. trace-records(5) does not cover this format: it
// is read only by the reader of the same version (LP_FORMAT in the ready frame).
#ifndef LP_EVENTS_H
#define LP_EVENTS_H

#define LP_FORMAT 2      // 2: the Y and W frames (format 1 is read as before)
#define LP_NR_MAX 512

// frame types
#define LP_CALL 'C'      // a call ended: lp_callrec, then pieces up to h.extra
#define LP_EXEC 'X'      // an exec started: lp_exec, then the path as one piece
#define LP_ARG 'A'       // a chunk of an exec's argv string: lp_arg
#define LP_ARGV_END 'Z'  // the exec's argv ends: lp_argv_end
// a successful exec whose argv was not all read at its entry (a string in a page not yet in memory):
// the new image's argument block, its strings each ending in a NUL, read at the call's end, before its C
#define LP_ARGV_NEW 'Y'  // a chunk of it: lp_arg (index: the chunk's number; at: its offset in the block)
#define LP_ARGV_NEW_END 'W'  // its end: lp_argv_end (argc: the block's length in bytes)
#define LP_FORK 'F'
#define LP_EXIT 'E'
#define LP_SUPER 'S'     // thread `old` exec'd and goes on as the leader h.pid
#define LP_MKDIR 'M'     // a cgroup was made (mode 3): lp_mkdir, then its path as one piece
// written by the loader itself
#define LP_READY 'R'
#define LP_LOST 'L'      // counts of what the kernel side could not write, so far (lp_lost)
#define LP_QUIT 'Q'      // the end; lp_lost with the final counts

// piece status
#define LP_ST_NULL 1     // the pointer was NULL
#define LP_ST_FAULT 2    // the memory could not be read
#define LP_ST_CUT 3      // longer than was read
#define LP_ST_MORE 4     // (argv chunks) the string goes on in the next chunk

// argv end status
#define LP_ARGV_DONE 0
#define LP_ARGV_CUT 1    // more strings than LP_ARGV_TURNS chunks
#define LP_ARGV_FAULT 2  // the argv array could not be read

// drop kinds (the drops map)
#define LP_DROP_EVENT 0  // a frame the ring buffer had no room for
#define LP_DROP_ARGV 1   // an argv chunk the ring buffer had no room for
#define LP_DROP_KINDS 2

// call flags
#define LP_CALL_EXECVE 1
#define LP_CALL_EXECVEAT 2
#define LP_CALL_FCNTL 4
#define LP_CALL_CLONE 8
#define LP_CALL_CLONE3 16
#define LP_CALL_VFORK 32
#define LP_CALL_FORK 64

// a path as long as the kernel takes (PATH_MAX counts its NUL) and one byte more, to tell a longer one
#define LP_PATH_READ 4097
#define LP_ARG_CHUNK 4096
#define LP_ARGV_TURNS (1 << 20)
// pieces start below LP_PIECES_END; offsets are masked with LP_OFF_MASK for the verifier, and the
// buffer has room for a whole string past the mask
#define LP_OFF_MASK 0x3fff
#define LP_PIECES_END 0x3800

#ifndef __VMLINUX_H__
#include <stdint.h>
typedef uint8_t u8; typedef uint16_t u16; typedef uint32_t u32; typedef uint64_t u64; typedef int64_t s64; typedef int32_t s32;
#endif

struct lp_call { u8 want; u8 flags; u8 s[3]; u8 sa; u8 mh; u8 pr; u8 dr; u8 pad[7]; };  // positions 1-based, 0 none

// cgroup: the task's cgroup v2 id (0 in mode 1, a process tree, whose records are not scoped by it)
struct lp_hdr { u16 type; u16 extra; u32 tid; u32 pid; u32 nr; u64 ns; u64 cgroup; };     // 32 bytes
struct lp_piece { u8 kind; u8 arg; u16 status; u32 len; };                                // then len bytes, 8-aligned after
struct lp_callrec { struct lp_hdr h; s64 ret; u64 a[6]; char comm[16]; };                  // 104 bytes
struct lp_exec { struct lp_hdr h; };
struct lp_arg { struct lp_hdr h; u32 index; u32 at; u32 status; u32 len; u8 data[LP_ARG_CHUNK]; };
struct lp_argv_end { struct lp_hdr h; u32 argc; u32 status; };
struct lp_fork { struct lp_hdr h; u32 child; u32 pad; u64 flags; char comm[16]; };
struct lp_exit { struct lp_hdr h; s32 status; u32 pad; char comm[16]; };
struct lp_super { struct lp_hdr h; u32 old; u32 pad; char comm[16]; };
struct lp_mkdir { struct lp_hdr h; u64 id; u32 level; u32 pad; };
struct lp_ready { struct lp_hdr h; u32 format; u32 mode; u64 id; u64 mono_ns; u64 real_ns; char arch[16]; };  // then the cwd as one piece
struct lp_lost { struct lp_hdr h; u64 n[LP_DROP_KINDS]; };

struct lp_scratch { u8 b[LP_OFF_MASK + 1 + LP_PATH_READ + 64]; };

#endif
