"""The feedback service: post-trip surveys, CSAT/NPS scores and complaint cases with SLAs."""
