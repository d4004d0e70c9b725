"""Dynamic masking: strategies and the scan-time rewrite."""
