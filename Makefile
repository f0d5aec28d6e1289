# The two commands of the README. Both install the Debian packages they need
# (scripts/install-deps.sh) and share one target dir.
CARGO ?= cargo

.PHONY: run test deps build lint bench bench-load bench-bridge bench-flood bench-speech-latency soak

deps:
	bash scripts/install-deps.sh

build: deps
	$(CARGO) build -p sip-gateway --bin centralita

# Run the gateway with the embedded defaults: SIP on 127.0.0.1:5060 UDP+TCP,
# admin API on 127.0.0.1:8080, built-in TTS, flows/demo.yaml.
run: build
	$(CARGO) run -p sip-gateway --bin centralita -- run

# Every test: unit, integration and end-to-end tests (SIPp) of every crate,
# every target built (benches run once in criterion's test mode, examples
# compiled), the doc tests, then fmt and clippy. --no-fail-fast and the
# status variable: one failing crate or step never hides the others' results.
# The store tests need PostgreSQL (installed by `deps`); nothing here sets
# CENTRALITA_TEST_SKIP_PG.
test: build
	@status=0; \
	$(CARGO) test --workspace --all-targets --no-fail-fast || status=1; \
	$(CARGO) test --workspace --doc --no-fail-fast || status=1; \
	$(MAKE) --no-print-directory lint || status=1; \
	exit $$status

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Micro-benchmarks (criterion) and the SIPp load harness (BENCHMARKS.md).
bench:
	$(CARGO) bench -p media -p sip-gateway

bench-load:
	bash scripts/bench-load.sh $(ARGS)

bench-bridge:
	bash scripts/bench-bridge.sh $(ARGS)

bench-flood:
	bash scripts/bench-flood.sh $(ARGS)

# An hour of the steady call mix (issue #15); ARGS="--minutes 2" for a short one.
soak:
	bash scripts/soak.sh $(ARGS)

bench-speech-latency:
	bash scripts/bench-speech-latency.sh $(ARGS)

# cargo-fuzz targets of fuzz/ (issue #15; nightly, so not part of `test`):
# each runs FUZZ_SECONDS, one at a time, niced (scripts/fuzz.sh).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= sip_udp sip_tcp sdp rtp flow
.PHONY: fuzz
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGETS="$(FUZZ_TARGETS)" bash scripts/fuzz.sh
