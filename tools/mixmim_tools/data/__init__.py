"""Data the tools and tests generate (:mod:`.embedded`)."""
