"""Entry point of a Langevin worker process: ``python -m engine.samplers._chain_worker FD``."""

import sys
from multiprocessing.connection import Connection

from engine.samplers.chain_parts import serve

if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
