from relayport.cli import main

raise SystemExit(main())
