-- 1.1: idle-session limits and connection quotas, as limit_for() reports
-- them (test/regress.conf sets the rules; max_connections is 50).
SELECT a AS application_name, l.*
  FROM unnest(ARRAY['route_builder', 'batch-nightly', 'web1', 'test-suite-7',
                    'pgbouncer-10.0.0.1', 'my app', 'anything']) AS a,
       LATERAL leakguard.limit_for(a) l
 ORDER BY a COLLATE "C";

-- a percentage is of max_connections, rounded down, and at least 1
SELECT connection_rule, connection_limit FROM leakguard.limit_for('tiny-1');
SELECT connection_rule, connection_limit FROM leakguard.limit_for('zero-1');

-- bad rules are refused, naming the rule and the position
\set VERBOSITY default
ALTER SYSTEM SET leakguard.application_connection_limits = 'a=5s';
ALTER SYSTEM SET leakguard.application_connection_limits = 'a=101%';
ALTER SYSTEM SET leakguard.application_connection_limits = 'a=-1';
ALTER SYSTEM SET leakguard.application_connection_limits = 'a=1.5';
ALTER SYSTEM SET leakguard.application_connection_limits = 'a=262144';
ALTER SYSTEM SET leakguard.application_connection_limits = 'ok=1, bad';
ALTER SYSTEM SET leakguard.application_idle_timeouts = 'a=5x';
ALTER SYSTEM SET leakguard.application_idle_timeouts = 'a=10';
ALTER SYSTEM RESET leakguard.application_idle_timeouts;
SELECT pg_read_file('postgresql.auto.conf') LIKE '%leakguard%' AS written;
