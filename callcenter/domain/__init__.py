"""Rating maths and routing decisions (pure)."""
