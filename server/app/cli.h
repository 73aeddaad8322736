/*
 * cli.h - the operator's commands of patrold (everything but `serve`): migrate, user, token,
 * device. Each connects to the database of cfg directly, does its work and returns an exit
 * status (0 success, 1 failure, 2 usage).
 */
#ifndef PATROL_CLI_H
#define PATROL_CLI_H

#include <stdio.h>

struct config;

/* argv[0] is the command name. */
int cli_main(const struct config *cfg, int argc, char **argv);

/* Prints the list of commands. */
void cli_usage(FILE *out);

#endif
