from interest_pipeline.cli import main

raise SystemExit(main())
