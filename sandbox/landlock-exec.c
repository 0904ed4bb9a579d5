/* landlock-exec: the enforcer behind trace-sandbox(1). It reads a ruleset from fd 3 (written by
 * trace-sandbox, one rule a line), applies what this kernel's Landlock ABI supports, says on stderr
 * what it could not, and execs the command. Landlock is three system calls and Node has no binding;
 * a C program this small starts in well under a millisecond and needs nothing but libc.
 *
 * Input lines (numbers in decimal, paths in hex so that every byte of a name is exact):
 *   ruleset FS NET SCOPED     the handled access rights (bit masks, as in linux/landlock.h)
 *   strict                    refuse to run (exit 125) when anything could not be enforced
 *   maxabi N                  use at most Landlock ABI N (to see a policy as an older kernel runs it)
 *   path ACCESS HEXPATH       allow ACCESS beneath (or on) that file or directory
 *   port ACCESS PORT          allow ACCESS (bind_tcp, connect_tcp) on that TCP port
 * Exit: the command's status once exec'd; 125 our own failure, 126 not runnable, 127 not found.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

/* linux/landlock.h, spelled out: the build machine's header may be older than the kernel */
struct ruleset_attr { uint64_t fs, net, scoped; };
struct path_beneath { uint64_t allowed; int32_t parent_fd; } __attribute__((packed));
struct net_port { uint64_t allowed; uint64_t port; };
enum { RULE_PATH_BENEATH = 1, RULE_NET_PORT = 2 };
#define CREATE_RULESET_VERSION (1U << 0)
#define FS_REFER (1ULL << 13)
#define FS_TRUNCATE (1ULL << 14)
#define FS_IOCTL_DEV (1ULL << 15)
/* the rights that make sense on a file that is not a directory */
#define FS_FILE_RIGHTS ((1ULL << 0) | (1ULL << 1) | (1ULL << 2) | FS_TRUNCATE | FS_IOCTL_DEV)

static const char *prog = "trace-sandbox";
static int degraded = 0;

static void say(const char *fmt, const char *a, const char *b) {
  if (!a) a = "";
  fprintf(stderr, "%s: ", prog);
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
}

static void fail(const char *what) {
  fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
  exit(125);
}

/* a name for a message: printable ASCII as it is, anything else as \xHH (a traced name may hold anything) */
static const char *shown(const char *s) {
  static char buf[4 * 4096 + 1];
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < sizeof buf; p++) {
    if (*p >= 0x20 && *p < 0x7f && *p != '\\') buf[o++] = (char)*p;
    else o += (size_t)snprintf(buf + o, 5, "\\x%02x", *p);
  }
  buf[o] = 0;
  return buf;
}

static int unhex(const char *h, char *out, size_t max) {
  size_t n = strlen(h);
  if (n % 2 || n / 2 >= max || n == 0) return -1;
  for (size_t i = 0; i < n; i += 2) {
    unsigned v;
    if (sscanf(h + i, "%2x", &v) != 1) return -1;
    if (v == 0) return -1;
    out[i / 2] = (char)v;
  }
  out[n / 2] = 0;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: landlock-exec COMMAND [ARGS...] 3<RULES\n"); return 125; }
  FILE *in = fdopen(3, "r");
  if (!in) fail("reading the rules (fd 3)");

  int abi = (int)syscall(__NR_landlock_create_ruleset, NULL, 0, CREATE_RULESET_VERSION);
  if (abi < 0) abi = 0;   /* ENOSYS: not built in; EOPNOTSUPP: not enabled at boot */

  struct ruleset_attr attr = {0, 0, 0};
  int strict = 0, fd = -1, lineno = 0;
  char line[2 * 4096 + 64], path[4096 + 1];
  uint64_t wanted_fs = 0, wanted_net = 0, wanted_scoped = 0, allowed_fs = 0;

  /* two passes over the lines would need them kept: the rules are few, so they are kept */
  char **lines = NULL;
  size_t nlines = 0;
  while (fgets(line, sizeof line, in)) {
    lineno++;
    size_t len = strlen(line);
    if (len && line[len - 1] == '\n') line[--len] = 0;
    else if (!feof(in)) { fprintf(stderr, "%s: rule %d: too long\n", prog, lineno); return 125; }
    unsigned long long a, b, c;
    char hex[sizeof line];
    if (sscanf(line, "ruleset %llu %llu %llu", &a, &b, &c) == 3) { wanted_fs = a; wanted_net = b; wanted_scoped = c; continue; }
    if (strcmp(line, "strict") == 0) { strict = 1; continue; }
    if (sscanf(line, "maxabi %llu", &a) == 1) { if ((int)a < abi) abi = (int)a; continue; }
    if (sscanf(line, "path %llu %s", &a, hex) == 2) allowed_fs |= a;
    else if (sscanf(line, "port %llu %llu", &a, &b) != 2) { fprintf(stderr, "%s: rule %d: not a rule\n", prog, lineno); return 125; }
    lines = realloc(lines, (nlines + 1) * sizeof *lines);
    if (!lines || !(lines[nlines++] = strdup(line))) fail("memory");
  }
  fclose(in);

  /* best effort, as landlock(7) describes: leave out what this ABI does not know, and say so */
  attr.fs = wanted_fs; attr.net = wanted_net; attr.scoped = wanted_scoped;
  if (abi == 0) {
    if (wanted_fs || wanted_net || wanted_scoped) { say("Landlock is not available in this kernel: %s%s", "nothing is enforced", ""); degraded = 1; }
    attr.fs = attr.net = attr.scoped = 0;
  } else {
    if (abi < 2 && (allowed_fs & FS_REFER)) {
      /* ABI 1 always refuses to move a file to another directory: the run needs that, so no file rules */
      say("Landlock ABI 1 cannot allow moving files between directories, which the policy does: %s%s", "file system rules not enforced", "");
      attr.fs = 0; degraded = 1;
    }
    attr.fs &= ~(abi < 2 ? FS_REFER : 0);
    if (abi < 3 && (attr.fs & FS_TRUNCATE)) { say("Landlock ABI below 3: %s%s", "truncation not restricted", ""); degraded = 1; attr.fs &= ~FS_TRUNCATE; }
    if (abi < 5 && (attr.fs & FS_IOCTL_DEV)) { say("Landlock ABI below 5: %s%s", "device ioctls not restricted", ""); degraded = 1; attr.fs &= ~FS_IOCTL_DEV; }
    if (abi < 4 && attr.net) { say("Landlock ABI below 4: %s%s", "TCP bind and connect not restricted", ""); degraded = 1; attr.net = 0; }
    if (abi < 6 && attr.scoped) { say("Landlock ABI below 6: %s%s", "abstract unix sockets and signals not scoped", ""); degraded = 1; attr.scoped = 0; }
  }
  if (degraded && strict) { say("--strict: %s%s", "not running the command", ""); return 125; }

  if (attr.fs || attr.net || attr.scoped) {
    size_t size = abi >= 6 ? sizeof attr : abi >= 4 ? 2 * sizeof(uint64_t) : sizeof(uint64_t);
    fd = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (fd < 0) fail("landlock_create_ruleset");
    for (size_t i = 0; i < nlines; i++) {
      unsigned long long a, b;
      char hex[sizeof line];
      if (sscanf(lines[i], "path %llu %s", &a, hex) == 2) {
        if (!attr.fs) continue;
        if (unhex(hex, path, sizeof path) < 0) { fprintf(stderr, "%s: rule %zu: not a path\n", prog, i + 1); return 125; }
        int pfd = open(path, O_PATH | O_CLOEXEC);
        if (pfd < 0) {
          /* a file the run read that is gone now: the program will not find it either */
          say("%s: %s: rule left out", shown(path), strerror(errno));
          continue;
        }
        struct stat st;
        if (fstat(pfd, &st) < 0) fail("fstat");
        struct path_beneath pb = { a & attr.fs, pfd };
        if (!S_ISDIR(st.st_mode)) pb.allowed &= FS_FILE_RIGHTS;
        if (pb.allowed && syscall(__NR_landlock_add_rule, fd, RULE_PATH_BENEATH, &pb, 0) < 0) {
          fprintf(stderr, "%s: %s: landlock_add_rule: %s\n", prog, shown(path), strerror(errno));
          return 125;
        }
        close(pfd);
      } else if (sscanf(lines[i], "port %llu %llu", &a, &b) == 2) {
        if (!attr.net) continue;
        struct net_port np = { a & attr.net, b };
        if (np.allowed && syscall(__NR_landlock_add_rule, fd, RULE_NET_PORT, &np, 0) < 0) {
          fprintf(stderr, "%s: port %llu: landlock_add_rule: %s\n", prog, b, strerror(errno));
          return 125;
        }
      }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("prctl(PR_SET_NO_NEW_PRIVS)");
    if (syscall(__NR_landlock_restrict_self, fd, 0) < 0) fail("landlock_restrict_self");
    close(fd);
  }

  execvp(argv[1], argv + 1);
  int e = errno;
  fprintf(stderr, "%s: %s: %s\n", prog, shown(argv[1]), e == ENOENT ? "command not found" : strerror(e));
  return e == ENOENT ? 127 : 126;
}
