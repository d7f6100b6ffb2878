/* SPDX-License-Identifier: Apache-2.0 */
/* A ferry server in C: answers requests of type 1 with their text in upper case, counts
 * the one-way notes of type 2, and stops on SIGTERM or SIGINT.
 *
 *   example-c-server ENDPOINT      prints "c-server: ready", then serves
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/ferry.h"

static ferry_server* server;
static unsigned long answers, notes;

static void on_signal(int sig) {
  (void)sig;
  ferry_server_stop(server); /* async-signal-safe */
}

static void shout(void* user, ferry_request* request) {
  (void)user;
  const ferry_message* m = ferry_request_message(request);
  char upper[256];
  if (m->size > sizeof upper) {
    ferry_request_reply_error(request, "too long to shout: at most 256 bytes");
    return;
  }
  const unsigned char* text = m->payload; /* a view: read it, never keep it */
  for (size_t i = 0; i < m->size; ++i) upper[i] = (char)toupper(text[i]);
  if (ferry_request_reply(request, upper, m->size) == FERRY_OK) {
    ++answers;
  } else {
    fprintf(stderr, "c-server: reply failed: %s\n", ferry_last_error());
  }
}

static void note(void* user, ferry_request* request) {
  (void)user;
  (void)request;
  ++notes;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s ENDPOINT\n", argv[0]);
    return 2;
  }
  ferry_server_options options;
  ferry_server_options_init(&options);
  options.endpoint = argv[1];
  if (ferry_server_create(&options, &server) != FERRY_OK) {
    fprintf(stderr, "c-server: %s\n", ferry_last_error());
    return 1;
  }
  ferry_server_on(server, 1, shout, NULL);
  ferry_server_on(server, 2, note, NULL);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  printf("c-server: ready\n");
  fflush(stdout);
  int status = ferry_server_run(server);
  if (status != FERRY_OK) fprintf(stderr, "c-server: %s\n", ferry_last_error());
  printf("c-server: stopped after %lu answers and %lu notes\n", answers, notes);
  ferry_server_destroy(server);
  return status == FERRY_OK ? 0 : 1;
}
