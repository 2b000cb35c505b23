/* cli.h - the subcommands of the fedrec program. Each returns the exit status:
 * 0 success, 1 run failure, 2 bad usage or bad input. */
#ifndef FEDREC_CLI_H
#define FEDREC_CLI_H

#include "fedrec/status.h"

int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_data(int argc, char **argv);

/* Prints "fedrec: MESSAGE" on stderr and returns the status's exit code. */
int cli_report(fr_status st, const fr_error *err);

#endif
