"""What a run's records mean: metrics, the one results builder, and its views (terminal table,
leaderboard CSV, DataFrames, JSONL, statistics, analysis tables, the HTML page)."""
