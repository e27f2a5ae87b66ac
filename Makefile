# tkvm build. `make` builds build/tkvm; `make test` runs every test the
# machine supports; `make test SAN=1` does so under ASan+UBSan.
# Sources are picked up by wildcard: one concept per file, no list to edit.

PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter
ifneq ($(CI),)
WARN    += -Werror
endif
ifeq ($(WERROR),1)
WARN    += -Werror
endif
ifeq ($(SAN),1)
BUILD   := build/san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) -I. -D_GNU_SOURCE -MMD -MP
LIBS    := -lcjson -lmicrohttpd -lcurl -lsodium -larchive -ldw -lelf -lm -lpthread -lrt

# Debian packages the build and the tests need (installed by `make deps`).
DEB_PACKAGES := gcc g++ make musl-tools libcjson-dev libmicrohttpd-dev libcurl4-openssl-dev libsodium-dev libarchive-dev libdw-dev libelf-dev minisign nginx libnginx-mod-http-dav-ext openssl apache2
FUZZ_PACKAGES := clang libclang-rt-14-dev

RUNNER_SRC   := $(wildcard runner/*.c)
PACKAGER_SRC := $(wildcard packager/*.c)
CLI_SRC      := $(wildcard cli/*.c)
UNIT_SRC     := $(wildcard tests/unit/test_*.c)
INTEG_SRC    := $(wildcard tests/integration/test_*.c)
TESTLIB_SRC  := $(wildcard tests/lib/*.c)

RUNNER_OBJ   := $(RUNNER_SRC:%.c=$(BUILD)/obj/%.o)
PACKAGER_OBJ := $(PACKAGER_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ      := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTLIB_OBJ  := $(TESTLIB_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN     := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
INTEG_BIN    := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/integration/%)

LIBTKVM      := $(BUILD)/libtkvm.a
LIBPACKAGER  := $(BUILD)/libtkvm_packager.a
TKVM         := $(BUILD)/tkvm

.PHONY: fuzz-deps all deps demo test test-programs unit integration fuzz bench install clean
all: $(BUILD)/.deps-ok $(TKVM)

# Install missing Debian packages once (as root); otherwise say what to run.
$(BUILD)/.deps-ok:
	@sh tests/lib/ensure-deps.sh $(DEB_PACKAGES)
	@mkdir -p $(BUILD) && touch $@
deps:
	@rm -f $(BUILD)/.deps-ok && $(MAKE) --no-print-directory $(BUILD)/.deps-ok

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBTKVM): $(RUNNER_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(LIBPACKAGER): $(PACKAGER_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(TKVM): $(CLI_OBJ) $(LIBPACKAGER) $(LIBTKVM)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBPACKAGER) $(LIBTKVM) $(LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(TESTLIB_OBJ) $(LIBPACKAGER) $(LIBTKVM)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
# Unit tests of CLI modules that stand alone (no printing, no exit).
FIXTURE_UNIT_OBJ := $(addprefix $(BUILD)/obj/cli/,fixture.o fixture_save.o fixture_body.o fixture_match.o fixture_check.o text_buffer.o text_diff.o har_import.o)
$(BUILD)/tests/unit/test_fixture: $(BUILD)/obj/tests/unit/test_fixture.o $(FIXTURE_UNIT_OBJ) $(TESTLIB_OBJ) $(LIBPACKAGER) $(LIBTKVM)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/tests/integration/%: $(BUILD)/obj/tests/integration/%.o $(TESTLIB_OBJ) $(LIBPACKAGER) $(LIBTKVM)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The main job on a fresh machine: build tkvm and the example program, then
# run one request in the real sandbox.
$(BUILD)/examples/hello: examples/hello/hello.c sdk/kvm_api.h
	@mkdir -p $(dir $@)
	gcc -static -O2 -g -Wall -Wextra -I. -o $@ $<
demo: all $(BUILD)/examples/hello
	$(TKVM) run -i $(BUILD)/examples/hello GET '/hello?from=make-demo'

# Test programs: built at test time with both C libraries.
test-programs: $(TKVM)
	@sh tests/lib/build-guests.sh $(BUILD)/guests

test: all $(UNIT_BIN) $(INTEG_BIN) test-programs
	@BUILD=$(BUILD) sh tests/run.sh

unit: $(UNIT_BIN)
	@BUILD=$(BUILD) ONLY=unit sh tests/run.sh

# libFuzzer targets (clang): one per parser.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
fuzz: $(FUZZ_BIN)
$(FUZZ_BIN): | fuzz-deps
fuzz-deps:
	@sh tests/lib/ensure-deps.sh $(FUZZ_PACKAGES)
# The fixture parser lives in cli/ (tkvm test): its files come along.
FUZZ_FIXTURE_SRC := $(addprefix cli/,fixture.c fixture_save.c fixture_body.c fixture_match.c text_buffer.c text_diff.c)
build/fuzz/fuzz_fixture: tests/fuzz/fuzz_fixture.c $(FUZZ_FIXTURE_SRC) $(PACKAGER_SRC) runner/error.c runner/settings.c
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -I. -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS)
build/fuzz/%: tests/fuzz/%.c $(RUNNER_SRC) $(PACKAGER_SRC)
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -I. -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -o $@ $< $(RUNNER_SRC) $(PACKAGER_SRC) $(LIBS)

bench: all test-programs
	@BUILD=$(BUILD) sh bench/run.sh

install: $(TKVM)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/tkvm
	install -m 755 $(TKVM) $(DESTDIR)$(PREFIX)/bin/tkvm
	install -m 644 sdk/kvm_api.h $(DESTDIR)$(PREFIX)/include/tkvm/kvm_api.h
	rm -rf $(DESTDIR)$(PREFIX)/share/tkvm/templates
	install -d $(DESTDIR)$(PREFIX)/share/tkvm
	cp -R templates $(DESTDIR)$(PREFIX)/share/tkvm/templates
	chmod -R u=rwX,go=rX $(DESTDIR)$(PREFIX)/share/tkvm/templates

clean:
	rm -rf build

.SECONDARY:
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
