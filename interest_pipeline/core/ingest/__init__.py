"""Raw behaviour logs and the item catalogue, read and validated. Event files are found by the log
date in their name, read as strings only while they stay unchanged (CSV, JSONL, Parquet), and every
row ends up accepted, dropped as an exact duplicate, or quarantined with its file, row and reason;
counts per log date are conserved. User ids can be pseudonymised with a keyed hash and contact
details masked before anything is stored. The catalogue's coverage of the events is measured."""
