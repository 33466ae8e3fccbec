/* interrupt.c - Ctrl-C: the first asks the tool to stop after the current
   item (its output stays whole and resumable), the second quits at once. */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t interrupted;
static int tell_user; /* stderr is a terminal */

static void on_sigint(int sig) {
    (void)sig;
    if (interrupted) _exit(IRIS_CLI_EXIT_INTERRUPTED);
    interrupted = 1;
    if (tell_user) {
        static const char msg[] = "\r\033[K" "interrupted: finishing the current item (Ctrl-C again to quit now)\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
    }
}

void iris_cli_install_sigint(void) {
    tell_user = isatty(STDERR_FILENO);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
}

int iris_cli_interrupted(void) { return interrupted != 0; }

void iris_cli_clear_interrupt(void) { interrupted = 0; }

int iris_cli_exit_status(size_t n_failed) {
    if (interrupted) return IRIS_CLI_EXIT_INTERRUPTED;
    return n_failed ? IRIS_CLI_EXIT_PARTIAL : IRIS_CLI_EXIT_OK;
}
