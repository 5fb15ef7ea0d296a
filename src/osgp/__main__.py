from osgp.cli import main

raise SystemExit(main())
