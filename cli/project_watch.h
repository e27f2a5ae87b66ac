/* tkvm serve --watch: a thread that watches what the project's build reads
 * (inotify on the directories of the sources, headers and tkvm.json) and,
 * ~200 ms after the last change, rebuilds when the build is stale and
 * swaps the new program in the way a live update does: requests already
 * running finish on the old one. When the build fails (the compiler's
 * messages are printed) or the new program does not boot, the old one
 * keeps serving. */
#ifndef TKVM_CLI_PROJECT_WATCH_H
#define TKVM_CLI_PROJECT_WATCH_H

struct served_program;
struct project_watch;

/* Watches the project of the current directory for program (the one
 * being served). Returns NULL when it cannot (reported). */
struct project_watch *project_watch_start(struct served_program *program);

/* Stops the thread (and a compiler it is running); NULL does nothing. */
void project_watch_stop(struct project_watch *watch);
#endif
