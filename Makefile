# One command each: `make demo`, `make test`, `make check`, `make bench`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS := tmux git openssh-server iproute2 redis-server

.PHONY: demo demo-ssh test check bench venv system-deps tools clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# The tests drive real tmux, git, sshd, Chromium (the dashboard's browser tests) and the shells
# that completion is tested in: install them through apt when they are missing.
system-deps:
	@missing=""; \
	command -v tmux >/dev/null 2>&1 || missing="$$missing tmux"; \
	command -v git >/dev/null 2>&1 || missing="$$missing git"; \
	[ -x /usr/sbin/sshd ] || missing="$$missing openssh-server"; \
	command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || missing="$$missing iproute2"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v zsh >/dev/null 2>&1 || missing="$$missing zsh"; \
	command -v fish >/dev/null 2>&1 || missing="$$missing fish"; \
	if [ -n "$$missing" ]; then \
	  echo "installing through apt:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

# The real docmgr and wsm the suite runs against, built once per machine into .tools/bin
# (.ci/install-tools: go install, or a local source checkout when the proxy refuses them).
tools:
	@.ci/install-tools

test: venv system-deps tools
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

check: venv
	$(BIN)/ruff check actors metawsm tests
	$(BIN)/ruff format --check actors metawsm tests
	$(BIN)/mypy

bench: venv system-deps tools
	$(BIN)/python -m tests.bench

demo: venv system-deps
	$(BIN)/python -m metawsm.demo

# The same loop on a host reached over SSH: a private sshd on loopback (its own keys and port).
demo-ssh: venv system-deps
	$(BIN)/python -m metawsm.demo_ssh

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache build *.egg-info
