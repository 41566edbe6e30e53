# heatflex — the two commands: `make run` (default scenario) and `make test` (the test suite).
# Each target creates .venv and installs what it needs, so both work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# Debian packages the tests need (installed with apt only when missing).
DEB_PACKAGES ?= victoria-metrics influxdb mbpoll socat
OUT    ?= runs/residential_house

.PHONY: run test bench lint venv deb clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

deb:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

run: venv
	$(BIN)/heatflex run residential_house --out $(OUT)

test: venv deb
	$(BIN)/python -m pytest -q

bench: venv
	@for b in bench/*.py; do echo "# $$b"; $(BIN)/python $$b || exit 1; done

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache
