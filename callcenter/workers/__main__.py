"""``python -m callcenter.workers``: one worker process, started by the supervisor (``worker.main``).

Its own module so that ``WorkerSpec`` is unpickled as ``callcenter.workers.worker.WorkerSpec``, not ``__main__``'s."""

import sys

from callcenter.workers.worker import main

sys.exit(main())
