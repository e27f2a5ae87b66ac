/* Unit tests of the GDB stub: a fake target (a memory array and a register
 * array) served over a socketpair by a stub thread, while the test plays gdb
 * byte by byte: framing, acks, no-ack mode, registers, memory, escapes,
 * breakpoints, stops, target.xml, hostile packets, Ctrl-C, detach and kill;
 * the register layout and XSAVE conversions; and, when gdb is installed, a
 * real `gdb -batch` session against the same fake target. No KVM needed. */
#include "runner/error.h"
#include "runner/gdb_packet.h"
#include "runner/gdb_stub.h"
#include "runner/gdb_x86_64.h"
#include "tests/lib/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the fake target ---- */

#define FAKE_BASE 0x1000u
#define FAKE_SIZE 0x3000u /* three pages: 0x1000..0x3fff */
#define FAKE_MAX_BREAKPOINTS 8

enum continue_mode {
	CONTINUE_EXITS,
	CONTINUE_WAITS_FOR_INTERRUPT, /* polls gdb_interrupt_requested */
	CONTINUE_WATCHES,             /* blocks like KVM_RUN; gdb_interrupt_watch's thread wakes it */
	CONTINUE_FAILS,
	CONTINUE_CRASHES,
};

struct fake_target {
	uint8_t memory[FAKE_SIZE];
	uint8_t registers[GDB_X86_64_REGISTERS_SIZE];
	uint64_t breakpoints[FAKE_MAX_BREAKPOINTS];
	int breakpoint_count;
	enum continue_mode continue_mode;
	int exit_status;
	int steps, continues, single_register_reads;
	bool killed, detached, saw_interrupt;
	int wakeups, spurious_wakeups;
	pthread_mutex_t lock; /* CONTINUE_WATCHES: the "vCPU" sleeps on woken */
	pthread_cond_t woken_changed;
	bool woken;
};

static int fake_read_registers(void *target, uint8_t *buf, size_t size)
{
	struct fake_target *t = target;
	if (size != sizeof t->registers)
		return -EINVAL;
	memcpy(buf, t->registers, size);
	return 0;
}

static int fake_write_registers(void *target, const uint8_t *buf, size_t size)
{
	struct fake_target *t = target;
	if (size != sizeof t->registers)
		return -EINVAL;
	memcpy(t->registers, buf, size);
	return 0;
}

static int fake_read_register(void *target, unsigned regno, uint8_t *buf, size_t size)
{
	struct fake_target *t = target;
	const struct gdb_x86_64_register_info *r = gdb_x86_64_register(regno);
	if (!r || r->size != size)
		return -EINVAL;
	t->single_register_reads++;
	memcpy(buf, t->registers + r->offset, size);
	return 0;
}

static bool fake_range_ok(uint64_t address, size_t length)
{
	return address >= FAKE_BASE && length <= FAKE_SIZE && address - FAKE_BASE <= FAKE_SIZE - length;
}

static int fake_read_memory(void *target, uint64_t address, uint8_t *buf, size_t length)
{
	struct fake_target *t = target;
	if (!fake_range_ok(address, length))
		return -EFAULT;
	memcpy(buf, t->memory + (address - FAKE_BASE), length);
	return 0;
}

static int fake_write_memory(void *target, uint64_t address, const uint8_t *buf, size_t length)
{
	struct fake_target *t = target;
	if (!fake_range_ok(address, length))
		return -EFAULT;
	memcpy(t->memory + (address - FAKE_BASE), buf, length);
	return 0;
}

static int fake_insert_breakpoint(void *target, uint64_t address)
{
	struct fake_target *t = target;
	if (!fake_range_ok(address, 1))
		return -EFAULT;
	for (int i = 0; i < t->breakpoint_count; i++)
		if (t->breakpoints[i] == address)
			return 0;
	if (t->breakpoint_count == FAKE_MAX_BREAKPOINTS)
		return -ENOSPC;
	t->breakpoints[t->breakpoint_count++] = address;
	return 0;
}

static int fake_remove_breakpoint(void *target, uint64_t address)
{
	struct fake_target *t = target;
	for (int i = 0; i < t->breakpoint_count; i++)
		if (t->breakpoints[i] == address) {
			t->breakpoints[i] = t->breakpoints[--t->breakpoint_count];
			return 0;
		}
	return -ENOENT;
}

/* What an embedder's on_input does: kick the vCPU out of KVM_RUN. */
static void fake_kick(void *arg)
{
	struct fake_target *t = arg;
	pthread_mutex_lock(&t->lock);
	t->woken = true;
	pthread_cond_signal(&t->woken_changed);
	pthread_mutex_unlock(&t->lock);
}

/* A continue the way a KVM embedder writes it: run (here: sleep) until
 * kicked, then ask whether it was really a Ctrl-C; if not, run on. */
static int fake_run_until_kicked(struct fake_target *t, struct gdb_interrupt *interrupt, struct gdb_stop *stop)
{
	for (;;) {
		int rc = gdb_interrupt_watch(interrupt, fake_kick, t);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			struct timespec deadline;
			clock_gettime(CLOCK_REALTIME, &deadline);
			deadline.tv_sec += 10;
			pthread_mutex_lock(&t->lock);
			while (!t->woken && pthread_cond_timedwait(&t->woken_changed, &t->lock, &deadline) == 0)
				;
			t->woken = false;
			pthread_mutex_unlock(&t->lock);
			gdb_interrupt_unwatch(interrupt);
		}
		t->wakeups++;
		if (gdb_interrupt_requested(interrupt))
			break;
		t->spurious_wakeups++;
	}
	t->saw_interrupt = true;
	stop->signal = GDB_SIGNAL_INT;
	return 0;
}

/* A step moves rip by one byte. A continue runs to the lowest breakpoint
 * above rip if there is one; otherwise it exits, or waits for Ctrl-C. */
static int fake_resume(void *target, bool step, struct gdb_interrupt *interrupt, struct gdb_stop *stop)
{
	struct fake_target *t = target;
	uint64_t rip = gdb_x86_64_get(t->registers, GDB_X86_64_RIP);
	if (step) {
		t->steps++;
		gdb_x86_64_set(t->registers, GDB_X86_64_RIP, rip + 1);
		stop->signal = GDB_SIGNAL_TRAP;
		return 0;
	}
	t->continues++;
	uint64_t best = 0;
	for (int i = 0; i < t->breakpoint_count; i++)
		if (t->breakpoints[i] > rip && (best == 0 || t->breakpoints[i] < best))
			best = t->breakpoints[i];
	if (best) {
		gdb_x86_64_set(t->registers, GDB_X86_64_RIP, best);
		stop->signal = GDB_SIGNAL_TRAP;
		stop->breakpoint = true;
		return 0;
	}
	if (t->continue_mode == CONTINUE_FAILS)
		return -EIO;
	if (t->continue_mode == CONTINUE_CRASHES) {
		stop->terminated = true;
		stop->signal = GDB_SIGNAL_SEGV;
		return 0;
	}
	if (t->continue_mode == CONTINUE_WATCHES)
		return fake_run_until_kicked(t, interrupt, stop);
	if (t->continue_mode == CONTINUE_WAITS_FOR_INTERRUPT) {
		for (int waited = 0; waited < 10000; waited++) { /* at most 10 s */
			if (gdb_interrupt_requested(interrupt)) {
				t->saw_interrupt = true;
				break;
			}
			usleep(1000);
		}
		stop->signal = GDB_SIGNAL_INT;
		return 0;
	}
	stop->exited = true;
	stop->exit_status = t->exit_status;
	return 0;
}

static int fake_load_offset(void *target, uint64_t *offset)
{
	(void)target;
	*offset = 0x555555554000ull;
	return 0;
}

static void fake_kill(void *target)
{
	((struct fake_target *)target)->killed = true;
}

static void fake_detach(void *target)
{
	((struct fake_target *)target)->detached = true;
}

static const struct gdb_target_ops fake_ops = {
	.read_registers = fake_read_registers,
	.write_registers = fake_write_registers,
	.read_register = fake_read_register,
	.read_memory = fake_read_memory,
	.write_memory = fake_write_memory,
	.insert_breakpoint = fake_insert_breakpoint,
	.remove_breakpoint = fake_remove_breakpoint,
	.resume = fake_resume,
	.kill = fake_kill,
	.detach = fake_detach,
};

static void fake_init(struct fake_target *t)
{
	memset(t, 0, sizeof *t);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->woken_changed, NULL);
	for (unsigned i = 0; i < FAKE_SIZE; i++)
		t->memory[i] = (uint8_t)(i * 7 + 3);
	/* push %rbp; mov %rsp,%rbp */
	t->memory[0] = 0x55, t->memory[1] = 0x48, t->memory[2] = 0x89, t->memory[3] = 0xe5;
	gdb_x86_64_set(t->registers, GDB_X86_64_RAX, 0x1122334455667788ull);
	gdb_x86_64_set(t->registers, GDB_X86_64_RSP, 0x3f00);
	gdb_x86_64_set(t->registers, GDB_X86_64_RIP, FAKE_BASE);
	gdb_x86_64_set(t->registers, GDB_X86_64_EFLAGS, 0x202);
	gdb_x86_64_set(t->registers, GDB_X86_64_CS, 0x33);
	gdb_x86_64_set(t->registers, GDB_X86_64_SS, 0x2b);
	gdb_x86_64_set(t->registers, GDB_X86_64_FS_BASE, 0x7000);
	gdb_x86_64_set(t->registers, GDB_X86_64_ORIG_RAX, UINT64_MAX);
	gdb_x86_64_set(t->registers, GDB_X86_64_MXCSR, 0x1f80);
	gdb_x86_64_set(t->registers, GDB_X86_64_FCTRL, 0x37f);
	gdb_x86_64_set(t->registers, GDB_X86_64_FSTAT, 7u << 11); /* one value pushed: TOP = 7 */
	gdb_x86_64_set(t->registers, GDB_X86_64_FTAG, 0x3fff);    /* physical register 7 valid */
	/* st0 = 1.0: exponent 0x3fff, integer bit set */
	uint8_t *st0 = t->registers + gdb_x86_64_register(GDB_X86_64_ST0)->offset;
	st0[7] = 0x80, st0[8] = 0xff, st0[9] = 0x3f;
	/* xmm1 = {1, 2, 3, 4} as int32, ymm1h = {5, 6, 7, 8} */
	uint8_t *xmm1 = t->registers + gdb_x86_64_register(GDB_X86_64_XMM0 + 1)->offset;
	uint8_t *ymm1h = t->registers + gdb_x86_64_register(GDB_X86_64_YMM0H + 1)->offset;
	for (int i = 0; i < 4; i++) {
		xmm1[4 * i] = (uint8_t)(1 + i);
		ymm1h[4 * i] = (uint8_t)(5 + i);
	}
}

/* ---- a session: the stub on one end of a socketpair, the test on the other ---- */

struct session {
	int fd;      /* the test's end: the test plays gdb */
	int stub_fd;
	bool no_ack;
	pthread_t thread;
	int serve_rc;
	struct tkvm_error err;
	struct fake_target target;
	bool running;
};

static void *serve_thread(void *arg)
{
	struct session *s = arg;
	s->serve_rc = gdb_stub_serve(s->stub_fd, &fake_ops, &s->target, NULL, &s->err);
	return NULL;
}

static void session_start(struct session *s)
{
	memset(s, 0, sizeof *s);
	fake_init(&s->target);
	int fds[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
		perror("socketpair");
		exit(1);
	}
	s->fd = fds[0];
	s->stub_fd = fds[1];
	s->serve_rc = 1;
	s->running = pthread_create(&s->thread, NULL, serve_thread, s) == 0;
}

/* Closes the test's end (if still open) and waits for the stub; returns its result. */
static int session_finish(struct session *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->running)
		pthread_join(s->thread, NULL);
	s->running = false;
	close(s->stub_fd);
	return s->serve_rc;
}

/* Waits for the stub to end on its own (D, k), then closes. */
static int session_wait(struct session *s)
{
	if (s->running)
		pthread_join(s->thread, NULL);
	s->running = false;
	return session_finish(s);
}

static void send_raw(struct session *s, const void *data, size_t length)
{
	const char *p = data;
	while (length > 0) {
		ssize_t n = send(s->fd, p, length, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		p += n;
		length -= (size_t)n;
	}
}

/* One byte from the stub, or -1 after 5 s or at end of stream. */
static int read_byte(struct session *s)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	if (poll(&pfd, 1, 5000) <= 0)
		return -1;
	unsigned char c;
	return read(s->fd, &c, 1) == 1 ? c : -1;
}

/* The next byte without taking it, or -1. */
static int peek_byte(struct session *s)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	if (poll(&pfd, 1, 5000) <= 0)
		return -1;
	unsigned char c;
	return recv(s->fd, &c, 1, MSG_PEEK) == 1 ? c : -1;
}

/* Sends a framed packet without waiting for anything (framed here, not with
 * gdb_packet_frame, so that it can be longer than the stub allows). */
static void send_frame(struct session *s, const char *payload, size_t length)
{
	char *frame = malloc(length + 5);
	unsigned sum = 0;
	frame[0] = '$';
	for (size_t i = 0; i < length; i++)
		sum += (unsigned char)(frame[1 + i] = payload[i]);
	snprintf(frame + 1 + length, 4, "#%02x", sum & 0xff);
	send_raw(s, frame, length + 4);
	free(frame);
}

/* Reads one reply packet (skipping acks) into buf, checks its checksum and
 * acknowledges it. Returns its length, or -1. */
static int read_packet(struct session *s, char *buf, size_t size)
{
	int c;
	while ((c = read_byte(s)) != '$')
		if (c < 0)
			return -1;
	size_t length = 0;
	unsigned sum = 0;
	while ((c = read_byte(s)) != '#') {
		if (c < 0 || length + 1 >= size)
			return -1;
		buf[length++] = (char)c;
		sum += (unsigned)c;
	}
	buf[length] = 0;
	char digits[3] = { 0 };
	for (int i = 0; i < 2; i++) {
		if ((c = read_byte(s)) < 0)
			return -1;
		digits[i] = (char)c;
	}
	if (strtoul(digits, NULL, 16) != (sum & 0xff))
		return -1;
	if (!s->no_ack)
		send_raw(s, "+", 1);
	return (int)length;
}

static char reply[GDB_PACKET_MAX + 8];

/* Sends a packet, expects its ack (unless no-ack), returns the reply text
 * ("<no reply>" when none came). */
static const char *command_n(struct session *s, const char *payload, size_t length)
{
	send_frame(s, payload, length);
	if (!s->no_ack) {
		int c = read_byte(s);
		if (c != '+')
			return "<no ack>";
	}
	if (read_packet(s, reply, sizeof reply) < 0)
		return "<no reply>";
	return reply;
}

static const char *command(struct session *s, const char *payload)
{
	return command_n(s, payload, strlen(payload));
}

static void hex_of(const uint8_t *bytes, size_t length, char *out)
{
	for (size_t i = 0; i < length; i++)
		sprintf(out + 2 * i, "%02x", bytes[i]);
	out[2 * length] = 0;
}

/* ---- the packet layer on its own ---- */

static void test_parser_events(void)
{
	static struct gdb_packet_parser p;
	gdb_packet_parser_init(&p);
	const char *input = "x+-\x03$g#67";
	enum gdb_packet_event expected[] = { GDB_PACKET_NONE, GDB_PACKET_ACK, GDB_PACKET_NACK, GDB_PACKET_INTERRUPT,
					     GDB_PACKET_NONE, GDB_PACKET_NONE, GDB_PACKET_NONE, GDB_PACKET_NONE,
					     GDB_PACKET_COMPLETE };
	for (size_t i = 0; i < strlen(input); i++)
		CHECK_INT(gdb_packet_parser_feed(&p, (uint8_t)input[i]), expected[i]);
	CHECK(p.checksum_ok);
	CHECK_INT(p.length, 1);
	CHECK_STR(p.data, "g");

	/* bad digits, wrong sum, and a `$` restarting a broken packet */
	const char *bad[] = { "$g#zz", "$g#68", "$mjunk$g#67" };
	bool ok[] = { false, false, true };
	for (int i = 0; i < 3; i++) {
		enum gdb_packet_event last = GDB_PACKET_NONE;
		for (const char *c = bad[i]; *c; c++)
			last = gdb_packet_parser_feed(&p, (uint8_t)*c);
		CHECK_INT(last, GDB_PACKET_COMPLETE);
		CHECK_INT(p.checksum_ok, ok[i]);
	}

	/* over the limit: counted, not stored */
	gdb_packet_parser_feed(&p, '$');
	uint8_t sum = 0;
	for (int i = 0; i < GDB_PACKET_MAX + 100; i++) {
		gdb_packet_parser_feed(&p, 'a');
		sum += 'a';
	}
	char digits[3];
	snprintf(digits, sizeof digits, "%02x", sum);
	gdb_packet_parser_feed(&p, '#');
	gdb_packet_parser_feed(&p, (uint8_t)digits[0]);
	CHECK_INT(gdb_packet_parser_feed(&p, (uint8_t)digits[1]), GDB_PACKET_COMPLETE);
	CHECK(p.too_long);
	CHECK(p.checksum_ok);
	CHECK_INT(p.length, GDB_PACKET_MAX);
}

static void test_frame_and_escapes(void)
{
	char out[32];
	CHECK_INT(gdb_packet_frame("OK", 2, out, sizeof out), 6);
	CHECK(memcmp(out, "$OK#9a", 6) == 0);
	CHECK_INT(gdb_packet_frame("", 0, out, sizeof out), 4);
	CHECK(memcmp(out, "$#00", 4) == 0);
	CHECK_INT(gdb_packet_frame("OK", 2, out, 5), -EMSGSIZE);

	const uint8_t binary[] = { '$', '#', '}', '*', 0, 'a' };
	size_t used;
	CHECK_INT(gdb_packet_escape(binary, sizeof binary, out, sizeof out, &used), sizeof binary);
	CHECK_INT(used, 10);
	CHECK(memcmp(out, "}\x04}\x03}]}\x0a\0a", 10) == 0);
	/* stops before a byte that does not fit */
	CHECK_INT(gdb_packet_escape(binary, sizeof binary, out, 3, &used), 1);
	CHECK_INT(used, 2);

	uint8_t data[16];
	memcpy(data, "}\x04}\x03}]}\x0a\0a", 10);
	CHECK_INT(gdb_packet_unescape(data, 10), 6);
	CHECK(memcmp(data, binary, 6) == 0);
	memcpy(data, "ab}", 3);
	CHECK_INT(gdb_packet_unescape(data, 3), -EINVAL);
}

/* ---- protocol over a socket ---- */

static void test_ack_and_checksums(void)
{
	struct session s;
	session_start(&s);
	send_raw(&s, "+", 1); /* gdb's greeting ack: ignored */
	CHECK_STR(command(&s, "?"), "T05thread:1;");

	/* wrong checksum: `-`, then the same packet again is answered */
	send_raw(&s, "$?#00", 5);
	CHECK_INT(read_byte(&s), '-');
	send_raw(&s, "$?#zz", 5);
	CHECK_INT(read_byte(&s), '-');
	CHECK_STR(command(&s, "?"), "T05thread:1;");

	/* gdb rejects our reply once: it comes again */
	send_frame(&s, "qC", 2);
	CHECK_INT(read_byte(&s), '+');
	s.no_ack = true; /* read without acking */
	CHECK(read_packet(&s, reply, sizeof reply) > 0);
	CHECK_STR(reply, "QC1");
	send_raw(&s, "-", 1);
	CHECK(read_packet(&s, reply, sizeof reply) > 0);
	CHECK_STR(reply, "QC1");
	send_raw(&s, "+", 1);
	s.no_ack = false;

	/* noise and a truncated packet before a good one */
	send_raw(&s, "garbage\r\n", 9);
	CHECK_STR(command(&s, "qC"), "QC1");
	send_raw(&s, "$g#6", 4); /* the next `$` is taken as its last digit: `-` */
	send_raw(&s, "$?#3f", 5);
	CHECK_INT(read_byte(&s), '-');
	CHECK_STR(command(&s, "?"), "T05thread:1;"); /* gdb resends */

	/* an ack-less packet sent before acking our reply counts as the ack */
	send_frame(&s, "qC", 2);
	CHECK_INT(read_byte(&s), '+');
	s.no_ack = true;
	CHECK(read_packet(&s, reply, sizeof reply) > 0);
	s.no_ack = false;
	CHECK_STR(command(&s, "qfThreadInfo"), "m1");
	CHECK_STR(command(&s, "qsThreadInfo"), "l");

	CHECK_INT(session_finish(&s), -ECONNRESET);
	CHECK_CONTAINS(s.err.message, "gdb closed the connection");
}

static void test_retransmit_limit(void)
{
	struct session s;
	session_start(&s);
	send_frame(&s, "qC", 2);
	CHECK_INT(read_byte(&s), '+');
	s.no_ack = true;
	int copies = 0;
	while (copies <= GDB_PACKET_RETRANSMIT_LIMIT && read_packet(&s, reply, sizeof reply) > 0) {
		copies++;
		send_raw(&s, "-", 1);
	}
	CHECK_INT(copies, GDB_PACKET_RETRANSMIT_LIMIT + 1);
	pthread_join(s.thread, NULL); /* the stub gives up by itself */
	s.running = false;
	struct pollfd pfd = { .fd = s.fd, .events = POLLIN };
	CHECK_INT(poll(&pfd, 1, 0), 0); /* and sends no more copies */
	CHECK_INT(session_finish(&s), -EPROTO);
	CHECK_CONTAINS(s.err.message, "rejected");
}

static void test_no_ack_mode(void)
{
	struct session s;
	session_start(&s);
	CHECK_STR(command(&s, "qSupported:multiprocess+;swbreak+;hwbreak+"),
		  "PacketSize=10000;qXfer:features:read+;QStartNoAckMode+;vContSupported+;swbreak+");
	CHECK_STR(command(&s, "QStartNoAckMode"), "OK"); /* acked both ways */
	s.no_ack = true;
	send_frame(&s, "qC", 2);
	CHECK_INT(peek_byte(&s), '$'); /* no `+` first */
	CHECK(read_packet(&s, reply, sizeof reply) > 0);
	CHECK_STR(reply, "QC1");
	/* bad checksums are taken as they are, as gdbserver does in this mode */
	send_raw(&s, "$qC#00", 6);
	CHECK(read_packet(&s, reply, sizeof reply) > 0);
	CHECK_STR(reply, "QC1");
	CHECK_STR(command(&s, "vMustReplyEmpty"), "");
	CHECK_INT(session_finish(&s), -ECONNRESET);
}

static void test_registers(void)
{
	struct session s;
	session_start(&s);
	static char expected[2 * GDB_X86_64_REGISTERS_SIZE + 1];
	hex_of(s.target.registers, sizeof s.target.registers, expected);
	CHECK_STR(command(&s, "g"), expected);
	CHECK_INT(strlen(reply), 2 * GDB_X86_64_REGISTERS_SIZE);

	/* G: change rbx through the whole set */
	static uint8_t changed[GDB_X86_64_REGISTERS_SIZE];
	memcpy(changed, s.target.registers, sizeof changed);
	gdb_x86_64_set(changed, GDB_X86_64_RBX, 0xdeadbeef);
	static char packet[2 * GDB_X86_64_REGISTERS_SIZE + 2];
	packet[0] = 'G';
	hex_of(changed, sizeof changed, packet + 1);
	CHECK_STR(command(&s, packet), "OK");
	CHECK_INT(gdb_x86_64_get(s.target.registers, GDB_X86_64_RBX), 0xdeadbeef);
	packet[strlen(packet) - 1] = 0; /* odd length */
	CHECK_STR(command(&s, packet), "E01");
	packet[strlen(packet) - 2] = 0; /* one register byte short */
	CHECK_STR(command(&s, packet), "E01");
	CHECK_STR(command(&s, "G"), "E01");
	CHECK_STR(command(&s, "gx"), "E01");

	/* p/P: rip is 0x10, eflags 0x11 (4 bytes), xmm1 0x29 (16 bytes) */
	CHECK_STR(command(&s, "p10"), "0010000000000000");
	CHECK_STR(command(&s, "p11"), "02020000");
	CHECK_STR(command(&s, "p29"), "01000000020000000300000004000000");
	CHECK(s.target.single_register_reads >= 3);
	CHECK_STR(command(&s, "P10=0820000000000000"), "OK");
	CHECK_INT(gdb_x86_64_get(s.target.registers, GDB_X86_64_RIP), 0x2008);
	CHECK_STR(command(&s, "P4b=ffffffffffffffffffffffffffffffff"), "OK"); /* ymm15h */
	CHECK_STR(command(&s, "p4b"), "ffffffffffffffffffffffffffffffff");

	/* hostile register numbers and values */
	CHECK_STR(command(&s, "p4c"), "E01");        /* one past the last */
	CHECK_STR(command(&s, "pffffffff"), "E01");
	CHECK_STR(command(&s, "p10000000000000000000"), "E01"); /* overflow */
	CHECK_STR(command(&s, "p"), "E01");
	CHECK_STR(command(&s, "pzz"), "E01");
	CHECK_STR(command(&s, "p10,"), "E01");
	CHECK_STR(command(&s, "P10=08200000000000"), "E01");   /* short */
	CHECK_STR(command(&s, "P10=082000000000000000"), "E01"); /* long */
	CHECK_STR(command(&s, "P10=08200000000000g0"), "E01"); /* not hex */
	CHECK_STR(command(&s, "P10"), "E01");
	CHECK_STR(command(&s, "P4c=00000000"), "E01");
	CHECK_INT(gdb_x86_64_get(s.target.registers, GDB_X86_64_RIP), 0x2008);
	CHECK_INT(session_finish(&s), -ECONNRESET);
}

static void test_memory(void)
{
	struct session s;
	session_start(&s);
	CHECK_STR(command(&s, "m1000,4"), "554889e5");
	CHECK_STR(command(&s, "m1000,0"), "");
	CHECK_STR(command(&s, "m0,4"), "E01");       /* unmapped */
	char expected[8];
	hex_of(s.target.memory + FAKE_SIZE - 2, 2, expected);
	CHECK_STR(command(&s, "m3ffe,4"), expected); /* the mapped part only */
	/* the largest read (here cut at the end of the mapping); one more byte is refused */
	CHECK_INT(strlen(command(&s, "m1000,8000")), 2 * FAKE_SIZE);
	CHECK_STR(command(&s, "m1000,8001"), "E01");
	CHECK_STR(command(&s, "m1000,ffffffffffffffff"), "E01");
	CHECK_STR(command(&s, "mffffffffffffffff,2"), "E01"); /* wraps */
	CHECK_STR(command(&s, "m10000000000000000,1"), "E01"); /* 17 digits */
	CHECK_STR(command(&s, "m1000"), "E01");
	CHECK_STR(command(&s, "m1000,"), "E01");
	CHECK_STR(command(&s, "m,4"), "E01");
	CHECK_STR(command(&s, "m1000,4x"), "E01");

	/* M */
	CHECK_STR(command(&s, "M1004,3:aabbcc"), "OK");
	CHECK_STR(command(&s, "m1004,3"), "aabbcc");
	CHECK_STR(command(&s, "M1004,3:aabb"), "E01");     /* fewer digits than said */
	CHECK_STR(command(&s, "M1004,1:aabb"), "E01");     /* more */
	CHECK_STR(command(&s, "M1004,1:a"), "E01");        /* odd */
	CHECK_STR(command(&s, "M1004,1:zz"), "E01");
	CHECK_STR(command(&s, "M1004,1"), "E01");
	CHECK_STR(command(&s, "M0,1:00"), "E01");          /* unmapped */
	CHECK_STR(command(&s, "M1004,ffffffff:00"), "E01"); /* huge length */
	CHECK_STR(command(&s, "m1004,3"), "aabbcc");

	/* X: binary with escapes, a NUL, and gdb's zero-length probe */
	CHECK_STR(command(&s, "X1000,0:"), "OK");
	const char x[] = "X1008,6:}\x04}\x03}]}\x0a\0z";
	CHECK_STR(command_n(&s, x, sizeof x - 1), "OK");
	CHECK_STR(command(&s, "m1008,6"), "24237d2a007a");
	const char x_trailing[] = "X1008,1:}";
	CHECK_STR(command_n(&s, x_trailing, sizeof x_trailing - 1), "E01");
	CHECK_STR(command(&s, "X1008,2:a"), "E01");           /* fewer bytes than said */
	CHECK_STR(command(&s, "X1008,1:ab"), "E01");          /* more */
	CHECK_STR(command(&s, "X1008,ffffffffffff:a"), "E01");
	CHECK_STR(command(&s, "X0,1:a"), "E01");
	CHECK_STR(command(&s, "m1008,6"), "24237d2a007a");
	CHECK_INT(session_finish(&s), -ECONNRESET);
}

static void test_breakpoints_and_stops(void)
{
	struct session s;
	session_start(&s);
	command(&s, "qSupported:swbreak+");
	CHECK_STR(command(&s, "Z0,1010,1"), "OK");
	CHECK_STR(command(&s, "Z0,1010,1"), "OK"); /* twice: harmless */
	CHECK_INT(s.target.breakpoint_count, 1);
	CHECK_STR(command(&s, "Z0,0,1"), "E01");   /* the target refuses */
	const char *unsupported[] = { "Z1,1010,1", "Z2,1010,4", "Z3,1010,4", "Z4,1010,4", "z2,1010,4" };
	for (int i = 0; i < 5; i++)
		CHECK_STR(command(&s, unsupported[i]), "");
	CHECK_STR(command(&s, "Z0,1010"), "E01");
	CHECK_STR(command(&s, "Z0,zz,1"), "E01");
	CHECK_STR(command(&s, "Z0,1010,1;X"), "E01");
	CHECK_STR(command(&s, "Z"), "E01");

	CHECK_STR(command(&s, "s"), "T05thread:1;");
	CHECK_INT(gdb_x86_64_get(s.target.registers, GDB_X86_64_RIP), 0x1001);
	CHECK_STR(command(&s, "vCont?"), "vCont;c;C;s;S");
	CHECK_STR(command(&s, "vCont;s:1;c"), "T05thread:1;");
	CHECK_STR(command(&s, "vCont;s:p1.1;c"), "T05thread:1;");
	CHECK_STR(command(&s, "S05"), "T05thread:1;");
	CHECK_STR(command(&s, "s1004"), "T05thread:1;"); /* from an address */
	CHECK_INT(gdb_x86_64_get(s.target.registers, GDB_X86_64_RIP), 0x1005);
	CHECK_INT(s.target.steps, 5);
	CHECK_STR(command(&s, "c"), "T05thread:1;swbreak:;");
	CHECK_INT(gdb_x86_64_get(s.target.registers, GDB_X86_64_RIP), 0x1010);
	CHECK_STR(command(&s, "?"), "T05thread:1;swbreak:;");
	CHECK_STR(command(&s, "z0,1010,1"), "OK");
	CHECK_STR(command(&s, "z0,1010,1"), "E01"); /* not there any more */

	/* malformed resumes */
	CHECK_STR(command(&s, "vCont;x"), "E01");
	CHECK_STR(command(&s, "vCont;"), "E01");
	CHECK_STR(command(&s, "vCont"), "");
	CHECK_STR(command(&s, "vCont;C"), "E01");
	CHECK_STR(command(&s, "vCont;s:"), "E01");
	CHECK_STR(command(&s, "vCont;sx"), "E01");
	CHECK_STR(command(&s, "sq"), "E01");
	CHECK_STR(command(&s, "C"), "E01");
	CHECK_STR(command(&s, "C05;"), "E01");
	CHECK_INT(s.target.steps, 5);

	/* thread packets: one thread, number 1 */
	CHECK_STR(command(&s, "Hg0"), "OK");
	CHECK_STR(command(&s, "Hc-1"), "OK");
	CHECK_STR(command(&s, "T1"), "OK");
	CHECK_STR(command(&s, "Tp1.1"), "OK");
	CHECK_STR(command(&s, "T2"), "E01");
	CHECK_STR(command(&s, "T"), "E01");
	CHECK_STR(command(&s, "qC"), "QC1");
	CHECK_STR(command(&s, "qAttached"), "1");
	CHECK_STR(command(&s, "qAttached:1"), "1");
	CHECK_STR(command(&s, "qOffsets"), ""); /* no read_load_offset */

	/* the program ends: W, then nothing left to inspect */
	s.target.exit_status = 3;
	CHECK_STR(command(&s, "vCont;c"), "W03");
	CHECK_STR(command(&s, "?"), "W03");
	CHECK_STR(command(&s, "g"), "E01");
	CHECK_STR(command(&s, "m1000,1"), "E01");
	CHECK_STR(command(&s, "c"), "E01");
	CHECK_STR(command(&s, "vCont;c"), "E01");
	CHECK_INT(s.target.continues, 2);
	/* gdb leaving after the end is the normal end */
	CHECK_INT(session_finish(&s), 0);
	CHECK_STR(s.err.message, "");
}

static void test_swbreak_only_when_gdb_knows_it(void)
{
	struct session s;
	session_start(&s);
	command(&s, "qSupported:multiprocess+");
	CHECK_STR(command(&s, "Z0,1010,1"), "OK");
	CHECK_STR(command(&s, "c"), "T05thread:1;");
	CHECK_INT(session_finish(&s), -ECONNRESET);
}

static void test_target_xml(void)
{
	static char xml[8192], assembled[8192];
	int xml_length = gdb_x86_64_target_xml(xml, sizeof xml);
	CHECK(xml_length > 1000);
	CHECK_INT(gdb_x86_64_target_xml(xml, 100), -ENOSPC);
	CHECK_INT(gdb_x86_64_target_xml(xml, sizeof xml), xml_length);
	CHECK_CONTAINS(xml, "<architecture>i386:x86-64</architecture>");
	CHECK_CONTAINS(xml, "<feature name=\"org.gnu.gdb.i386.avx\">");
	CHECK_CONTAINS(xml, "<reg name=\"ymm15h\" bitsize=\"128\" type=\"uint128\" regnum=\"75\"/>");
	CHECK_CONTAINS(xml, "<reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\" regnum=\"31\"/>");
	CHECK_CONTAINS(xml, "<reg name=\"mxcsr\" bitsize=\"32\" type=\"i386_mxcsr\" regnum=\"56\" group=\"vector\"/>");
	CHECK_CONTAINS(xml, "<reg name=\"orig_rax\" bitsize=\"64\" type=\"int\" regnum=\"57\"/>");
	/* every register, in order */
	const char *at = xml;
	for (unsigned i = 0; i < GDB_X86_64_REGISTER_COUNT; i++) {
		char tag[64];
		snprintf(tag, sizeof tag, "<reg name=\"%s\" bitsize=\"%u\"", gdb_x86_64_register(i)->name,
			 gdb_x86_64_register(i)->size * 8);
		const char *found = strstr(at, tag);
		CHECK(found != NULL);
		if (found)
			at = found;
	}

	struct session s;
	session_start(&s);
	size_t total = 0;
	int pieces = 0;
	for (;;) {
		char request[96];
		snprintf(request, sizeof request, "qXfer:features:read:target.xml:%zx,100", total);
		const char *r = command(&s, request);
		CHECK(r[0] == 'm' || r[0] == 'l');
		size_t n = strlen(r + 1);
		CHECK(n <= 0x100);
		if (total + n < sizeof assembled)
			memcpy(assembled + total, r + 1, n);
		total += n;
		pieces++;
		if (r[0] != 'm' || pieces > 100)
			break;
	}
	CHECK_INT(total, xml_length);
	assembled[total < sizeof assembled ? total : 0] = 0;
	CHECK_STR(assembled, xml);
	CHECK(pieces > 5);
	/* all at once, past the end, and bad requests */
	char request[96];
	snprintf(request, sizeof request, "qXfer:features:read:target.xml:0,%x", GDB_PACKET_MAX);
	CHECK(command(&s, request)[0] == 'l');
	CHECK_INT(strlen(reply + 1), xml_length);
	CHECK_STR(command(&s, "qXfer:features:read:target.xml:ffff,10"), "l");
	CHECK_STR(command(&s, "qXfer:features:read:target.xml:ffffffffffffffff,10"), "E00"); /* wraps */
	CHECK_STR(command(&s, "qXfer:features:read:other.xml:0,10"), "E00");
	CHECK_STR(command(&s, "qXfer:features:read:target.xml:0"), "E00");
	CHECK_STR(command(&s, "qXfer:features:read:target.xml:"), "E00");
	CHECK_STR(command(&s, "qXfer:auxv:read::0,100"), "");
	CHECK_INT(session_finish(&s), -ECONNRESET);
}

static void test_hostile_packets(void)
{
	struct session s;
	session_start(&s);
	/* longer than PacketSize: read to its end, acked, refused */
	size_t huge = GDB_PACKET_MAX + 5000;
	char *big = malloc(huge);
	memset(big, 'M', huge);
	CHECK_STR(command_n(&s, big, huge), "E01");
	/* exactly PacketSize is fine (and meaningless here) */
	CHECK_STR(command_n(&s, big, GDB_PACKET_MAX), "E01");
	free(big);
	CHECK_STR(command(&s, ""), "");
	CHECK_STR(command(&s, "qFooBar"), "");
	CHECK_STR(command(&s, "vFile:open:6a7573742070726f62696e67,0,1c0"), "");
	CHECK_STR(command(&s, "!"), "");
	CHECK_STR(command(&s, "Q"), "");
	CHECK_STR(command(&s, "qSupported:"), "PacketSize=10000;qXfer:features:read+;QStartNoAckMode+;vContSupported+;swbreak+");
	const char nul[] = "m\0\0\0,4";
	CHECK_STR(command_n(&s, nul, sizeof nul - 1), "E01");
	const char nul2[] = "\0g";
	CHECK_STR(command_n(&s, nul2, sizeof nul2 - 1), "");
	CHECK_STR(command(&s, "qSymbol::"), "OK");
	CHECK_INT(strlen(command(&s, "g")), 2 * GDB_X86_64_REGISTERS_SIZE); /* still serving */
	CHECK_INT(session_finish(&s), -ECONNRESET);
}

static void test_disconnect_mid_packet(void)
{
	struct session s;
	session_start(&s);
	send_raw(&s, "$m10", 4);
	CHECK_INT(session_finish(&s), -ECONNRESET);
	CHECK_CONTAINS(s.err.message, "closed the connection");
}

static void test_detach(void)
{
	struct session s;
	session_start(&s);
	CHECK_STR(command(&s, "D"), "OK");
	CHECK_INT(session_wait(&s), 0);
	CHECK(s.target.detached);
	CHECK(!s.target.killed);

	session_start(&s);
	CHECK_STR(command(&s, "D;1"), "OK");
	CHECK_INT(session_wait(&s), 0);
	CHECK(s.target.detached);
}

static void test_kill(void)
{
	struct session s;
	session_start(&s);
	send_frame(&s, "k", 1);
	CHECK_INT(read_byte(&s), '+');
	CHECK_INT(session_wait(&s), 0);
	CHECK(s.target.killed);
	CHECK(!s.target.detached);

	session_start(&s);
	CHECK_STR(command(&s, "vKill;1"), "OK");
	CHECK_INT(session_wait(&s), 0);
	CHECK(s.target.killed);
}

static void test_ctrl_c_during_continue(void)
{
	struct session s;
	session_start(&s);
	s.target.continue_mode = CONTINUE_WAITS_FOR_INTERRUPT;
	send_frame(&s, "c", 1);
	CHECK_INT(read_byte(&s), '+');
	usleep(50 * 1000);
	send_raw(&s, "\x03", 1);
	CHECK(read_packet(&s, reply, sizeof reply) > 0);
	CHECK_STR(reply, "T02thread:1;");
	CHECK(s.target.saw_interrupt);
	/* the interrupt is consumed: the next stop is not an old Ctrl-C */
	CHECK_STR(command(&s, "s"), "T05thread:1;");

	/* Ctrl-C in the same write as the packet, and in no-ack mode */
	s.target.saw_interrupt = false;
	CHECK_STR(command(&s, "QStartNoAckMode"), "OK");
	s.no_ack = true;
	char frame[32];
	int n = gdb_packet_frame("vCont;c", 7, frame, sizeof frame);
	frame[n] = 0x03;
	send_raw(&s, frame, (size_t)n + 1);
	CHECK(read_packet(&s, reply, sizeof reply) > 0);
	CHECK_STR(reply, "T02thread:1;");
	CHECK(s.target.saw_interrupt);
	CHECK_INT(session_finish(&s), -ECONNRESET);

	/* gdb vanishing while the program runs stops it too */
	session_start(&s);
	s.target.continue_mode = CONTINUE_WAITS_FOR_INTERRUPT;
	send_frame(&s, "c", 1);
	CHECK_INT(read_byte(&s), '+');
	usleep(20 * 1000);
	CHECK_INT(session_finish(&s), -ECONNRESET);
	CHECK(s.target.saw_interrupt);
}

/* The same with a resume that blocks and is woken by gdb_interrupt_watch. */
static void test_ctrl_c_with_watcher(void)
{
	struct session s;
	session_start(&s);
	s.target.continue_mode = CONTINUE_WATCHES;
	send_frame(&s, "c", 1);
	CHECK_INT(read_byte(&s), '+');
	usleep(30 * 1000);
	send_raw(&s, "+", 1); /* a stray byte wakes it, but is no Ctrl-C: it runs on */
	usleep(30 * 1000);
	send_raw(&s, "\x03", 1);
	CHECK(read_packet(&s, reply, sizeof reply) > 0);
	CHECK_STR(reply, "T02thread:1;");
	CHECK_INT(s.target.wakeups, 2);
	CHECK_INT(s.target.spurious_wakeups, 1);

	/* Ctrl-C already buffered with the packet: watch says 1, no thread */
	s.target.wakeups = 0;
	char frame[32];
	int n = gdb_packet_frame("c", 1, frame, sizeof frame);
	frame[n] = 0x03;
	send_raw(&s, frame, (size_t)n + 1);
	CHECK_INT(read_byte(&s), '+');
	CHECK(read_packet(&s, reply, sizeof reply) > 0);
	CHECK_STR(reply, "T02thread:1;");
	CHECK_INT(s.target.wakeups, 1);

	/* gdb hanging up wakes it too */
	send_frame(&s, "c", 1);
	CHECK_INT(read_byte(&s), '+');
	usleep(20 * 1000);
	CHECK_INT(session_finish(&s), -ECONNRESET);
	CHECK_INT(s.target.spurious_wakeups, 1);

	/* without a connection there is nothing to watch */
	CHECK_INT(gdb_interrupt_watch(NULL, fake_kick, NULL), 0);
	gdb_interrupt_unwatch(NULL);
}

/* The lower layer without a connection, and create's checks. */
static void test_direct_handle(void)
{
	struct gdb_stub *stub;
	struct tkvm_error err = { 0 };
	struct gdb_target_ops incomplete = fake_ops;
	incomplete.resume = NULL;
	CHECK_INT(gdb_stub_create(&stub, &incomplete, NULL, NULL, &err), -EINVAL);
	CHECK(stub == NULL);
	CHECK_CONTAINS(err.message, "resume");

	static struct fake_target t;
	fake_init(&t);
	struct gdb_stop initial = { .signal = GDB_SIGNAL_SEGV };
	CHECK_INT(gdb_stub_create(&stub, &fake_ops, &t, &initial, &err), 0);
	const char *r;
	size_t n;
	CHECK_INT(gdb_stub_handle(stub, "?", 1, &r, &n), GDB_STUB_REPLY);
	CHECK_STR(r, "T0bthread:1;");
	CHECK_INT(n, strlen(r));
	CHECK_INT(gdb_stub_handle(stub, "QStartNoAckMode", 15, &r, &n), GDB_STUB_REPLY_THEN_NO_ACK);
	CHECK_INT(gdb_stub_handle(stub, "k", 1, &r, &n), GDB_STUB_END);
	CHECK_INT(gdb_stub_handle(stub, "D", 1, &r, &n), GDB_STUB_REPLY_THEN_END);
	char *big = calloc(1, GDB_PACKET_MAX + 2);
	CHECK_INT(gdb_stub_handle(stub, big, GDB_PACKET_MAX + 1, &r, &n), GDB_STUB_REPLY);
	CHECK_STR(r, "E01");
	free(big);
	/* without a connection resume gets NULL, which never asks to stop */
	CHECK(!gdb_interrupt_requested(NULL));
	CHECK_INT(gdb_interrupt_fd(NULL), -1);
	gdb_stub_destroy(stub);

	/* without single-register ops and breakpoints */
	struct gdb_target_ops minimal = { .read_registers = fake_read_registers, .write_registers = fake_write_registers,
					  .read_memory = fake_read_memory, .write_memory = fake_write_memory,
					  .resume = fake_resume };
	fake_init(&t);
	CHECK_INT(gdb_stub_create(&stub, &minimal, &t, NULL, &err), 0);
	gdb_stub_handle(stub, "p10", 3, &r, &n);
	CHECK_STR(r, "0010000000000000");
	gdb_stub_handle(stub, "P0=0100000000000000", 19, &r, &n);
	CHECK_STR(r, "OK");
	CHECK_INT(gdb_x86_64_get(t.registers, GDB_X86_64_RAX), 1);
	gdb_stub_handle(stub, "Z0,1000,1", 9, &r, &n);
	CHECK_STR(r, ""); /* gdb writes int3 itself then */
	gdb_stub_handle(stub, "qOffsets", 8, &r, &n);
	CHECK_STR(r, "");
	gdb_stub_handle(stub, "c1000", 5, &r, &n);
	CHECK_STR(r, "W00");
	gdb_stub_destroy(stub);

	/* a resume that fails (gdb: "Remote failure reply", still stopped), then a
	 * program killed by a signal: X, and nothing left to inspect; qOffsets */
	struct gdb_target_ops with_offset = fake_ops;
	with_offset.read_load_offset = fake_load_offset;
	fake_init(&t);
	CHECK_INT(gdb_stub_create(&stub, &with_offset, &t, NULL, &err), 0);
	gdb_stub_handle(stub, "qOffsets", 8, &r, &n);
	CHECK_STR(r, "Text=555555554000;Data=555555554000;Bss=555555554000");
	t.continue_mode = CONTINUE_FAILS;
	gdb_stub_handle(stub, "c", 1, &r, &n);
	CHECK_STR(r, "E01");
	gdb_stub_handle(stub, "?", 1, &r, &n);
	CHECK_STR(r, "T05thread:1;");
	t.continue_mode = CONTINUE_CRASHES;
	gdb_stub_handle(stub, "vCont;c:-1", 10, &r, &n);
	CHECK_STR(r, "X0b");
	gdb_stub_handle(stub, "p0", 2, &r, &n);
	CHECK_STR(r, "E01");
	gdb_stub_handle(stub, "T1", 2, &r, &n);
	CHECK_STR(r, "E01");
	CHECK_INT(gdb_stub_handle(stub, "k", 1, &r, &n), GDB_STUB_END);
	CHECK(!t.killed); /* nothing left to kill */
	gdb_stub_destroy(stub);
}

/* ---- register layout and XSAVE ---- */

static void test_register_layout(void)
{
	unsigned offset = 0;
	for (unsigned i = 0; i < GDB_X86_64_REGISTER_COUNT; i++) {
		const struct gdb_x86_64_register_info *r = gdb_x86_64_register(i);
		CHECK(r != NULL);
		if (!r)
			continue;
		CHECK_INT(r->offset, offset);
		CHECK(r->size <= GDB_X86_64_REGISTER_MAX_SIZE);
		offset += r->size;
	}
	CHECK_INT(offset, GDB_X86_64_REGISTERS_SIZE);
	CHECK(gdb_x86_64_register(GDB_X86_64_REGISTER_COUNT) == NULL);
	CHECK_STR(gdb_x86_64_register(GDB_X86_64_RBP)->name, "rbp");
	CHECK_STR(gdb_x86_64_register(GDB_X86_64_FS_BASE)->name, "fs_base");
	CHECK_STR(gdb_x86_64_register(GDB_X86_64_YMM0H + 15)->name, "ymm15h");
	CHECK_INT(GDB_X86_64_MXCSR, 56);

	uint8_t regs[GDB_X86_64_REGISTERS_SIZE] = { 0 };
	gdb_x86_64_set(regs, GDB_X86_64_EFLAGS, 0x1234567890ull); /* 32 bits kept */
	CHECK_INT(gdb_x86_64_get(regs, GDB_X86_64_EFLAGS), 0x34567890);
	CHECK_INT(gdb_x86_64_get(regs, GDB_X86_64_CS), 0);
	gdb_x86_64_set(regs, GDB_X86_64_XMM0, 1); /* too wide: ignored */
	gdb_x86_64_set(regs, 999, 1);
	CHECK_INT(gdb_x86_64_get(regs, 999), 0);
	for (size_t i = 0; i < sizeof regs; i++)
		if (i < 136 || i >= 140)
			CHECK_INT(regs[i], 0);
}

static void test_xsave(void)
{
	static uint8_t xsave[4096], regs[GDB_X86_64_REGISTERS_SIZE], back[4096];
	memset(xsave, 0, sizeof xsave);
	CHECK_INT(gdb_x86_64_from_xsave(regs, xsave, 100), -EINVAL);
	CHECK_INT(gdb_x86_64_to_xsave(regs, xsave, GDB_X86_64_XSAVE_MIN_SIZE - 1), -EINVAL);

	/* all components in their init state */
	memset(regs, 0xee, sizeof regs);
	CHECK_INT(gdb_x86_64_from_xsave(regs, xsave, sizeof xsave), 0);
	CHECK_INT(gdb_x86_64_get(regs, GDB_X86_64_FCTRL), 0x37f);
	CHECK_INT(gdb_x86_64_get(regs, GDB_X86_64_FTAG), 0xffff);
	CHECK_INT(regs[gdb_x86_64_register(GDB_X86_64_XMM0 + 3)->offset], 0);
	CHECK_INT(regs[gdb_x86_64_register(GDB_X86_64_YMM0H + 3)->offset], 0);
	CHECK_INT(regs[0], 0xee); /* general registers untouched */

	/* after fld1 and some SSE/AVX values */
	xsave[0] = 0x7f, xsave[1] = 0x03;    /* FCW */
	xsave[3] = 0x38;                     /* FSW: TOP = 7 */
	xsave[4] = 0x80;                     /* abridged: physical 7 in use */
	xsave[6] = 0x2b, xsave[7] = 0x05;    /* FOP 0x52b */
	for (int i = 0; i < 8; i++)
		xsave[8 + i] = (uint8_t)(0x11 * (i + 1)); /* FIP */
	xsave[24] = 0x80, xsave[25] = 0x1f; /* MXCSR */
	xsave[28] = 0xff, xsave[29] = 0xff; /* MXCSR_MASK */
	xsave[32 + 7] = 0x80, xsave[32 + 8] = 0xff, xsave[32 + 9] = 0x3f; /* ST0 = 1.0 */
	for (int i = 0; i < 16; i++) {
		xsave[160 + 16 * 2 + i] = (uint8_t)(0xa0 + i); /* xmm2 */
		xsave[576 + 16 * 2 + i] = (uint8_t)(0xb0 + i); /* ymm2h */
	}
	xsave[512] = 7; /* x87 | SSE | AVX */
	CHECK_INT(gdb_x86_64_from_xsave(regs, xsave, sizeof xsave), 0);
	CHECK_INT(gdb_x86_64_get(regs, GDB_X86_64_FTAG), 0x3fff);
	CHECK_INT(gdb_x86_64_get(regs, GDB_X86_64_FSTAT), 0x3800);
	CHECK_INT(gdb_x86_64_get(regs, GDB_X86_64_FOP), 0x52b);
	CHECK_INT(gdb_x86_64_get(regs, GDB_X86_64_FIOFF), 0x44332211);
	CHECK_INT(gdb_x86_64_get(regs, GDB_X86_64_FISEG), 0x88776655);
	CHECK_INT(gdb_x86_64_get(regs, GDB_X86_64_MXCSR), 0x1f80);
	CHECK(memcmp(regs + gdb_x86_64_register(GDB_X86_64_ST0)->offset, xsave + 32, 10) == 0);
	CHECK(memcmp(regs + gdb_x86_64_register(GDB_X86_64_XMM0 + 2)->offset, xsave + 160 + 32, 16) == 0);
	CHECK(memcmp(regs + gdb_x86_64_register(GDB_X86_64_YMM0H + 2)->offset, xsave + 576 + 32, 16) == 0);

	/* special values: a zero is tag 1, a NaN tag 2 */
	memcpy(back, xsave, sizeof back);
	back[4] = 0xc0; /* physical 6 (= ST7 with TOP 7) in use too */
	memset(back + 32 + 16 * 7, 0, 10);
	CHECK_INT(gdb_x86_64_from_xsave(regs, back, sizeof back), 0);
	CHECK_INT(gdb_x86_64_get(regs, GDB_X86_64_FTAG), 0x1fff);
	back[32 + 16 * 7 + 9] = 0x7f, back[32 + 16 * 7 + 8] = 0xff;
	CHECK_INT(gdb_x86_64_from_xsave(regs, back, sizeof back), 0);
	CHECK_INT(gdb_x86_64_get(regs, GDB_X86_64_FTAG), 0x2fff);
	CHECK_INT(gdb_x86_64_from_xsave(regs, xsave, sizeof xsave), 0);

	/* round trip */
	memcpy(back, xsave, sizeof back);
	/* scribble over what to_xsave writes (not byte 5, reserved, nor MXCSR_MASK) */
	memset(back, 0x5a, 5);
	memset(back + 6, 0x5a, 22);
	memset(back + 32, 0x5a, 416 - 32);
	CHECK_INT(gdb_x86_64_to_xsave(regs, back, sizeof back), 0);
	CHECK(memcmp(back, xsave, 512) == 0);
	CHECK(memcmp(back + 512, xsave + 512, 8) == 0);
	CHECK(memcmp(back + 576, xsave + 576, 256) == 0);

	/* MXCSR is masked; AVX only marked present when used */
	memset(xsave, 0, sizeof xsave);
	xsave[28] = 0xff, xsave[29] = 0xff;
	memset(regs, 0, sizeof regs);
	gdb_x86_64_set(regs, GDB_X86_64_MXCSR, 0xffffffff);
	gdb_x86_64_set(regs, GDB_X86_64_FTAG, 0xffff);
	CHECK_INT(gdb_x86_64_to_xsave(regs, xsave, sizeof xsave), 0);
	CHECK_INT(xsave[512], 3);
	CHECK_INT(xsave[4], 0);
	CHECK(xsave[24] == 0xff && xsave[25] == 0xff && xsave[26] == 0 && xsave[27] == 0);
	regs[gdb_x86_64_register(GDB_X86_64_YMM0H + 15)->offset + 15] = 1;
	CHECK_INT(gdb_x86_64_to_xsave(regs, xsave, sizeof xsave), 0);
	CHECK_INT(xsave[512], 7);
	CHECK_INT(xsave[576 + 255], 1);
	xsave[28] = xsave[29] = 0; /* no mask given: the architectural default */
	CHECK_INT(gdb_x86_64_to_xsave(regs, xsave, sizeof xsave), 0);
	CHECK(xsave[24] == 0xbf && xsave[25] == 0xff);
}

/* ---- sockets ---- */

static void test_listen_and_accept(void)
{
	struct tkvm_error err = { 0 };
	int listen_fd, port = 0, fd;
	CHECK_INT(gdb_stub_listen(NULL, 0, &listen_fd, &port, &err), 0);
	CHECK(port > 0);
	CHECK_INT(gdb_stub_accept(listen_fd, 10, &fd, &err), -ETIMEDOUT);
	CHECK_CONTAINS(err.message, "did not connect");
	int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				       .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CHECK_INT(connect(client, (struct sockaddr *)&address, sizeof address), 0);
	CHECK_INT(gdb_stub_accept(listen_fd, 5000, &fd, &err), 0);
	CHECK(fd >= 0);
	/* the same port again is taken */
	int second;
	CHECK(gdb_stub_listen("127.0.0.1", port, &second, NULL, &err) < 0);
	CHECK_CONTAINS(err.message, "cannot listen");
	close(client);
	close(fd);
	close(listen_fd);
	CHECK_INT(gdb_stub_listen(NULL, 70000, &listen_fd, NULL, &err), -EINVAL);
	CHECK(gdb_stub_listen("no such host.invalid", 0, &listen_fd, NULL, &err) < 0);
	CHECK_INT(listen_fd, -1);
}

/* ---- a real gdb ---- */

struct tcp_session {
	int listen_fd;
	int rc;
	struct tkvm_error err;
	struct fake_target target;
};

static void *tcp_serve_thread(void *arg)
{
	struct tcp_session *t = arg;
	int fd;
	t->rc = gdb_stub_accept(t->listen_fd, 30000, &fd, &t->err);
	if (t->rc == 0) {
		t->rc = gdb_stub_serve(fd, &fake_ops, &t->target, NULL, &t->err);
		close(fd);
	}
	return NULL;
}

static bool have_gdb(void)
{
	return system("gdb --version >/dev/null 2>&1") == 0;
}

/* Runs argv with stdout+stderr into out; kills it after timeout_s. */
static int run_with_timeout(char *const argv[], char *out, size_t out_size, int timeout_s)
{
	int pipe_fds[2];
	if (pipe2(pipe_fds, O_CLOEXEC) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipe_fds[1], 1);
		dup2(pipe_fds[1], 2);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipe_fds[1]);
	size_t used = 0;
	time_t deadline = time(NULL) + timeout_s;
	for (;;) {
		struct pollfd pfd = { .fd = pipe_fds[0], .events = POLLIN };
		int ready = poll(&pfd, 1, 1000);
		if (ready > 0) {
			ssize_t n = read(pipe_fds[0], out + used, out_size - 1 - used);
			if (n <= 0)
				break;
			used += (size_t)n;
			if (used == out_size - 1)
				break;
		}
		if (time(NULL) > deadline) {
			kill(pid, SIGKILL);
			break;
		}
	}
	out[used] = 0;
	close(pipe_fds[0]);
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_real_gdb(void)
{
	static struct tcp_session t;
	memset(&t, 0, sizeof t);
	fake_init(&t.target);
	int port = 0;
	CHECK_INT(gdb_stub_listen("127.0.0.1", 0, &t.listen_fd, &port, &t.err), 0);
	pthread_t thread;
	CHECK_INT(pthread_create(&thread, NULL, tcp_serve_thread, &t), 0);

	char target[64];
	snprintf(target, sizeof target, "target remote 127.0.0.1:%d", port);
	char *argv[] = {
		"gdb", "-batch", "-nx",
		"-ex", target,
		"-ex", "info registers rip",
		"-ex", "x/4xb 0x1000",
		"-ex", "set {char}0x1000 = 1",
		"-ex", "x/1xb 0x1000",
		"-ex", "stepi",
		"-ex", "info registers rip",
		"-ex", "p/x $rax",
		"-ex", "p $st0",
		"-ex", "info registers mxcsr",
		"-ex", "p $xmm1.v4_int32",
		"-ex", "p $ymm1.v8_int32",
		"-ex", "p/x $fs_base",
		"-ex", "set $rbx = 0x77",
		"-ex", "break *0x1010",
		"-ex", "continue",
		"-ex", "info registers rip",
		"-ex", "detach",
		NULL,
	};
	static char out[65536];
	int status = run_with_timeout(argv, out, sizeof out, 60);
	pthread_join(thread, NULL);
	close(t.listen_fd);

	CHECK_INT(status, 0);
	CHECK_INT(t.rc, 0);
	CHECK_STR(t.err.message, "");
	CHECK_CONTAINS(out, "rip            0x1000");
	CHECK_CONTAINS(out, "0x1000:\t0x55\t0x48\t0x89\t0xe5");
	CHECK_CONTAINS(out, "0x1000:\t0x01");
	CHECK_INT(t.target.memory[0], 1);
	CHECK_CONTAINS(out, "0x0000000000001001 in ?? ()");
	CHECK_CONTAINS(out, "rip            0x1001");
	CHECK_CONTAINS(out, "= 0x1122334455667788");
	CHECK_CONTAINS(out, "= 1\n");
	CHECK_CONTAINS(out, "[ IM DM ZM OM UM PM ]");
	CHECK_CONTAINS(out, "= {1, 2, 3, 4}");
	CHECK_CONTAINS(out, "= {1, 2, 3, 4, 5, 6, 7, 8}");
	CHECK_CONTAINS(out, "= 0x7000");
	CHECK_INT(gdb_x86_64_get(t.target.registers, GDB_X86_64_RBX), 0x77);
	CHECK_CONTAINS(out, "Breakpoint 1, 0x0000000000001010 in ?? ()");
	CHECK_CONTAINS(out, "rip            0x1010");
	CHECK_CONTAINS(out, "[Inferior 1 (Remote target) detached]");
	CHECK(t.target.detached);
	CHECK_INT(t.target.breakpoint_count, 0); /* gdb took its breakpoint out */
	if (tap_current_failed)
		printf("# gdb said:\n%s\n", out);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	TEST(test_parser_events);
	TEST(test_frame_and_escapes);
	TEST(test_ack_and_checksums);
	TEST(test_retransmit_limit);
	TEST(test_no_ack_mode);
	TEST(test_registers);
	TEST(test_memory);
	TEST(test_breakpoints_and_stops);
	TEST(test_swbreak_only_when_gdb_knows_it);
	TEST(test_target_xml);
	TEST(test_hostile_packets);
	TEST(test_disconnect_mid_packet);
	TEST(test_detach);
	TEST(test_kill);
	TEST(test_ctrl_c_during_continue);
	TEST(test_ctrl_c_with_watcher);
	TEST(test_direct_handle);
	TEST(test_register_layout);
	TEST(test_xsave);
	TEST(test_listen_and_accept);
	if (have_gdb())
		TEST(test_real_gdb);
	else
		SKIP("test_real_gdb", "gdb is not installed");
	return tap_exit_code();
}
