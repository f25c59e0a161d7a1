.PHONY: setup run serve test bench clean
PY := .venv/bin/python

setup:
	@bash scripts/setup.sh

run: setup
	$(PY) main.py run

serve: setup
	$(PY) main.py serve

test: setup
	@bash scripts/setup_browser.sh
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: setup
	$(PY) -m bench.report

clean:
	rm -rf .venv .pytest_cache
