/* main.c - the fedrec program: dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

static void usage(FILE *out) {
    fputs("usage: fedrec COMMAND [OPTIONS]\n"
          "\n"
          "Federated recommendation: train, evaluate and inspect data.\n"
          "\n"
          "commands:\n"
          "  train   train a model as a configuration file says (see configs/)\n"
          "  eval    evaluate a saved model on its test users\n"
          "  data    inspect a data set (data stats PATH)\n"
          "\n"
          "`fedrec COMMAND --help` describes each command.\n",
          out);
}

int cli_report(fr_status st, const fr_error *err) {
    if (st != FR_OK) fprintf(stderr, "fedrec: %s\n", err->msg[0] ? err->msg : fr_status_name(st));
    return fr_status_exit_code(st);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "train") == 0) return cli_train(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0) return cli_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "data") == 0) return cli_data(argc - 1, argv + 1);
    fprintf(stderr, "fedrec: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
