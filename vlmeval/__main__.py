from vlmeval.cli import main

raise SystemExit(main())
