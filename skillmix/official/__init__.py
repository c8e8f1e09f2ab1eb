"""The official Skill-Mix repository's formats, in and out: its catalog files (skills.csv,
topics.txt) and its run folders (records.csv, graded/)."""
