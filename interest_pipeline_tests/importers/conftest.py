def pytest_configure(config):
    config.addinivalue_line(
        "markers", "pipeline: runs the whole Dagster pipeline on an imported data set (about 25 s each)"
    )
