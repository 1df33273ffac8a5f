# The two commands in README.md: `make run` (service) and `make test` (test suite).
.PHONY: run test test-fast lint setup setup-dev bench

run:
	scripts/bootstrap
	.venv/bin/python -m ivr serve

test:
	scripts/bootstrap --dev
	.venv/bin/python -m pytest -q

# The unit tier: everything not marked `slow` (no real servers, browsers, gunicorn or long
# Vosk/espeak-ng runs), in well under 90 s. Needs the .venv that `make test` set up.
test-fast:
	.venv/bin/python -m pytest -q -m "not slow"

# Lint and import contracts (configured in pyproject.toml).
lint:
	.venv/bin/ruff check .
	.venv/bin/lint-imports

bench:
	.venv/bin/python bench/kb_banking77.py --train ../shared/datasets/banking77/train.csv --shots 10
	.venv/bin/python bench/asr.py
	.venv/bin/python bench/tts.py
	.venv/bin/python bench/kb_oos.py --train ../shared/datasets/clinc150/train.csv --test ../shared/datasets/clinc150/val.csv --shots 10
	.venv/bin/python bench/load.py --calls 200 --concurrency 100 --workers 1
	.venv/bin/python bench/stream.py
	.venv/bin/python bench/flow.py
	.venv/bin/python bench/login_flood.py
	.venv/bin/python bench/hours.py
