"""Enrichment: who called (keys.py), on which plan and as which customer (directory.py, loaded and
cached by usage_plans.py), and their raw key values hidden (masking.py)."""
