"""The chaos scenarios, one per file, in the order ``make chaos`` runs them."""

from .all_workers_kill import AllWorkersKill
from .burst import Burst
from .lost_done import LostDoneMessage
from .poison import PoisonJob
from .postgres_restart import PostgresRestart
from .redis_freeze import RedisFreeze
from .redis_kill import RedisKill
from .worker_kill import WorkerKillMidBatch

SCENARIOS = [WorkerKillMidBatch, AllWorkersKill, RedisKill, RedisFreeze, PostgresRestart, PoisonJob,
             LostDoneMessage, Burst]
