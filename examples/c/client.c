/* SPDX-License-Identifier: Apache-2.0 */
/* A ferry client in C: a request to the C server, a note written in place (zero-copy), then
 * ferryd's bus: it subscribes to type 3, publishes one message of it and receives it back.
 *
 *   example-c-client ENDPOINT      (a running example-c-server ENDPOINT, and ferryd)
 */
#include <stdio.h>
#include <string.h>

#include "ferry/ferry.h"

static int failed(const char* what) {
  fprintf(stderr, "c-client: %s: %s\n", what, ferry_last_error());
  return 1;
}

static void print_message(void* user, const ferry_message* m) {
  int* received = user;
  printf("c-client: bus message of type %u: %.*s\n", (unsigned)m->type, (int)m->size,
         (const char*)m->payload);
  ++*received;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s ENDPOINT\n", argv[0]);
    return 2;
  }
  printf("c-client: ferry %s\n", ferry_version());

  /* To the C server's own endpoint. */
  ferry_client_options options;
  ferry_client_options_init(&options);
  options.endpoint = argv[1];
  ferry_client* server;
  if (ferry_client_connect(&options, &server) != FERRY_OK) return failed("connect");

  ferry_reply reply;
  if (ferry_client_request(server, 1, "hello", 5, 2000000000, &reply) != FERRY_OK) {
    return failed("request");
  }
  printf("c-client: reply %.*s\n", (int)reply.size, (const char*)reply.payload);
  ferry_reply_free(&reply);

  void* room;
  if (ferry_client_reserve(server, 4, &room) != FERRY_OK) return failed("reserve");
  memcpy(room, "note", 4);
  if (ferry_client_commit(server, 4, 2) != FERRY_OK) return failed("commit");
  ferry_client_close(server);

  /* Through ferryd's bus. */
  ferry_client_options_init(&options);
  ferry_client* bus;
  if (ferry_client_connect(&options, &bus) != FERRY_OK) return failed("connect to ferryd");
  if (ferry_client_subscribe(bus, 3, 2000000000) != FERRY_OK) return failed("subscribe");
  if (ferry_client_send(bus, 3, "from C", 6) != FERRY_OK) return failed("send");
  int received = 0;
  size_t handled;
  if (ferry_client_wait(bus, print_message, &received, 2000000000, &handled) != FERRY_OK) {
    return failed("wait");
  }
  ferry_client_close(bus);
  if (received != 1) {
    fprintf(stderr, "c-client: %d bus messages in 2 s, expected 1\n", received);
    return 1;
  }
  return 0;
}
