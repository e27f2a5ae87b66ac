/* The GDB remote protocol for one x86-64 thread (see gdb_stub.h): packet
 * dispatch, every argument parsed with bounds and checked before the target
 * sees it, stop replies, and the serve loop over a gdb_connection.
 * Invariants: a reply never exceeds GDB_PACKET_MAX bytes; memory is fixed
 * at gdb_stub_create (only gdb_interrupt_watch starts a thread, for the
 * length of one resume). */
#include "runner/gdb_stub.h"
#include "runner/gdb_packet.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The largest m request: its hex reply fills a whole packet. */
#define MEMORY_MAX (GDB_PACKET_MAX / 2)
#define PAGE_SIZE_BYTES 4096u
#define TARGET_XML_MAX 8192

struct gdb_interrupt {
	struct gdb_connection *connection;
	bool watching;
	pthread_t watcher;
	int wake_fds[2]; /* a pipe: unwatch writes to end the watcher */
	void (*on_input)(void *arg);
	void *arg;
};

struct gdb_stub {
	const struct gdb_target_ops *ops;
	void *target;
	struct gdb_stop last_stop;
	bool ended;           /* the program exited or was terminated: nothing left to inspect */
	bool gdb_has_swbreak; /* gdb said swbreak+ in qSupported */
	struct gdb_interrupt interrupt;
	size_t xml_length;
	size_t reply_length;
	char xml[TARGET_XML_MAX];
	char packet[GDB_PACKET_MAX + 1]; /* our copy: resume may read the connection meanwhile */
	char reply[GDB_PACKET_MAX + 1];
	uint8_t registers[GDB_X86_64_REGISTERS_SIZE];
	uint8_t memory[MEMORY_MAX];
	struct gdb_connection connection; /* used by gdb_stub_serve only */
};

bool gdb_interrupt_requested(struct gdb_interrupt *interrupt)
{
	if (!interrupt || !interrupt->connection)
		return false;
	return gdb_connection_poll_interrupt(interrupt->connection);
}

int gdb_interrupt_fd(const struct gdb_interrupt *interrupt)
{
	if (!interrupt || !interrupt->connection)
		return -1;
	return interrupt->connection->fd;
}

static void *watch_connection(void *context)
{
	struct gdb_interrupt *interrupt = context;
	struct pollfd fds[2] = {
		{ .fd = interrupt->connection->fd, .events = POLLIN },
		{ .fd = interrupt->wake_fds[0], .events = POLLIN },
	};
	for (;;) {
		int ready = poll(fds, 2, -1);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0 || fds[1].revents)
			return NULL;
		if (fds[0].revents) {
			interrupt->on_input(interrupt->arg);
			return NULL;
		}
	}
}

int gdb_interrupt_watch(struct gdb_interrupt *interrupt, void (*on_input)(void *arg), void *arg)
{
	if (!interrupt || !interrupt->connection || interrupt->connection->fd < 0)
		return 0;
	if (interrupt->watching || !on_input)
		return -EINVAL;
	/* Drains what is already buffered: a Ctrl-C that came with the resume
	 * packet would never wake a poll() on the fd. */
	if (gdb_connection_poll_interrupt(interrupt->connection))
		return 1;
	if (pipe2(interrupt->wake_fds, O_CLOEXEC) != 0)
		return -errno;
	interrupt->on_input = on_input;
	interrupt->arg = arg;
	int rc = pthread_create(&interrupt->watcher, NULL, watch_connection, interrupt);
	if (rc != 0) {
		close(interrupt->wake_fds[0]);
		close(interrupt->wake_fds[1]);
		return -rc;
	}
	interrupt->watching = true;
	return 0;
}

void gdb_interrupt_unwatch(struct gdb_interrupt *interrupt)
{
	if (!interrupt || !interrupt->watching)
		return;
	ssize_t written;
	do
		written = write(interrupt->wake_fds[1], "x", 1);
	while (written < 0 && errno == EINTR);
	pthread_join(interrupt->watcher, NULL);
	close(interrupt->wake_fds[0]);
	close(interrupt->wake_fds[1]);
	interrupt->watching = false;
}

/* ---- replies ---- */

static const char hex_digits[] = "0123456789abcdef";

static void reply_text(struct gdb_stub *stub, const char *text)
{
	size_t length = strlen(text);
	memcpy(stub->reply, text, length + 1);
	stub->reply_length = length;
}

static void reply_format(struct gdb_stub *stub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_format(struct gdb_stub *stub, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(stub->reply, sizeof stub->reply, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof stub->reply)
		n = 0; /* cannot happen with our short formats; never send a truncated reply */
	stub->reply[n] = 0;
	stub->reply_length = (size_t)n;
}

static void reply_error(struct gdb_stub *stub)
{
	reply_text(stub, "E01");
}

static void reply_ok(struct gdb_stub *stub)
{
	reply_text(stub, "OK");
}

static void reply_empty(struct gdb_stub *stub)
{
	reply_text(stub, "");
}

/* Callers keep 2 * length <= GDB_PACKET_MAX. */
static void reply_hex(struct gdb_stub *stub, const uint8_t *bytes, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		stub->reply[2 * i] = hex_digits[bytes[i] >> 4];
		stub->reply[2 * i + 1] = hex_digits[bytes[i] & 15];
	}
	stub->reply[2 * length] = 0;
	stub->reply_length = 2 * length;
}

static void reply_stop(struct gdb_stub *stub)
{
	const struct gdb_stop *stop = &stub->last_stop;
	if (stop->exited)
		reply_format(stub, "W%02x", (unsigned)stop->exit_status & 0xff);
	else if (stop->terminated)
		reply_format(stub, "X%02x", (unsigned)stop->signal & 0xff);
	else
		reply_format(stub, "T%02xthread:1;%s", (unsigned)stop->signal & 0xff,
			     stop->breakpoint && stub->gdb_has_swbreak ? "swbreak:;" : "");
}

/* ---- parsing: a cursor over the packet, never past its end ---- */

struct cursor {
	const char *at, *end;
};


static bool at_end(const struct cursor *c)
{
	return c->at >= c->end;
}

static bool take_char(struct cursor *c, char expected)
{
	if (at_end(c) || *c->at != expected)
		return false;
	c->at++;
	return true;
}

/* One or more hex digits as a number; false on none or on overflow. */
static bool take_hex(struct cursor *c, uint64_t *value)
{
	uint64_t v = 0;
	const char *start = c->at;
	while (!at_end(c) && gdb_hex_value((unsigned char)*c->at) >= 0) {
		if (v >> 60)
			return false;
		v = v << 4 | (uint64_t)gdb_hex_value((unsigned char)*c->at);
		c->at++;
	}
	*value = v;
	return c->at > start;
}

/* Exactly 2 * length hex digits into bytes. */
static bool decode_hex(const char *text, size_t text_length, uint8_t *bytes, size_t length)
{
	if (text_length != 2 * length)
		return false;
	for (size_t i = 0; i < length; i++) {
		int high = gdb_hex_value((unsigned char)text[2 * i]), low = gdb_hex_value((unsigned char)text[2 * i + 1]);
		if (high < 0 || low < 0)
			return false;
		bytes[i] = (uint8_t)(high << 4 | low);
	}
	return true;
}

/* "addr,length" as used by m, M, X, qXfer; the range must not wrap. */
static bool take_range(struct cursor *c, uint64_t *address, uint64_t *length)
{
	if (!take_hex(c, address) || !take_char(c, ',') || !take_hex(c, length))
		return false;
	return *length == 0 || *length - 1 <= UINT64_MAX - *address;
}

static bool equals(const char *packet, size_t length, const char *word)
{
	size_t n = strlen(word);
	return length == n && memcmp(packet, word, n) == 0;
}

static bool starts_with(const char *packet, size_t length, const char *prefix)
{
	size_t n = strlen(prefix);
	return length >= n && memcmp(packet, prefix, n) == 0;
}

/* A thread id as gdb writes it: hex, "-1" (all), or "p<pid>.<tid>". */
static bool take_thread_id(struct cursor *c, int64_t *id)
{
	uint64_t value;
	if (take_char(c, '-')) {
		if (!take_char(c, '1'))
			return false;
		*id = -1;
		return true;
	}
	if (take_char(c, 'p')) {
		if (!take_hex(c, &value) || !take_char(c, '.'))
			return false;
		if (take_char(c, '-')) {
			*id = -1;
			return take_char(c, '1');
		}
	}
	if (!take_hex(c, &value))
		return false;
	*id = value > INT64_MAX ? INT64_MAX : (int64_t)value;
	return true;
}

/* ---- registers ---- */

static int read_one_register(struct gdb_stub *stub, unsigned regno, uint8_t *buf, size_t size)
{
	if (stub->ops->read_register)
		return stub->ops->read_register(stub->target, regno, buf, size);
	int rc = stub->ops->read_registers(stub->target, stub->registers, sizeof stub->registers);
	if (rc == 0)
		memcpy(buf, stub->registers + gdb_x86_64_register(regno)->offset, size);
	return rc;
}

static int write_one_register(struct gdb_stub *stub, unsigned regno, const uint8_t *buf, size_t size)
{
	if (stub->ops->write_register)
		return stub->ops->write_register(stub->target, regno, buf, size);
	int rc = stub->ops->read_registers(stub->target, stub->registers, sizeof stub->registers);
	if (rc < 0)
		return rc;
	memcpy(stub->registers + gdb_x86_64_register(regno)->offset, buf, size);
	return stub->ops->write_registers(stub->target, stub->registers, sizeof stub->registers);
}

static void handle_read_registers(struct gdb_stub *stub, size_t length)
{
	if (length != 1 || stub->ops->read_registers(stub->target, stub->registers, sizeof stub->registers) < 0)
		return reply_error(stub);
	reply_hex(stub, stub->registers, sizeof stub->registers);
}

static void handle_write_registers(struct gdb_stub *stub, const char *packet, size_t length)
{
	/* gdb sends back exactly what g gave it: all registers. */
	if (!decode_hex(packet + 1, length - 1, stub->registers, sizeof stub->registers) ||
	    stub->ops->write_registers(stub->target, stub->registers, sizeof stub->registers) < 0)
		return reply_error(stub);
	reply_ok(stub);
}

/* "p n" and "P n=value". */
static void handle_register(struct gdb_stub *stub, const char *packet, size_t length)
{
	struct cursor c = { packet + 1, packet + length };
	uint64_t regno;
	if (!take_hex(&c, &regno) || regno >= GDB_X86_64_REGISTER_COUNT)
		return reply_error(stub);
	const struct gdb_x86_64_register_info *info = gdb_x86_64_register((unsigned)regno);
	uint8_t value[GDB_X86_64_REGISTER_MAX_SIZE];
	if (packet[0] == 'p') {
		if (!at_end(&c) || read_one_register(stub, (unsigned)regno, value, info->size) < 0)
			return reply_error(stub);
		return reply_hex(stub, value, info->size);
	}
	if (!take_char(&c, '=') || !decode_hex(c.at, (size_t)(c.end - c.at), value, info->size) ||
	    write_one_register(stub, (unsigned)regno, value, info->size) < 0)
		return reply_error(stub);
	reply_ok(stub);
}

/* ---- memory ---- */

/* Reads as much of [address, address + length) as is mapped from the start,
 * page by page after the whole read failed. Returns the bytes read. */
static size_t read_memory_prefix(struct gdb_stub *stub, uint64_t address, size_t length)
{
	if (stub->ops->read_memory(stub->target, address, stub->memory, length) == 0)
		return length;
	size_t done = 0;
	while (done < length) {
		uint64_t at = address + done;
		size_t chunk = PAGE_SIZE_BYTES - (size_t)(at % PAGE_SIZE_BYTES);
		if (chunk > length - done)
			chunk = length - done;
		if (stub->ops->read_memory(stub->target, at, stub->memory + done, chunk) < 0)
			break;
		done += chunk;
	}
	return done;
}

static void handle_read_memory(struct gdb_stub *stub, const char *packet, size_t length)
{
	struct cursor c = { packet + 1, packet + length };
	uint64_t address, size;
	if (!take_range(&c, &address, &size) || !at_end(&c) || size > MEMORY_MAX)
		return reply_error(stub);
	if (size == 0)
		return reply_empty(stub);
	size_t got = read_memory_prefix(stub, address, (size_t)size);
	if (got == 0)
		return reply_error(stub);
	reply_hex(stub, stub->memory, got);
}

/* "M addr,length:hex" and "X addr,length:binary". packet is our own copy:
 * X data is unescaped in place. */
static void handle_write_memory(struct gdb_stub *stub, char *packet, size_t length)
{
	struct cursor c = { packet + 1, packet + length };
	uint64_t address, size;
	if (!take_range(&c, &address, &size) || !take_char(&c, ':') || size > GDB_PACKET_MAX)
		return reply_error(stub);
	size_t data_length = (size_t)(c.end - c.at);
	const uint8_t *data;
	if (packet[0] == 'M') {
		if (size > MEMORY_MAX || !decode_hex(c.at, data_length, stub->memory, (size_t)size))
			return reply_error(stub);
		data = stub->memory;
	} else {
		uint8_t *binary = (uint8_t *)packet + (c.at - packet);
		int unescaped = gdb_packet_unescape(binary, data_length);
		if (unescaped < 0 || (uint64_t)unescaped != size)
			return reply_error(stub);
		data = binary;
	}
	/* X with length 0 is gdb probing whether X works. */
	if (size > 0 && stub->ops->write_memory(stub->target, address, data, (size_t)size) < 0)
		return reply_error(stub);
	reply_ok(stub);
}

/* "Z0,addr,kind" / "z0,addr,kind". Types 1-4 (hardware breakpoints and
 * watchpoints) do not work under KVM here: an empty reply makes gdb use
 * software breakpoints and single-stepping watchpoints instead. */
static void handle_breakpoint(struct gdb_stub *stub, const char *packet, size_t length)
{
	struct cursor c = { packet + 1, packet + length };
	uint64_t type, address, kind;
	if (!take_hex(&c, &type) || !take_char(&c, ','))
		return reply_error(stub);
	if (type != 0 || !stub->ops->insert_breakpoint || !stub->ops->remove_breakpoint)
		return reply_empty(stub);
	if (!take_hex(&c, &address) || !take_char(&c, ',') || !take_hex(&c, &kind) || !at_end(&c))
		return reply_error(stub);
	int rc = packet[0] == 'Z' ? stub->ops->insert_breakpoint(stub->target, address)
				  : stub->ops->remove_breakpoint(stub->target, address);
	if (rc < 0)
		return reply_error(stub);
	reply_ok(stub);
}

/* ---- running ---- */

static void resume(struct gdb_stub *stub, bool step, bool has_address, uint64_t address)
{
	if (has_address) {
		uint8_t rip[8];
		for (unsigned i = 0; i < 8; i++)
			rip[i] = (uint8_t)(address >> (8 * i));
		if (write_one_register(stub, GDB_X86_64_RIP, rip, sizeof rip) < 0)
			return reply_error(stub);
	}
	struct gdb_interrupt *interrupt = NULL;
	if (stub->interrupt.connection) {
		gdb_connection_clear_interrupt(stub->interrupt.connection);
		interrupt = &stub->interrupt;
	}
	struct gdb_stop stop = { .signal = GDB_SIGNAL_TRAP };
	int rc = stub->ops->resume(stub->target, step, interrupt, &stop);
	gdb_interrupt_unwatch(interrupt); /* in case the target left it running */
	if (rc < 0)
		return reply_error(stub); /* gdb warns and takes the target as stopped */
	stop.signal &= 0xff;
	stub->last_stop = stop;
	stub->ended = stop.exited || stop.terminated;
	reply_stop(stub);
}

/* "c[addr]", "s[addr]", "Csig[;addr]", "Ssig[;addr]": signals are not
 * delivered in the sandbox and are dropped. */
static void handle_resume(struct gdb_stub *stub, const char *packet, size_t length)
{
	struct cursor c = { packet + 1, packet + length };
	char command = packet[0];
	uint64_t value, address = 0;
	if (command == 'C' || command == 'S') {
		if (!take_hex(&c, &value) || (!at_end(&c) && !take_char(&c, ';')))
			return reply_error(stub);
		if (c.at == c.end && c.at[-1] == ';')
			return reply_error(stub);
	}
	bool has_address = !at_end(&c);
	if (has_address && (!take_hex(&c, &address) || !at_end(&c)))
		return reply_error(stub);
	resume(stub, command == 's' || command == 'S', has_address, address);
}

/* "vCont;action[:thread];action..." with one thread: the first action is
 * the one for it (gdb lists specific threads before the default). */
static void handle_vcont(struct gdb_stub *stub, const char *packet, size_t length)
{
	struct cursor c = { packet + 5, packet + length };
	if (!take_char(&c, ';') || at_end(&c))
		return reply_error(stub);
	char action = *c.at++;
	uint64_t signal;
	int64_t thread;
	if (action != 'c' && action != 's' && action != 'C' && action != 'S')
		return reply_error(stub);
	if ((action == 'C' || action == 'S') && !take_hex(&c, &signal))
		return reply_error(stub);
	if (take_char(&c, ':') && !take_thread_id(&c, &thread))
		return reply_error(stub);
	if (!at_end(&c) && *c.at != ';')
		return reply_error(stub);
	resume(stub, action == 's' || action == 'S', false, 0);
}

/* ---- queries ---- */

/* "qSupported[:feature;feature...]": remembers whether gdb knows swbreak. */
static void handle_supported(struct gdb_stub *stub, const char *packet, size_t length)
{
	stub->gdb_has_swbreak = false;
	const char *at = packet + strlen("qSupported"), *end = packet + length;
	if (at < end && *at == ':')
		at++;
	while (at < end) {
		const char *separator = memchr(at, ';', (size_t)(end - at));
		const char *feature_end = separator ? separator : end;
		if (equals(at, (size_t)(feature_end - at), "swbreak+"))
			stub->gdb_has_swbreak = true;
		at = separator ? separator + 1 : end;
	}
	reply_format(stub, "PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;vContSupported+;swbreak+", GDB_PACKET_MAX);
}

/* "qXfer:features:read:annex:offset,length": the target description, in
 * pieces that fit a packet once escaped. */
static void handle_features_read(struct gdb_stub *stub, const char *packet, size_t length)
{
	static const char prefix[] = "qXfer:features:read:target.xml:";
	if (!starts_with(packet, length, prefix))
		return reply_text(stub, "E00"); /* unknown annex */
	struct cursor c = { packet + strlen(prefix), packet + length };
	uint64_t offset, size;
	if (!take_range(&c, &offset, &size) || !at_end(&c))
		return reply_text(stub, "E00");
	if (offset >= stub->xml_length)
		return reply_text(stub, "l");
	size_t available = stub->xml_length - (size_t)offset;
	size_t wanted = size < available ? (size_t)size : available;
	size_t used;
	size_t taken = gdb_packet_escape((const uint8_t *)stub->xml + offset, wanted, stub->reply + 1,
					 GDB_PACKET_MAX - 1, &used);
	stub->reply[0] = (char)(offset + taken >= stub->xml_length ? 'l' : 'm');
	stub->reply[1 + used] = 0;
	stub->reply_length = 1 + used;
}

static void handle_query(struct gdb_stub *stub, const char *packet, size_t length)
{
	uint64_t offset;
	if (equals(packet, length, "qSupported") || starts_with(packet, length, "qSupported:"))
		return handle_supported(stub, packet, length);
	if (starts_with(packet, length, "qXfer:features:read:"))
		return handle_features_read(stub, packet, length);
	if (equals(packet, length, "qAttached") || starts_with(packet, length, "qAttached:"))
		return reply_text(stub, "1"); /* quitting gdb detaches rather than kills */
	if (equals(packet, length, "qC"))
		return reply_text(stub, "QC1");
	if (equals(packet, length, "qfThreadInfo"))
		return reply_text(stub, "m1");
	if (equals(packet, length, "qsThreadInfo"))
		return reply_text(stub, "l");
	if (equals(packet, length, "qSymbol::"))
		return reply_ok(stub); /* no symbols needed */
	if (equals(packet, length, "qOffsets") && stub->ops->read_load_offset &&
	    stub->ops->read_load_offset(stub->target, &offset) == 0)
		return reply_format(stub, "Text=%llx;Data=%llx;Bss=%llx", (unsigned long long)offset,
				    (unsigned long long)offset, (unsigned long long)offset);
	reply_empty(stub);
}

/* ---- dispatch ---- */

static bool needs_live_program(char command)
{
	return command != 0 && strchr("gGpPmMXZzcCsS", command) != NULL;
}

static enum gdb_stub_next dispatch(struct gdb_stub *stub, char *packet, size_t length)
{
	reply_empty(stub);
	if (length == 0)
		return GDB_STUB_REPLY;
	char command = packet[0];
	if (stub->ended && (needs_live_program(command) || starts_with(packet, length, "vCont;"))) {
		reply_error(stub);
		return GDB_STUB_REPLY;
	}
	switch (command) {
	case '?':
		reply_stop(stub);
		break;
	case 'g':
		handle_read_registers(stub, length);
		break;
	case 'G':
		handle_write_registers(stub, packet, length);
		break;
	case 'p':
	case 'P':
		handle_register(stub, packet, length);
		break;
	case 'm':
		handle_read_memory(stub, packet, length);
		break;
	case 'M':
	case 'X':
		handle_write_memory(stub, packet, length);
		break;
	case 'Z':
	case 'z':
		handle_breakpoint(stub, packet, length);
		break;
	case 'c':
	case 'C':
	case 's':
	case 'S':
		handle_resume(stub, packet, length);
		break;
	case 'H':
		reply_ok(stub); /* one thread: every thread id selects it */
		break;
	case 'T': {
		struct cursor c = { packet + 1, packet + length };
		int64_t thread;
		if (take_thread_id(&c, &thread) && at_end(&c) && thread == 1 && !stub->ended)
			reply_ok(stub);
		else
			reply_error(stub);
		break;
	}
	case 'D':
		if (stub->ops->detach && !stub->ended)
			stub->ops->detach(stub->target);
		reply_ok(stub);
		return GDB_STUB_REPLY_THEN_END;
	case 'k':
		if (stub->ops->kill && !stub->ended)
			stub->ops->kill(stub->target);
		return GDB_STUB_END;
	case 'q':
		handle_query(stub, packet, length);
		break;
	case 'Q':
		if (equals(packet, length, "QStartNoAckMode")) {
			reply_ok(stub);
			return GDB_STUB_REPLY_THEN_NO_ACK;
		}
		break;
	case 'v':
		if (equals(packet, length, "vCont?"))
			reply_text(stub, "vCont;c;C;s;S");
		else if (starts_with(packet, length, "vCont;"))
			handle_vcont(stub, packet, length);
		else if (equals(packet, length, "vKill") || starts_with(packet, length, "vKill;")) {
			if (stub->ops->kill && !stub->ended)
				stub->ops->kill(stub->target);
			reply_ok(stub);
			return GDB_STUB_REPLY_THEN_END;
		}
		break; /* vMustReplyEmpty, vFile, vRun...: empty */
	default:
		break; /* unknown: empty reply */
	}
	return GDB_STUB_REPLY;
}

static enum gdb_stub_next handle_packet(struct gdb_stub *stub, const char *packet, size_t length)
{
	if (length > GDB_PACKET_MAX) {
		reply_error(stub);
		return GDB_STUB_REPLY;
	}
	memcpy(stub->packet, packet, length);
	stub->packet[length] = 0;
	return dispatch(stub, stub->packet, length);
}

/* ---- life cycle ---- */

int gdb_stub_create(struct gdb_stub **stub_out, const struct gdb_target_ops *ops, void *target,
		    const struct gdb_stop *initial, struct tkvm_error *err)
{
	*stub_out = NULL;
	if (!ops || !ops->read_registers || !ops->write_registers || !ops->read_memory || !ops->write_memory ||
	    !ops->resume)
		return tkvm_error_set(err, -EINVAL, "gdb stub: the target must provide registers, memory and resume");
	struct gdb_stub *stub = calloc(1, sizeof *stub);
	if (!stub)
		return tkvm_error_set(err, -ENOMEM, "gdb stub: out of memory");
	stub->ops = ops;
	stub->target = target;
	if (initial) {
		stub->last_stop = *initial;
		stub->last_stop.signal &= 0xff;
	} else {
		stub->last_stop.signal = GDB_SIGNAL_TRAP;
	}
	stub->ended = stub->last_stop.exited || stub->last_stop.terminated;
	int xml_length = gdb_x86_64_target_xml(stub->xml, sizeof stub->xml);
	if (xml_length < 0) {
		free(stub);
		return tkvm_error_set(err, xml_length, "gdb stub: target description does not fit");
	}
	stub->xml_length = (size_t)xml_length;
	*stub_out = stub;
	return 0;
}

void gdb_stub_destroy(struct gdb_stub *stub)
{
	if (stub)
		gdb_interrupt_unwatch(&stub->interrupt);
	free(stub);
}

enum gdb_stub_next gdb_stub_handle(struct gdb_stub *stub, const char *packet, size_t length,
				   const char **reply, size_t *reply_length)
{
	enum gdb_stub_next next = handle_packet(stub, packet, length);
	*reply = stub->reply;
	*reply_length = stub->reply_length;
	return next;
}

int gdb_stub_serve(int fd, const struct gdb_target_ops *ops, void *target, const struct gdb_stop *initial,
		   struct tkvm_error *err)
{
	struct gdb_stub *stub;
	int rc = gdb_stub_create(&stub, ops, target, initial, err);
	if (rc < 0)
		return rc;
	struct gdb_connection *connection = &stub->connection;
	gdb_connection_init(connection, fd);
	stub->interrupt.connection = connection;
	for (;;) {
		int length = gdb_connection_receive(connection, err);
		if (length == -EMSGSIZE) {
			rc = gdb_connection_send(connection, "E01", 3, err);
			if (rc < 0)
				break;
			continue;
		}
		if (length < 0) {
			rc = length;
			break;
		}
		enum gdb_stub_next next = handle_packet(stub, connection->parser.data, (size_t)length);
		if (next != GDB_STUB_END) {
			rc = gdb_connection_send(connection, stub->reply, stub->reply_length, err);
			if (rc < 0)
				break;
		}
		if (next == GDB_STUB_REPLY_THEN_NO_ACK)
			connection->no_ack = true;
		if (next == GDB_STUB_REPLY_THEN_END || next == GDB_STUB_END) {
			rc = 0;
			break;
		}
	}
	/* gdb leaving after the program ended is the normal end of a session. */
	if (rc == -ECONNRESET && stub->ended) {
		rc = 0;
		tkvm_error_clear(err);
	}
	gdb_stub_destroy(stub);
	return rc;
}

/* ---- sockets ---- */

int gdb_stub_listen(const char *host, int port, int *listen_fd, int *bound_port, struct tkvm_error *err)
{
	*listen_fd = -1;
	if (!host)
		host = "127.0.0.1";
	if (port < 0 || port > 65535)
		return tkvm_error_set(err, -EINVAL, "gdb port %d is not between 0 and 65535", port);
	char service[16];
	snprintf(service, sizeof service, "%d", port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *addresses;
	int gai = getaddrinfo(host, service, &hints, &addresses);
	if (gai != 0)
		return tkvm_error_set(err, -EINVAL, "gdb listen address %s: %s", host, gai_strerror(gai));
	int code = -EADDRNOTAVAIL;
	for (struct addrinfo *a = addresses; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			code = -errno;
			continue;
		}
		int one = 1;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1) == 0) {
			struct sockaddr_storage bound;
			socklen_t bound_length = sizeof bound;
			if (bound_port && getsockname(fd, (struct sockaddr *)&bound, &bound_length) == 0)
				*bound_port = bound.ss_family == AF_INET6
						      ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
						      : ntohs(((struct sockaddr_in *)&bound)->sin_port);
			freeaddrinfo(addresses);
			*listen_fd = fd;
			return 0;
		}
		code = -errno;
		close(fd);
	}
	freeaddrinfo(addresses);
	return tkvm_error_set(err, code, "cannot listen for gdb on %s:%d: %s", host, port, strerror(-code));
}

int gdb_stub_accept(int listen_fd, int timeout_ms, int *fd, struct tkvm_error *err)
{
	*fd = -1;
	for (;;) {
		struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
		int ready = poll(&pfd, 1, timeout_ms < 0 ? -1 : timeout_ms);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0)
			return tkvm_error_set(err, -errno, "waiting for gdb to connect: %s", strerror(errno));
		if (ready == 0)
			return tkvm_error_set(err, -ETIMEDOUT, "gdb did not connect within %d ms", timeout_ms);
		int connection = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (connection < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
				continue;
			return tkvm_error_set(err, -errno, "accepting gdb's connection: %s", strerror(errno));
		}
		int one = 1;
		(void)setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		*fd = connection;
		return 0;
	}
}
