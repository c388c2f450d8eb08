from greenai.cli.main import main

raise SystemExit(main())
