"""The landing folder's record of files handed out: new and changed files are found once."""

import os
import time

from interest_pipeline.core.ingest.landing import scan_landing_folder


def test_a_file_corrected_in_place_to_the_same_size_with_its_time_set_back_is_found_again(tmp_path):
    path = tmp_path / "events_2026-10-05.csv"
    path.write_text("user_id,event_type,timestamp\nu1,view,2026-10-05T10:00:00Z\n")
    new, _, record = scan_landing_folder(tmp_path, {})
    assert [f.name for f in new] == [path.name]
    assert scan_landing_folder(tmp_path, record)[0] == []  # nothing changed: nothing new
    before = path.stat()
    time.sleep(0.05)
    path.write_text("user_id,event_type,timestamp\nu2,view,2026-10-05T10:00:00Z\n")  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    changed, _, _ = scan_landing_folder(tmp_path, record)
    assert [f.name for f in changed] == [path.name]


def test_a_file_replaced_by_a_rename_is_found_again(tmp_path):
    path = tmp_path / "events_2026-10-05.csv"
    path.write_text("user_id,event_type,timestamp\nu1,view,2026-10-05T10:00:00Z\n")
    _, _, record = scan_landing_folder(tmp_path, {})
    stat = path.stat()
    replacement = tmp_path / ".events_2026-10-05.csv.part"
    replacement.write_text("user_id,event_type,timestamp\nu3,view,2026-10-05T10:00:00Z\n")
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    replacement.replace(path)
    assert [f.name for f in scan_landing_folder(tmp_path, record)[0]] == [path.name]
