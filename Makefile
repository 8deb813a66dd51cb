# Everything a fresh Debian machine needs, installed idempotently, then the job.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
CJK_FONTS := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
APT_PACKAGES := chromium fonts-wqy-microhei redis-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test setup system-deps lint lock clean vendor-echarts screenshots

demo: setup
	$(BIN)/tiequan demo

# README pictures of the workbench (docs/screenshots/), from a fresh sandbox sweep, and of the
# evaluation report of the live model.
screenshots: setup
	$(BIN)/python -m tiequan.web.screenshots
	$(BIN)/python -m tiequan.models.screenshot

# Two pytest-xdist workers, each test module kept on one (its module fixtures are shared):
# 771 s against 1225 s on one process, on 2 cores (2026-12-02).
test: setup lint
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=15

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/bandit -q -c pyproject.toml -r tiequan crawlers detectors pipelines 2>/dev/null

setup: system-deps $(STAMP)

# Debian's Chromium (Playwright drives it via executable_path; it never downloads a browser),
# a CJK font for screenshots and the sandbox's text-in-image pictures, and redis-server for
# distributed runs (its tests start one on a free loopback port).
system-deps:
	@have_browser=no; for b in /usr/bin/chromium-headless-shell /usr/bin/chromium; do \
	  [ -x $$b ] && have_browser=yes; done; \
	have_font=no; for f in $(CJK_FONTS); do [ -f $$f ] && have_font=yes; done; \
	have_redis=no; command -v redis-server >/dev/null && have_redis=yes; \
	if [ $$have_browser = no ] || [ $$have_font = no ] || [ $$have_redis = no ]; then \
	  echo "installing $(APT_PACKAGES) with apt-get"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES); \
	fi

# Every dependency, pip and setuptools included, comes from the lock with its hash checked; the
# project itself is then built with the locked setuptools, without fetching anything.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tiequan needs Python 3.11 or newer")'
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Re-resolves the dependencies of pyproject.toml (runtime, the dev extra and the tools group) for
# every platform and Python >= 3.11, keeping the locked versions that still fit;
# `make lock LOCK_FLAGS=--upgrade` moves everything to the newest versions allowed.
lock: $(STAMP)
	$(BIN)/uv pip compile --no-config --quiet pyproject.toml --extra dev --group tools \
	  --universal --python-version 3.11 --generate-hashes \
	  --custom-compile-command 'make lock' $(LOCK_FLAGS) -o $(LOCK)

# The dashboard's charting library, fetched from npm and checked against the committed hash
# (SHA256SUMS); ECHARTS_UPDATE=1 accepts a new file and rewrites the hash. Not part of `make test`.
ECHARTS_VERSION := 6.1.0
ECHARTS_DIR := tiequan/web/static/vendor/echarts
vendor-echarts:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd "$$tmp" && npm pack --silent echarts@$(ECHARTS_VERSION) zrender@$(ECHARTS_VERSION) >/dev/null && \
	  mkdir e z && tar xzf echarts-$(ECHARTS_VERSION).tgz -C e && tar xzf zrender-$(ECHARTS_VERSION).tgz -C z) && \
	if [ "$(ECHARTS_UPDATE)" = 1 ]; then \
	  (cd "$$tmp/e/package/dist" && sha256sum echarts.min.js) > $(ECHARTS_DIR)/SHA256SUMS; fi && \
	(cd "$$tmp/e/package/dist" && sha256sum -c --quiet $(CURDIR)/$(ECHARTS_DIR)/SHA256SUMS) && \
	cp "$$tmp/e/package/dist/echarts.min.js" "$$tmp/e/package/LICENSE" "$$tmp/e/package/NOTICE" \
	  "$$tmp/e/package/licenses/LICENSE-d3" $(ECHARTS_DIR)/ && \
	cp "$$tmp/z/package/LICENSE" $(ECHARTS_DIR)/LICENSE-zrender && \
	echo "echarts $(ECHARTS_VERSION): sha256 checked, copied to $(ECHARTS_DIR)"

clean:
	rm -rf $(VENV) var build *.egg-info
