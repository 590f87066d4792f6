/* The command-kind benchmark's child: writes {"x": 1} to $EMSWEEP_RESULT and exits 0. Compiled,
 * so that the benchmark measures starting and supervising a process, not a shell's start-up.
 *
 * For the xargs baseline, `trivial --point I DIR` first sets the variables emsweep would set for
 * point I (result file DIR/result-I.json) in its own environment: xargs cannot set a variable
 * per invocation without a second exec (env or sh) that would double its cost. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int set(const char* name, const char* value) { return setenv(name, value, 1); }

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "--point") == 0) {
    char path[4096], id[17];
    const char* i = argv[2];
    const char* dir = argv[3];
    snprintf(id, sizeof id, "%016lx", strtoul(i, NULL, 10));
    snprintf(path, sizeof path, "%s/result-%s.json", dir, i);
    if (set("EMSWEEP_RESULT", path) || set("EMSWEEP_POINT_ID", id) || set("EMSWEEP_PARAM_I", i) ||
        set("EMSWEEP_ATTEMPT", "1") || set("EMSWEEP_REPLICATE", "0") ||
        set("EMSWEEP_WORKDIR", dir)) {
      perror("trivial: setenv");
      return 2;
    }
    snprintf(path, sizeof path, "%s/events-%s.jsonl", dir, i);
    set("EMSWEEP_EVENTS", path);
    snprintf(path, sizeof path, "%s/params-%s.json", dir, i);
    set("EMSWEEP_PARAMS", path);
  }
  const char* path = getenv("EMSWEEP_RESULT");
  if (path == NULL) {
    fputs("trivial: EMSWEEP_RESULT is not set (run it under emsweep, or: trivial --point I DIR)\n",
          stderr);
    return 2;
  }
  static const char kResult[] = "{\"x\": 1}\n";
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    perror(path);
    return 1;
  }
  const ssize_t n = write(fd, kResult, sizeof kResult - 1);
  if (close(fd) != 0 || n != (ssize_t)(sizeof kResult - 1)) {
    perror(path);
    return 1;
  }
  return 0;
}
