"""The value service: customer value (RFM, tiers, churn risk, stage) and account managers."""
