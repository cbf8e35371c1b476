"""Where the sweep's own small actors live: on the driver's node.

The stop flag and the duplicate registry are asked by every trial. Ray may place an actor on any
node of a cluster; one placed on a worker node dies with that node, and then every trial that asks
it fails, retries included. On the driver's node it lives as long as the sweep does.
"""

from __future__ import annotations

from typing import Any


def on_driver_node() -> dict[str, Any]:
    """Options for `ActorClass.options(...)` that pin an actor to the driver's node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)}
