# The two commands a newcomer needs: `make run` and `make test`. Everything else is set up here.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := IDSYS_ENV=development $(BIN)/flask --app "idsys:create_app('development')"
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test lint check serve migrate clean help translations messages

help:
	@echo "make run    set up .venv, migrate the SQLite database, create keys and the first admin, serve on http://$(HOST):$(PORT)"
	@echo "make test   set up .venv with the test tools and run the whole test suite"
	@echo "make lint   ruff and mypy"
	@echo "make messages  extract the messages and merge them into idsys/translations/*/messages.po"
	@echo "make clean  remove .venv and caches (keeps instance/: your data and keys)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "idsys needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

# Translations: the .po catalogues are edited and kept in git; the .mo files are build artefacts.
I18N     := idsys/translations
MO_FILES := $(patsubst %.po,%.mo,$(wildcard $(I18N)/*/LC_MESSAGES/messages.po))

translations: $(MO_FILES)

$(I18N)/%/LC_MESSAGES/messages.mo: $(I18N)/%/LC_MESSAGES/messages.po $(VENV)/.runtime
	$(BIN)/pybabel compile -l $* -i $< -o $@

messages: $(VENV)/.runtime
	$(BIN)/pybabel extract -F $(I18N)/babel.cfg -k _l -k lazy_gettext -k N_ --add-location=file \
	  --sort-by-file --project=idsys -o $(I18N)/messages.pot idsys
	$(BIN)/pybabel update -i $(I18N)/messages.pot -d $(I18N) --ignore-obsolete --no-fuzzy-matching

migrate: $(VENV)/.runtime translations
	@umask 077 && $(FLASK) db upgrade

run: migrate
	@umask 077 && $(FLASK) idsys ensure-admin
	@umask 077 && $(FLASK) run --host $(HOST) --port $(PORT)

test: $(VENV)/.dev translations
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check idsys tests bench config.py wsgi.py
	$(BIN)/ruff format --check idsys tests bench config.py wsgi.py
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-output
