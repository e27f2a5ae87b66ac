/* The GDB remote serial protocol's framing: `$payload#checksum` packets,
 * `+`/`-` acknowledgements with bounded retransmission, no-ack mode, and
 * Ctrl-C (0x03) noticed out of band. Knows nothing of what packets mean. */
#ifndef TKVM_RUNNER_GDB_PACKET_H
#define TKVM_RUNNER_GDB_PACKET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runner/error.h"

/* Largest payload accepted or sent (announced to gdb as PacketSize). A
 * longer incoming packet is read to its end and discarded, never stored. */
#define GDB_PACKET_MAX 65536
/* How many times one packet is sent again after gdb answers `-`. */
#define GDB_PACKET_RETRANSMIT_LIMIT 8

/* The incremental parser: bytes in, events out. No I/O, no allocation. */
enum gdb_packet_event {
	GDB_PACKET_NONE,      /* byte consumed; nothing complete yet */
	GDB_PACKET_COMPLETE,  /* a packet ended: see data, length, checksum_ok, too_long */
	GDB_PACKET_ACK,       /* `+` between packets */
	GDB_PACKET_NACK,      /* `-` between packets */
	GDB_PACKET_INTERRUPT, /* 0x03 between packets: gdb's Ctrl-C */
};

struct gdb_packet_parser {
	int state;
	uint8_t checksum;          /* sum of the payload bytes so far */
	uint8_t received_checksum; /* from the two digits after `#` */
	bool checksum_digits_ok;
	bool checksum_ok;          /* after COMPLETE: the digits matched the payload */
	bool too_long;             /* after COMPLETE: payload exceeded GDB_PACKET_MAX; data holds its start */
	size_t length;             /* payload bytes stored in data */
	char data[GDB_PACKET_MAX + 1]; /* payload, NUL-terminated after COMPLETE (it may hold NULs) */
};

void gdb_packet_parser_init(struct gdb_packet_parser *parser);
enum gdb_packet_event gdb_packet_parser_feed(struct gdb_packet_parser *parser, uint8_t byte);

/* Frames payload as `$payload#cs` into out (the payload is copied as is:
 * binary data must be escaped first). Returns the frame's length, or
 * -EMSGSIZE when the payload exceeds GDB_PACKET_MAX or out is too small. */
int gdb_packet_frame(const char *payload, size_t length, char *out, size_t out_size);

/* Binary data (X packets, qXfer replies): `}` followed by byte ^ 0x20. */
/* Escapes $ # } * of in[] into out; stops before the byte that would not fit.
 * Returns how many input bytes were taken; *out_length is the output used. */
size_t gdb_packet_escape(const uint8_t *in, size_t in_length, char *out, size_t out_size, size_t *out_length);
/* Undoes escapes in place; returns the new length, -EINVAL for a trailing `}`. */
int gdb_packet_unescape(uint8_t *data, size_t length);

/* One connection to gdb over a stream fd (socket, pipe or tty). */
struct gdb_connection {
	int fd;
	bool no_ack;        /* after QStartNoAckMode: no `+`/`-` either way */
	bool closed;        /* the peer closed its end (or the fd failed) */
	bool interrupted;   /* a 0x03 arrived since gdb_connection_clear_interrupt */
	bool pending;       /* the parser holds a packet that arrived while waiting for an ack */
	size_t read_start, read_end;
	uint8_t read_buffer[4096];
	struct gdb_packet_parser parser;
	char frame[GDB_PACKET_MAX + 4];
};

/* The fd stays the caller's: nothing here closes it. */
void gdb_connection_init(struct gdb_connection *connection, int fd);

/* Waits for the next packet and acknowledges it. Returns the payload length
 * (payload in connection->parser.data), -EMSGSIZE for a packet over
 * GDB_PACKET_MAX (acknowledged and dropped: answer it with an error),
 * -ECONNRESET when gdb closed the connection, another negative errno when
 * the fd failed. Packets with a bad checksum are answered `-` and waited
 * for again; in no-ack mode they are taken as they are (as gdbserver does). */
int gdb_connection_receive(struct gdb_connection *connection, struct tkvm_error *err);

/* Sends one packet; unless in no-ack mode, waits for `+` and sends again on
 * `-` (at most GDB_PACKET_RETRANSMIT_LIMIT times: then -EPROTO). A packet
 * arriving instead of an ack counts as the ack and is kept for the next
 * receive. -ECONNRESET when gdb closed the connection. */
int gdb_connection_send(struct gdb_connection *connection, const char *payload, size_t length, struct tkvm_error *err);

/* Without blocking, reads what the fd has and reports whether gdb sent
 * Ctrl-C (or closed the connection, which also means "stop"). Packets that
 * arrive meanwhile are dropped: in all-stop mode gdb sends none while the
 * target runs. */
bool gdb_connection_poll_interrupt(struct gdb_connection *connection);
void gdb_connection_clear_interrupt(struct gdb_connection *connection);
/* 0..15 for a hex digit (either case), -1 otherwise. */
int gdb_hex_value(int c);
#endif
