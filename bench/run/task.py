"""The callable that submitit runs in a worker process or a SLURM job (imported only when
an executor other than ``inline`` is used: submitit is not loaded for ``--list``, ``--dry-run``
or an inline sweep)."""
from __future__ import annotations

import signal

import submitit

from bench import context
from bench.errors import Preempted
from bench.run.execution import Execution
from bench.run.runner import execute
from bench.spec import RunSpec


class RunTask(submitit.helpers.Checkpointable):
    """The callable submitted to submitit; a preempted or timed-out job is requeued.

    While the run trains, SIGUSR2 (SLURM's warning before the time limit or a preemption)
    and SIGTERM only ask the loop to checkpoint at the next step boundary. Then, for
    SIGUSR2, submitit's own handler is called: it counts timeouts (``max_num_timeout``)
    and requeues the job, which resumes from that checkpoint. After SIGTERM the job ends
    (SLURM requeues a preempted job itself; a cancelled one stays cancelled).
    """

    def __call__(self, spec: RunSpec, execution: Execution) -> str:
        context.STOP.clear()
        try:
            return execute(spec, execution, show_progress=False)
        except Preempted:
            requeue = signal.getsignal(signal.SIGUSR2)  # submitit's, restored by execute
            if context.STOP_SIGNAL == [signal.SIGUSR2] and callable(requeue):
                requeue(signal.SIGUSR2, None)
            raise
