"""Memory: order nodes for a low peak (`reorder_nodes`), share bytes (`alias_buffers`), place storages
(`plan_memory`); `schedule_graph` runs them in order."""
