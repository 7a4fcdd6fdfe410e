# tlbstorm: one non-recursive Makefile. `make` builds build/tlbstorm.elf and build/tlbstorm.iso;
# `make run` boots the default configuration; `make check` runs every test. See README.md.
MAKEFLAGS += -rR
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDARY:

CROSS_COMPILE ?=
CC      := $(CROSS_COMPILE)gcc
LD      := $(CROSS_COMPILE)ld
OBJCOPY := $(CROSS_COMPILE)objcopy
CPP     := $(CROSS_COMPILE)cpp
HOSTCC  ?= gcc
PYTHON  ?= /usr/bin/python3
B       := build
# `make V=1` shows the full commands.
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
FONT    ?= /usr/share/consolefonts/Lat15-Terminus16.psf.gz

# Freestanding kernel flags, in one place: no red zone (interrupts share the stack), no SSE/x87
# (nothing saves that state), kernel code model (linked in the top 2 GiB), no PIC.
KCFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-ffreestanding -fno-builtin -nostdinc -isystem $(shell $(CC) -print-file-name=include) \
	-mno-red-zone -mgeneral-regs-only -mcmodel=kernel -fno-pic -fno-pie \
	-fno-stack-protector -fno-omit-frame-pointer -fno-asynchronous-unwind-tables \
	-fno-strict-aliasing -fcf-protection=none -I. -DTLBSTORM_VERSION='"$(VERSION)"'
KASFLAGS := -D__ASSEMBLER__ -Wa,--noexecstack $(filter-out -std=gnu11,$(KCFLAGS))
KLDFLAGS := -nostdlib -static -no-pie -z max-page-size=0x1000 -z noexecstack --no-warn-rwx-segments \
	--build-id=none

# Pure logic: built into the kernel and, for the unit tests, for the host.
PURE_SRCS := kernel/printf.c kernel/cmdline.c kernel/psf.c kernel/json.c acpi/tables.c \
	kernel/stats.c kernel/histogram.c boot/bootinfo.c acpi/madt.c mm/pt.c mm/frame.c hv/encode.c kernel/once.c bench/scenario.c kernel/clocksel.c

KERNEL_SRCS := $(PURE_SRCS) \
	boot/entry.S kernel/font.S kernel/isr.S \
	kernel/main.c kernel/string.c kernel/console.c kernel/uart.c kernel/fbcon.c kernel/vgacon.c \
	kernel/gdt.c kernel/trap.c kernel/exit.c acpi/acpi.c acpi/fwfault.c kernel/options.c kernel/selftest.c \
	kernel/record.c kernel/benchrec.c kernel/time.c kernel/cpu.c kernel/hypervisor.c bench/stress.c bench/change.c bench/targets.c bench/oracle.c bench/retention.c bench/detection.c bench/bench.c bench/conformance.c bench/conformance_cases.c \
	mm/early.c mm/mm.c mm/flush.c mm/aspace.c mm/tlb.c smp/tlb_ipi.c hv/hyperv.c hv/tlb_hv.c kvm/kvm.c kvm/tlb_kvm.c \
	smp/percpu.c smp/apic.c smp/trampoline.S smp/smp.c smp/call.c bench/ipibench.c smp/tsc_sync.c \
	$(wildcard tests/guest/*.c)

KOBJS := $(patsubst %,$(B)/k/%.o,$(KERNEL_SRCS))
IMAGES := $(addprefix $(B)/images/tlbstorm.,raw vhd vhdx qcow2) # `make images`, below

.PHONY: all iso elf run check unit-tests boot-tests deps clean images
all: $(B)/tlbstorm.elf $(B)/tlbstorm.iso $(IMAGES)
elf: $(B)/tlbstorm.elf
iso: $(B)/tlbstorm.iso

$(B)/k/%.c.o: %.c
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(KCFLAGS) -MMD -MP -c $< -o $@

$(B)/k/%.S.o: %.S
	@mkdir -p $(dir $@)
	$(call msg,AS,$<)
	$(Q)$(CC) $(KASFLAGS) -MMD -MP -c $< -o $@

# The console font is embedded at build time from Debian's PSF console fonts.
$(B)/font.psf: $(FONT)
	@mkdir -p $(dir $@)
	gzip -dc $< > $@
$(B)/k/kernel/font.S.o: $(B)/font.psf
$(B)/k/kernel/font.S.o: KASFLAGS += -DFONT_FILE='"$(B)/font.psf"'

$(B)/linker.ld: linker.ld mm/layout.h
	@mkdir -p $(dir $@)
	$(CPP) -P -undef -I. -D__ASSEMBLER__ -MMD -MP -MT $@ $< -o $@

$(B)/tlbstorm.elf: $(KOBJS) $(B)/linker.ld scripts/check-elf-layout
	$(call msg,LD,$@)
	$(Q)$(LD) $(KLDFLAGS) -T $(B)/linker.ld -o $@ $(KOBJS)
	$(Q)scripts/check-elf-layout $@

# GRUB menu entries come from one table, boot/presets.
$(B)/iso/boot/grub/grub.cfg: boot/presets scripts/mkgrubcfg
	@mkdir -p $(dir $@)
	scripts/mkgrubcfg boot/presets > $@

$(B)/tlbstorm.iso: $(B)/tlbstorm.elf $(B)/iso/boot/grub/grub.cfg | deps-present
	$(call msg,ISO,$@)
	$(Q)cp $(B)/tlbstorm.elf $(B)/iso/boot/tlbstorm.elf
	$(Q)grub-mkrescue -o $@ $(B)/iso 2> $(B)/grub-mkrescue.log || { cat $(B)/grub-mkrescue.log; exit 1; }

# ---- disk images: the same hybrid ISO as a disk (it boots as one under SeaBIOS and OVMF) ----
# raw, padded to a whole MiB; a fixed VHD of exactly that virtual size (Azure wants whole MiB:
# qemu-img's force_size keeps it); a VHDX (Hyper-V); a qcow2 (QEMU, clouds that import it).
images: $(IMAGES)
$(B)/images/tlbstorm.raw: $(B)/tlbstorm.iso
	@mkdir -p $(dir $@)
	$(call msg,IMG,$@)
	$(Q)cp $< $@.tmp && truncate -s %1M $@.tmp && mv $@.tmp $@
$(B)/images/tlbstorm.vhd: $(B)/images/tlbstorm.raw
	$(call msg,IMG,$@)
	$(Q)qemu-img convert -q -f raw -O vpc -o subformat=fixed,force_size=on $< $@
$(B)/images/tlbstorm.vhdx: $(B)/images/tlbstorm.raw
	$(call msg,IMG,$@)
	$(Q)qemu-img convert -q -f raw -O vhdx -o subformat=dynamic $< $@
$(B)/images/tlbstorm.qcow2: $(B)/images/tlbstorm.raw
	$(call msg,IMG,$@)
	$(Q)qemu-img convert -q -f raw -O qcow2 $< $@

# ---- host unit tests (cmocka) ----
HOSTCFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wshadow -I. -DHOST_TEST \
	-fsanitize=address,undefined -fno-sanitize-recover=all
UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/host/%,$(wildcard tests/unit/test_*.c))
HOST_OBJS := $(patsubst %.c,$(B)/host/obj/%.o,$(PURE_SRCS))

$(B)/host/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call msg,HOSTCC,$<)
	$(Q)$(HOSTCC) $(HOSTCFLAGS) -MMD -MP -c $< -o $@

$(B)/host/test_%: tests/unit/test_%.c $(HOST_OBJS)
	@mkdir -p $(dir $@)
	$(call msg,HOSTLD,$@)
	$(Q)$(HOSTCC) $(HOSTCFLAGS) -MMD -MP $< $(HOST_OBJS) -lcmocka -lpthread -o $@

unit-tests: $(UNIT_TESTS) | deps-present
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

# ---- fuzzing (docs/fuzz.md): libFuzzer targets for the parsers of untrusted input ----
# Each tests/fuzz/fuzz_<name>.c is linked with the pure sources it needs, built again with clang
# (coverage-instrumented, ASan and UBSan) into $(B)/fuzz/obj. `make fuzz` runs every target for
# FUZZ_SECONDS, `make fuzz-smoke` (part of `make check`) for FUZZ_SMOKE_SECONDS, one at a time;
# both report in $(B)/fuzz/report.txt and fail if a target crashed (tests/fuzz/run).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wshadow -I. -DHOST_TEST \
	-fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(addprefix $(B)/fuzz/fuzz_,$(FUZZ_TARGETS))
# What each target links (fuzz_acpi.c includes acpi/acpi.c and acpi/fwfault.c, for their statics).
FUZZ_SRCS_cmdline := kernel/cmdline.c kernel/printf.c
FUZZ_SRCS_mb1 := boot/bootinfo.c kernel/printf.c
FUZZ_SRCS_mb2 := boot/bootinfo.c kernel/printf.c
FUZZ_SRCS_acpi := acpi/tables.c acpi/madt.c kernel/printf.c
FUZZ_SRCS_fadt := acpi/tables.c
FUZZ_SRCS_s5 := acpi/tables.c
FUZZ_SRCS_madt := acpi/madt.c kernel/printf.c
FUZZ_SRCS_json := kernel/json.c
FUZZ_SRCS_hv_encode := hv/encode.c

$(B)/fuzz/obj/%.o: %.c | deps-present
	@mkdir -p $(dir $@)
	$(call msg,FUZZCC,$<)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

define FUZZ_TARGET
$(B)/fuzz/fuzz_$(1): tests/fuzz/fuzz_$(1).c $(patsubst %.c,$(B)/fuzz/obj/%.o,$(FUZZ_SRCS_$(1)))
	$$(call msg,FUZZLD,$$@)
	$$(Q)$$(FUZZ_CC) $$(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP $$< $$(filter %.o,$$^) -o $$@
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_TARGET,$(t))))

.PHONY: fuzz fuzz-smoke
fuzz: $(FUZZ_BINS) | deps-present
	tests/fuzz/run --seconds $(FUZZ_SECONDS) --out $(B)/fuzz $(FUZZ_BINS)
fuzz-smoke: $(FUZZ_BINS) | deps-present
	tests/fuzz/run --seconds $(FUZZ_SMOKE_SECONDS) --out $(B)/fuzz $(FUZZ_BINS)

# The shootdown protocol's exhaustive model check with spin (docs/model.md).
.PHONY: model
model: | deps-present
	tests/model/run

# ---- the Linux peer (docs/linux.md): a Debian kernel running tlbpeer; cached, rebuilt only
# when its inputs change (scripts/run --guest linux builds it too) ----
.PHONY: linux-guest
linux-guest: | deps-present
	scripts/linuxguest build

# ---- running and testing ----
# `make run` and `make check` install missing packages themselves (scripts/deps).
.PHONY: deps-present
deps-present:
	@scripts/deps --check 2>/dev/null || scripts/deps

deps:
	scripts/deps

# The Hyper-V lab (docs/hvlab.md): cached, rebuilt only when its inputs change.
.PHONY: hvlab
hvlab: | deps-present
	scripts/hvlab build

RUN_ARGS ?= --firmware direct
run: | deps-present
	$(MAKE) all
	scripts/run $(RUN_ARGS)

PYTEST_ARGS ?=
boot-tests: | deps-present
	$(MAKE) all
	$(PYTHON) -m pytest -ra tests/boot tests/harness $(PYTEST_ARGS)

# The benchmark harness (docs/bench.md): the default matrix into build/results/<name>-<date>
# (build/results/latest points at it). `make bench MATRIX=file.toml BENCH_ARGS="--out DIR"`.
MATRIX ?= scripts/matrices/default.toml
BENCH_ARGS ?=
.PHONY: bench
bench: | deps-present
	$(MAKE) all
	$(PYTHON) scripts/bench run $(MATRIX) $(BENCH_ARGS)

# Only the Hyper-V lab tests (tests marked hyperv); PYTEST_ARGS='-m "not hyperv"' skips them.
.PHONY: hyperv-tests
hyperv-tests: | deps-present
	$(MAKE) all
	$(PYTHON) -m pytest -ra -m hyperv tests/boot $(PYTEST_ARGS)

# The whole detection matrix (every negative control x workload x range size x initiators x
# address spaces, under TCG and in the Hyper-V lab); `make check` runs a representative cut.
.PHONY: detection-tests
detection-tests: | deps-present
	$(MAKE) all
	TLBSTORM_DETECTION_FULL=1 $(PYTHON) -m pytest -ra -m "detection or detection_full" tests/boot $(PYTEST_ARGS)

# The lab under overcommit at 2x and above (tests/boot/test_overcommit.py: the reschedule race at
# 4 inner vCPUs on 2, the harness's overcommit matrix); `make check` runs the cut at 1.5x.
.PHONY: overcommit-tests
overcommit-tests: | deps-present
	$(MAKE) all
	TLBSTORM_OVERCOMMIT_FULL=1 $(PYTHON) -m pytest -ra tests/boot/test_overcommit.py $(PYTEST_ARGS)

# mode=conformance in the Hyper-V lab with the slow 65-vCPU run (VP index 64: Ex forms, bank 1);
# `make check` runs the 3-vCPU conformance boot and skips the slow ones.
.PHONY: conformance-tests
conformance-tests: | deps-present
	$(MAKE) all
	TLBSTORM_CONFORMANCE_SLOW=1 $(PYTHON) -m pytest -ra tests/boot/test_conformance.py $(PYTEST_ARGS)

# The soak (docs/soak.md): 10^6 verified shootdowns per backend on every platform here, each
# backend time-boxed (SOAK_ARGS="--minutes 30"); `make check` runs a TCG cut (tests/boot/test_soak.py).
SOAK_ARGS ?=
.PHONY: soak
soak: | deps-present
	$(MAKE) all
	$(PYTHON) scripts/soak $(SOAK_ARGS)

check: | deps-present
	$(MAKE) all
	$(MAKE) unit-tests
	$(MAKE) fuzz-smoke
	$(MAKE) model
	$(MAKE) boot-tests

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
