-- Runs once, when the postgres container initialises an empty data directory (docker-entrypoint-initdb.d).
-- POSTGRES_DB is `postgres`, so every database the stack needs is created here, owned by POSTGRES_USER.
-- Changing this file later has no effect on an existing volume: create a new database by hand there.

-- The rollout's own data (DATABASE_URL).
CREATE DATABASE rollout;

-- Unleash keeps its flag state apart from ours (UNLEASH_DATABASE_URL), so a restore of `rollout` never
-- rewinds flag history.
CREATE DATABASE unleash;

-- Temporal's persistence and SQL visibility stores; the temporal-schema one-shot installs their schemas.
CREATE DATABASE temporal;
CREATE DATABASE temporal_visibility;
