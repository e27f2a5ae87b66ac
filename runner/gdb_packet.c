/* Framing of the GDB remote serial protocol (see gdb_packet.h): a byte-wise
 * parser that never stores more than GDB_PACKET_MAX payload bytes, and the
 * connection that reads, acknowledges, retransmits and watches for Ctrl-C. */
#include "runner/gdb_packet.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum parser_state { WAIT_START, IN_PAYLOAD, CHECKSUM_HIGH, CHECKSUM_LOW };

static const char hex_digits[] = "0123456789abcdef";

int gdb_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void gdb_packet_parser_init(struct gdb_packet_parser *parser)
{
	parser->state = WAIT_START;
	parser->checksum = 0;
	parser->received_checksum = 0;
	parser->checksum_digits_ok = false;
	parser->checksum_ok = false;
	parser->too_long = false;
	parser->length = 0;
	parser->data[0] = 0;
}

static void start_packet(struct gdb_packet_parser *parser)
{
	parser->state = IN_PAYLOAD;
	parser->checksum = 0;
	parser->too_long = false;
	parser->length = 0;
}

enum gdb_packet_event gdb_packet_parser_feed(struct gdb_packet_parser *parser, uint8_t byte)
{
	switch (parser->state) {
	case IN_PAYLOAD:
		if (byte == '#') {
			parser->state = CHECKSUM_HIGH;
		} else if (byte == '$') {
			/* gdb escapes `$` inside packets: this one starts a new packet
			 * after a lost or truncated one. */
			start_packet(parser);
		} else {
			parser->checksum += byte;
			if (parser->length < GDB_PACKET_MAX)
				parser->data[parser->length++] = (char)byte;
			else
				parser->too_long = true;
		}
		return GDB_PACKET_NONE;
	case CHECKSUM_HIGH: {
		int digit = gdb_hex_value(byte);
		parser->checksum_digits_ok = digit >= 0;
		parser->received_checksum = (uint8_t)((digit < 0 ? 0 : digit) << 4);
		parser->state = CHECKSUM_LOW;
		return GDB_PACKET_NONE;
	}
	case CHECKSUM_LOW: {
		int digit = gdb_hex_value(byte);
		parser->received_checksum |= (uint8_t)(digit < 0 ? 0 : digit);
		parser->checksum_ok = parser->checksum_digits_ok && digit >= 0 && parser->received_checksum == parser->checksum;
		parser->data[parser->length] = 0;
		parser->state = WAIT_START;
		return GDB_PACKET_COMPLETE;
	}
	default:
		if (byte == '$') {
			start_packet(parser);
			return GDB_PACKET_NONE;
		}
		if (byte == '+')
			return GDB_PACKET_ACK;
		if (byte == '-')
			return GDB_PACKET_NACK;
		if (byte == 0x03)
			return GDB_PACKET_INTERRUPT;
		return GDB_PACKET_NONE; /* noise between packets */
	}
}

int gdb_packet_frame(const char *payload, size_t length, char *out, size_t out_size)
{
	if (length > GDB_PACKET_MAX || out_size < length + 4)
		return -EMSGSIZE;
	uint8_t checksum = 0;
	out[0] = '$';
	for (size_t i = 0; i < length; i++) {
		out[1 + i] = payload[i];
		checksum += (uint8_t)payload[i];
	}
	out[1 + length] = '#';
	out[2 + length] = hex_digits[checksum >> 4];
	out[3 + length] = hex_digits[checksum & 15];
	return (int)(length + 4);
}

static bool needs_escape(uint8_t byte)
{
	return byte == '$' || byte == '#' || byte == '}' || byte == '*';
}

size_t gdb_packet_escape(const uint8_t *in, size_t in_length, char *out, size_t out_size, size_t *out_length)
{
	size_t taken = 0, used = 0;
	for (; taken < in_length; taken++) {
		uint8_t byte = in[taken];
		if (needs_escape(byte)) {
			if (out_size - used < 2)
				break;
			out[used++] = '}';
			out[used++] = (char)(byte ^ 0x20);
		} else {
			if (out_size - used < 1)
				break;
			out[used++] = (char)byte;
		}
	}
	*out_length = used;
	return taken;
}

int gdb_packet_unescape(uint8_t *data, size_t length)
{
	size_t in = 0, out = 0;
	while (in < length) {
		if (data[in] == '}') {
			if (in + 1 >= length)
				return -EINVAL;
			data[out++] = data[in + 1] ^ 0x20;
			in += 2;
		} else {
			data[out++] = data[in++];
		}
	}
	return (int)out;
}

void gdb_connection_init(struct gdb_connection *connection, int fd)
{
	connection->fd = fd;
	connection->no_ack = false;
	connection->closed = false;
	connection->interrupted = false;
	connection->pending = false;
	connection->read_start = connection->read_end = 0;
	gdb_packet_parser_init(&connection->parser);
}

/* Reads more bytes into the empty read buffer. Returns 1 when some came, 0
 * when none are there (non-blocking only), -ECONNRESET at end of stream,
 * another negative errno on failure (the connection then counts as closed). */
static int fill(struct gdb_connection *c, bool block)
{
	if (c->closed || c->fd < 0)
		return -ECONNRESET;
	for (;;) {
		if (!block) {
			struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
			int ready = poll(&pfd, 1, 0);
			if (ready < 0 && errno == EINTR)
				continue;
			if (ready == 0)
				return 0;
		}
		ssize_t n = read(c->fd, c->read_buffer, sizeof c->read_buffer);
		if (n > 0) {
			c->read_start = 0;
			c->read_end = (size_t)n;
			return 1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!block)
				return 0;
			struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
			(void)poll(&pfd, 1, -1);
			continue;
		}
		int code = n == 0 || errno == ECONNRESET ? -ECONNRESET : -errno;
		c->closed = true;
		return code;
	}
}

/* The next event from buffered or newly read bytes: an enum gdb_packet_event
 * other than NONE, NONE when non-blocking and nothing is there, or a
 * negative errno. Stops right after a complete packet, so its payload stays
 * in the parser and the bytes after it stay buffered. */
static int next_event(struct gdb_connection *c, bool block)
{
	for (;;) {
		while (c->read_start < c->read_end) {
			enum gdb_packet_event event = gdb_packet_parser_feed(&c->parser, c->read_buffer[c->read_start++]);
			if (event != GDB_PACKET_NONE)
				return event;
		}
		int rc = fill(c, block);
		if (rc <= 0)
			return rc;
	}
}

static int write_all(struct gdb_connection *c, const char *data, size_t length)
{
	if (c->closed || c->fd < 0)
		return -ECONNRESET;
	bool socket = true;
	while (length > 0) {
		/* send() so that a vanished peer is EPIPE, not a SIGPIPE that kills us */
		ssize_t n = socket ? send(c->fd, data, length, MSG_NOSIGNAL) : write(c->fd, data, length);
		if (n < 0 && errno == ENOTSOCK && socket) {
			socket = false;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
			(void)poll(&pfd, 1, -1);
			continue;
		}
		if (n <= 0) {
			int code = n == 0 || errno == EPIPE || errno == ECONNRESET ? -ECONNRESET : -errno;
			c->closed = true;
			return code;
		}
		data += n;
		length -= (size_t)n;
	}
	return 0;
}

static int connection_error(struct tkvm_error *err, int code, const char *doing)
{
	if (code == -ECONNRESET)
		return tkvm_error_set(err, code, "gdb closed the connection while %s", doing);
	return tkvm_error_set(err, code, "gdb connection failed while %s: %s", doing, strerror(-code));
}

int gdb_connection_receive(struct gdb_connection *c, struct tkvm_error *err)
{
	for (;;) {
		int event;
		if (c->pending) {
			c->pending = false;
			event = GDB_PACKET_COMPLETE;
		} else {
			event = next_event(c, true);
		}
		if (event < 0)
			return connection_error(err, event, "waiting for a packet");
		if (event == GDB_PACKET_INTERRUPT)
			c->interrupted = true; /* stopped already; the next resume clears it */
		if (event != GDB_PACKET_COMPLETE)
			continue; /* late acks and stray bytes */
		struct gdb_packet_parser *p = &c->parser;
		if (!c->no_ack) {
			int rc = write_all(c, p->checksum_ok ? "+" : "-", 1);
			if (rc < 0)
				return connection_error(err, rc, "acknowledging a packet");
			if (!p->checksum_ok)
				continue; /* gdb sends it again */
		}
		if (p->too_long)
			return tkvm_error_set(err, -EMSGSIZE, "gdb sent a packet longer than %d bytes", GDB_PACKET_MAX);
		return (int)p->length;
	}
}

int gdb_connection_send(struct gdb_connection *c, const char *payload, size_t length, struct tkvm_error *err)
{
	int frame_length = gdb_packet_frame(payload, length, c->frame, sizeof c->frame);
	if (frame_length < 0)
		return tkvm_error_set(err, frame_length, "reply of %zu bytes exceeds the packet size %d", length, GDB_PACKET_MAX);
	for (int attempt = 0;; attempt++) {
		int rc = write_all(c, c->frame, (size_t)frame_length);
		if (rc < 0)
			return connection_error(err, rc, "sending a packet");
		if (c->no_ack)
			return 0;
		for (;;) {
			int event = next_event(c, true);
			if (event < 0)
				return connection_error(err, event, "waiting for an acknowledgement");
			if (event == GDB_PACKET_ACK)
				return 0;
			if (event == GDB_PACKET_COMPLETE) {
				c->pending = true; /* gdb moved on: its next packet implies the ack */
				return 0;
			}
			if (event == GDB_PACKET_INTERRUPT)
				c->interrupted = true;
			if (event == GDB_PACKET_NACK)
				break;
		}
		if (attempt == GDB_PACKET_RETRANSMIT_LIMIT)
			return tkvm_error_set(err, -EPROTO, "gdb rejected a packet %d times (bad line or bad peer)", attempt + 1);
	}
}

bool gdb_connection_poll_interrupt(struct gdb_connection *c)
{
	if (c->interrupted || c->closed)
		return true;
	if (c->fd < 0 || c->pending)
		return false;
	for (;;) {
		int event = next_event(c, false);
		if (event < 0)
			return true; /* gdb is gone: stop the target too */
		if (event == GDB_PACKET_NONE)
			return false;
		if (event == GDB_PACKET_INTERRUPT) {
			c->interrupted = true;
			return true;
		}
		/* acks, and packets gdb should not send while the target runs: dropped */
	}
}

void gdb_connection_clear_interrupt(struct gdb_connection *connection)
{
	connection->interrupted = false;
}
