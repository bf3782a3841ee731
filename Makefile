# ZTC — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit integration bench clean chromium chaos redis-tls

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,train]'
	touch $(STAMP)

run: $(STAMP)
	ZTC_METRICS_PORT=$${ZTC_METRICS_PORT:-9101} $(BIN)/ztc run --demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy producers streams consumers schemas deploy ztc tests tools bench

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP)
	$(BIN)/pytest tests/integration -q

# Debian's Chromium for the browser test (tests/e2e); skipped, not failed, where it cannot be installed.
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
		|| echo "skip: chromium could not be installed; the browser test will be skipped"

# Debian's redis-server (built with TLS) for the Redis TLS test, unpacked into the venv: nothing is
# installed system-wide (the embedded stack keeps using the redis-server it finds). Skipped, not
# failed, where apt cannot download it.
REDIS_TLS := $(VENV)/redis-tls
redis-tls: $(STAMP)
	@test -x $(REDIS_TLS)/usr/bin/redis-server || ( tmp=$$(mktemp -d) && cd $$tmp \
		&& apt-get download -qq redis-server redis-tools liblzf1 libjemalloc2 >/dev/null 2>&1 \
		&& for deb in *.deb; do dpkg -x $$deb $(CURDIR)/$(REDIS_TLS); done && rm -rf $$tmp ) \
		|| echo "skip: Debian's redis-server could not be downloaded; the Redis TLS test will be skipped"

test: lint chromium redis-tls
	$(BIN)/pytest -q

# Every stage against its bare baseline on an isolated embedded stack (bench/, README "Speed");
# e.g. make bench BENCH_ARGS="--quick" or BENCH_ARGS="--only router,recorder --repeat 5".
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# The fault suite: kill -9, restarts, malformed input, fuzzed HTTP against a real `ztc run` (tests/chaos);
# e.g. make chaos CHAOS_ARGS="--tickets 2000 --only kill-broker,malformed".
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .ztc .mypy_cache .pytest_cache .ruff_cache
