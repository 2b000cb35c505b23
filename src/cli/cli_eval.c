/* cli_eval.c - `fedrec eval`: the test figures of a saved model, as final.json has them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "fedrec/train.h"

static void eval_usage(FILE *out) {
    fputs("usage: fedrec eval --model DIR/model.safetensors [--data PATH] [--format NAME]\n"
          "                   [--threads N]\n"
          "\n"
          "Rebuilds the run's user split from the configuration saved in the checkpoint,\n"
          "reconstructs each test user on half of its ratings and scores the other half.\n"
          "Prints {\"test\": {\"loss\", \"rmse\", \"rating_accuracy\", \"examples\"}} on stdout:\n"
          "the same figures as the run's final.json.\n"
          "\n"
          "options:\n"
          "  -m, --model FILE    a model.safetensors written by `fedrec train`\n"
          "  -d, --data PATH     the data set (default: the path saved in the checkpoint)\n"
          "  -f, --format NAME   data format when it cannot be recognised\n"
          "  -t, --threads N     worker threads (results do not depend on it)\n"
          "  -h, --help          this text\n",
          out);
}

int cli_eval(int argc, char **argv) {
    static const struct option opts[] = {
        { "model", required_argument, 0, 'm' }, { "data", required_argument, 0, 'd' },
        { "format", required_argument, 0, 'f' }, { "threads", required_argument, 0, 't' },
        { "help", no_argument, 0, 'h' },         { 0, 0, 0, 0 }
    };
    const char *model = NULL, *data = "", *format = "";
    int threads = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:d:f:t:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': model = optarg; break;
        case 'd': data = optarg; break;
        case 'f': format = optarg; break;
        case 't': threads = atoi(optarg); break;
        case 'h': eval_usage(stdout); return 0;
        default: eval_usage(stderr); return 2;
        }
    }
    if (!model || optind < argc) {
        eval_usage(stderr);
        return 2;
    }
    fr_error err = { "" };
    cJSON *result = NULL;
    fr_status st = fr_eval_checkpoint(model, data, format, threads, &result, &err);
    if (st != FR_OK) return cli_report(st, &err);
    char *text = cJSON_Print(result);
    printf("%s\n", text ? text : "{}");
    free(text);
    cJSON_Delete(result);
    return 0;
}
