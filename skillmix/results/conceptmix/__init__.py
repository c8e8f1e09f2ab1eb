"""What a ConceptMix run's records mean: one outcome per image, the full-mark rate and concept
fractions per model and k, and their views (terminal tables, leaderboard.csv in the official
table's shape, results.csv, a self-contained HTML page), beside the official table.

- ``build``: records -> one outcome per (model, item, image), and the rules that decide them.
- ``metrics``: outcomes -> full-mark rate (Wilson and bootstrap intervals), concept fractions,
  per-category accuracy, per model and k.
- ``results``: the whole of a run's results as one value; ``load``: read from a run store and
  write the report files.
- ``terminal``, ``leaderboard``, ``html``: the views; ``official_table``: the published table.
"""
