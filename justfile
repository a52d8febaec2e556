# Thin wrappers over uv commands. `just --list` shows them.
set shell := ["bash", "-euo", "pipefail", "-c"]

export UV_PYTHON_DOWNLOADS := "never"

# run the main job: the operator server on 127.0.0.1:5174
serve *ARGS:
    uv run --frozen lightflow serve {{ARGS}}

# the whole suite: lint, strict typing, tests (installs chromium/fuse3 first where it can)
test *ARGS: lint typecheck
    scripts/ensure-system-deps
    uv run --frozen pytest {{ARGS}}

lint:
    uv run --frozen lint-imports
    uv run --frozen ruff check lightflow_actors ctx_substrate assets tests bench examples
    uv run --frozen ruff format --check lightflow_actors ctx_substrate assets examples

typecheck:
    uv run --frozen mypy

# benchmarks: every figure beside its baseline measured in the same run
bench *ARGS:
    uv run --frozen python -m bench {{ARGS}}

# browser tests only
e2e:
    uv run --frozen pytest -m browser
