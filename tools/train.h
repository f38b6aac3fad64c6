/* ctrain tool — `ctrain train CONFIG.yaml [key=value ...] [--resume]`,
 * `ctrain eval RUN_DIR` and `ctrain predict RUN_DIR X.npy [-o OUT.npy]`:
 * training, evaluating and applying a model described by a YAML config
 * (docs/nn.md). */
#ifndef CTRAIN_TOOLS_TRAIN_H
#define CTRAIN_TOOLS_TRAIN_H

/* 1 if cmd is one of train, eval, predict. */
int ct_train_handles(const char *cmd);
/* argv[0] is the command. Returns the exit status (0 ok, 1 error, 2 usage). */
int ct_train_cmd_main(int argc, char **argv);

#endif
