"""Remote live runs: the SSH route to a GPU host (``submit``, used by the ``gpu-remote``
profile), what a result records about where it ran (``provenance``), and throwaway
loopback daemons (an sshd, a one-node Slurm) to try both profiles on one machine
(``loopback``)."""
