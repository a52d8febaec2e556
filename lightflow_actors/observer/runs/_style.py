"""The runs page's stylesheet (served at ``/runs/static/runs.css``, beside the shared
``observer.css``): status colours, the DAG, the list, the compare table."""

RUNS_CSS = b"""/* The runs page (a live view). Status colours: one per step and run status. */
:root { --planned: #98a2b3; --submitted: #2457c5; --running: #2457c5;
        --succeeded: #2e7d32; --failed: #c62828; --cancelled: #b26a00; }
.runs-page section { margin-bottom: 1rem; }
.badge { border-radius: 1rem; padding: 0 0.5rem; font-size: 0.8rem; color: #fff;
         background: var(--planned); white-space: nowrap; }
.badge.status-running, .badge.status-submitted { background: var(--running); }
.badge.status-succeeded { background: var(--succeeded); }
.badge.status-failed { background: var(--failed); }
.badge.status-cancelled { background: var(--cancelled); }
.badge.status-absent { background: #fff; color: var(--muted); border: 1px dashed var(--line); }
table.runs, table.compare { border-collapse: collapse; width: 100%; font-size: 0.9rem;
                            font-variant-numeric: tabular-nums; }
table.runs th, table.runs td, table.compare th, table.compare td {
  text-align: left; padding: 0.25rem 0.5rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
table.compare td { width: 45%; }
table.compare tr.differs { background: #fff7e0; }
table.compare tr.differs th::after { content: " \\2260"; color: var(--cancelled); }
.pager { margin: 0.5rem 0; display: flex; gap: 1rem; }
.meta { color: var(--muted); font-size: 0.9rem; }
.dag-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px;
            padding: 0.3rem; margin: 0.5rem 0 1rem; background: #fbfcfe; }
#dag .node { cursor: pointer; }
#dag .node rect { fill: #fff; stroke: var(--planned); stroke-width: 2; }
#dag .node[data-status="submitted"] rect { stroke: var(--submitted); fill: #e8effc; }
#dag .node[data-status="succeeded"] rect { stroke: var(--succeeded); fill: #e6f4ea; }
#dag .node[data-status="failed"] rect { stroke: var(--failed); fill: #fdecea; }
#dag .node[data-status="cancelled"] rect { stroke: var(--cancelled); fill: #fff4e0; }
#dag .node.selected rect { stroke-width: 4; }
#dag .node .name { font-weight: 600; font-size: 13px; fill: #1d232b; }
#dag .node .meta { font-size: 11px; fill: #667085; }
#dag .edge { fill: none; stroke: #b8c0cc; stroke-width: 1.5; }
.step-facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
.step-facts dt { color: var(--muted); }
.step-facts dd { margin: 0; word-break: break-word; }
.step-facts dd.error { color: var(--failed); }
.out { max-height: 28rem; overflow: auto; border-left: 3px solid var(--line);
       padding-left: 0.6rem; margin: 0.3rem 0; }
.out pre, .json { white-space: pre-wrap; word-break: break-word; font-size: 0.82rem; margin: 0; }
code.run-id { font-size: 0.82rem; }
.out img { max-width: 100%; }
.fold { font-size: 0.8rem; margin: 0.2rem 0; cursor: pointer; }
.problem { color: var(--failed); }
.trace { font-size: 0.8rem; padding-left: 1.2rem; }
.trace .cortex\\.error\\.observed { color: var(--failed); }
.rerun .field { margin: 0.4rem 0; }
.rerun .field label { display: flex; gap: 0.5rem; align-items: baseline; flex-wrap: wrap; }
.rerun .field small { color: var(--muted); display: block; }
.rerun textarea { width: 100%; font-family: monospace; }
"""
