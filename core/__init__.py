"""The bottom layer: domain errors, canonical JSON, small web helpers; imports nothing of ours."""
