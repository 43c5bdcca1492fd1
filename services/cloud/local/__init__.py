"""The local backend: the ports of services.ports on this machine, no cloud needed.

Folders under a data directory stand for resource groups, storage accounts, containers and workspaces;
compute slots have a state and an hourly rate; jobs from the Azure ML job catalog run as real
subprocesses through a detached runner (`python -m services.cloud.local.runner`) that records their
status in the job folder, so they survive a restart of the bot.
"""

from services.cloud.local.backend import DEFAULT_COMPUTE_SLOTS, ComputeSlot, build_local_backend

__all__ = ["DEFAULT_COMPUTE_SLOTS", "ComputeSlot", "build_local_backend"]
