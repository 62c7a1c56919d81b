/*
 * The pause process of the test cluster's pod sandboxes (the image the containerd config
 * names as sandbox_image): it holds the pod's namespaces open and does nothing else.
 * Built statically (gcc -static -O2) into an image with no other file, by testenv.images.
 *
 * It is PID 1 of the sandbox when the pod shares its PID namespace, so it reaps whatever
 * gets re-parented to it, and it exits 0 on SIGTERM/SIGINT so a stopped sandbox is no
 * error. Signals are handled with sigaction so that pause() returns after each one.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) {
    (void)sig;
    _exit(0);
}

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

static void on(int sig, void (*handler)(int), int flags) {
    struct sigaction sa = {0};
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

int main(void) {
    on(SIGTERM, stop, 0);
    on(SIGINT, stop, 0);
    /* SA_NOCLDSTOP: a stopped child is not a reason to wake up. */
    on(SIGCHLD, reap, SA_NOCLDSTOP | SA_RESTART);
    for (;;) {
        pause();
    }
    return EXIT_FAILURE; /* not reached */
}
