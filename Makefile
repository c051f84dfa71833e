# voucher-service: `make run` serves the demo on SQLite, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# What QR codes and the log's origin name: where `make run` serves, unless set.
export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: run test test-browser lint bench lock clean

$(BIN)/voucher-service: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(BIN)/voucher-service
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/voucher-service
	$(BIN)/voucher-service db upgrade
	$(BIN)/voucher-service demo
	$(BIN)/voucher-service serve --host $(HOST) --port $(PORT)

test: $(VENV)/.dev
	$(BIN)/pytest -n 2 --dist loadgroup

# The browser tests alone (tests/browser: Debian's chromium, driven by playwright; never
# `playwright install`); each test leaves a screenshot in var/screenshots/ to look at.
test-browser: $(VENV)/.dev
	@test -x /usr/bin/chromium || { echo "install chromium: apt-get install chromium fonts-dejavu-core" >&2; exit 1; }
	$(BIN)/pytest -n 0 tests/browser

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(VENV)/.dev
	mkdir -p var
	$(BIN)/python -m bench.run | tee var/bench.json

# requirements.lock: the runtime dependencies pinned with their hashes, what the Docker image
# installs. Run after changing the dependencies in pyproject.toml, and commit it.
lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --quiet -o requirements.lock

$(BIN)/uv: | $(BIN)/voucher-service
	$(BIN)/pip install --quiet 'uv>=0.5'

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# The API explorer at /docs: Swagger UI from npm, vendored into the package (so the wheel
# carries it and running the service needs no Node.js), with its licences. `make vendor`
# refreshes it at this pinned version, refusing a tarball whose digest is not the pinned one.
SWAGGER_UI_VERSION := 5.35.0
SWAGGER_UI_INTEGRITY := sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==
SWAGGER_UI_FILES := swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png \
	LICENSE NOTICE
SWAGGER_UI_DIR := voucher_service/static/docs/swagger-ui

.PHONY: vendor
vendor:
	rm -rf var/vendor && mkdir -p var/vendor
	cd var/vendor && npm pack --silent swagger-ui-dist@$(SWAGGER_UI_VERSION) > /dev/null
	test "$$($(PYTHON) -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' var/vendor/swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz)" = "$(SWAGGER_UI_INTEGRITY)" \
		|| { echo "swagger-ui-dist $(SWAGGER_UI_VERSION): not the pinned tarball" >&2; exit 1; }
	tar -xzf var/vendor/swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz -C var/vendor
	rm -rf $(SWAGGER_UI_DIR) && mkdir -p $(SWAGGER_UI_DIR)
	cd var/vendor/package && cp $(SWAGGER_UI_FILES) $(CURDIR)/$(SWAGGER_UI_DIR)/
	echo "swagger-ui-dist $(SWAGGER_UI_VERSION) $(SWAGGER_UI_INTEGRITY)" > $(SWAGGER_UI_DIR)/VERSION
	rm -rf var/vendor
