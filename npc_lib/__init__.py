"""npc_lib."""
