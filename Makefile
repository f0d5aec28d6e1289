# The two commands of the README. Both install the Debian packages they need
# (scripts/install-deps.sh) and share one target dir.
CARGO ?= cargo

.PHONY: run test deps build lint bench bench-load bench-speech-latency

deps:
	bash scripts/install-deps.sh

build: deps
	$(CARGO) build -p sip-gateway --bin centralita

# Run the gateway with the embedded defaults: SIP on 127.0.0.1:5060 UDP+TCP,
# admin API on 127.0.0.1:8080, built-in TTS, flows/demo.yaml.
run: build
	$(CARGO) run -p sip-gateway --bin centralita -- run

# Every test: unit tests of each crate and the end-to-end tests with SIPp.
test: build
	$(CARGO) test --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

# Micro-benchmarks (criterion) and the SIPp load harness (BENCHMARKS.md).
bench:
	$(CARGO) bench -p media -p sip-gateway

bench-load:
	bash scripts/bench-load.sh $(ARGS)

bench-speech-latency:
	bash scripts/bench-speech-latency.sh $(ARGS)
