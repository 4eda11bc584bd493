"""EBM Studio: start the desktop application (see gui.app)."""

from gui.app import main

if __name__ == "__main__":
    raise SystemExit(main())
