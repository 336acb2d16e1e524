/* cli.h — the `wafer` command line: one file per command (cmd_<name>.c), each
** exporting an entry point with this signature. Only cli/ prints errors and
** picks exit codes (STYLE 4). */
#ifndef WF_CLI_H
#define WF_CLI_H

#include "base/base.h"

/* argv[0] is the command name. Returns the process exit code. */
typedef int (*wf_cmd_fn)(int argc, char **argv);

int wf_cmd_info(int argc, char **argv);
int wf_cmd_encode(int argc, char **argv);
int wf_cmd_decode(int argc, char **argv);
int wf_cmd_score(int argc, char **argv);
int wf_cmd_generate(int argc, char **argv);
int wf_cmd_tokenize(int argc, char **argv);
int wf_cmd_tokenizer_train(int argc, char **argv);
int wf_cmd_train(int argc, char **argv);
int wf_cmd_eval(int argc, char **argv);
int wf_cmd_sim(int argc, char **argv);
int wf_cmd_plan(int argc, char **argv);
int wf_cmd_serve(int argc, char **argv);
int wf_cmd_prune(int argc, char **argv);

/* Prints "wafer <cmd>: <message>" for err on stderr and returns the exit code
** for its status (1 for data errors, 2 for usage errors). */
int wf_cli_fail(const char *cmd, const wf_err *err);
/* Prints a usage error for cmd and returns 2. */
int wf_cli_usage(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Installs the stderr log sink (progress lines); quiet drops INFO. */
void wf_cli_log_init(int quiet);

/* Prints v with printf format fmt, or JSON null when v is NaN or Inf (which
** JSON cannot hold); returns 1 when it printed null. */
int wf_cli_json_num(const char *fmt, double v);

/* Parses a whole decimal/float flag value; returns 0 on success. */
int wf_cli_parse_long(const char *s, long long lo, long long hi, long long *out);
int wf_cli_parse_double(const char *s, double lo, double hi, double *out);

#endif
