-- Versions of the match model's parameters (services/profile/domain/model_params.py), learned
-- from the stored records by `python -m services.profile estimate-weights` or the weekly job.
-- At most one is active; with none, the built-in version default-1 decides.
CREATE TABLE match_parameters (
    version      text PRIMARY KEY,
    parameters   jsonb NOT NULL,
    estimated_at timestamptz NOT NULL,
    record_count bigint NOT NULL,
    problems     jsonb NOT NULL DEFAULT '[]'::jsonb,  -- why the sanity checks refused it (empty: fit)
    active       boolean NOT NULL DEFAULT false,
    activated_at timestamptz
);
CREATE UNIQUE INDEX match_parameters_one_active ON match_parameters (active) WHERE active;
