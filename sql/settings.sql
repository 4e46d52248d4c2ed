-- leakguard's settings: defaults, contexts, and the refusal of bad values.
SELECT name, setting, unit, context, vartype, boot_val
  FROM pg_settings
 WHERE name LIKE 'leakguard.%'
 ORDER BY name COLLATE "C";

SELECT enumvals FROM pg_settings WHERE name = 'leakguard.mode';

-- each kind of bad rule is refused, naming the rule and the position
\set VERBOSITY default
ALTER SYSTEM SET leakguard.application_timeouts = 'a=5x';
ALTER SYSTEM SET leakguard.application_timeouts = 'a=5s,,b=1s';
ALTER SYSTEM SET leakguard.application_timeouts = 'my app=5s';
ALTER SYSTEM SET leakguard.application_timeouts = 'a=-1';
ALTER SYSTEM SET leakguard.application_timeouts = 'a=1.5s';
ALTER SYSTEM SET leakguard.application_timeouts = 'a=';
ALTER SYSTEM SET leakguard.application_timeouts = 'a';
ALTER SYSTEM SET leakguard.application_timeouts = '=5s';
ALTER SYSTEM SET leakguard.application_timeouts = '"abc=5';
ALTER SYSTEM SET leakguard.application_timeouts = 'ab"c=5';
ALTER SYSTEM SET leakguard.application_timeouts = 'a=5s b=3s';
ALTER SYSTEM SET leakguard.application_timeouts = 'a=366d';
ALTER SYSTEM SET leakguard.application_timeouts = 'ok=1s, bad=1x';

-- other settings refuse what is out of range
ALTER SYSTEM SET leakguard.mode = 'kill';
ALTER SYSTEM SET leakguard.idle_in_transaction_timeout = -1;
ALTER SYSTEM SET leakguard.idle_in_transaction_timeout = '5 parsecs';
ALTER SYSTEM SET leakguard.naptime = '1ms';
ALTER SYSTEM SET leakguard.naptime = '2h';
ALTER SYSTEM SET leakguard.connection_warning = 101;
ALTER SYSTEM SET leakguard.exempt_roles = 'a,,b';
ALTER SYSTEM SET leakguard.max_applications = 0;

-- nothing was written
SELECT pg_read_file('postgresql.auto.conf') LIKE '%leakguard%' AS written;

-- good values are accepted, and can be taken back
ALTER SYSTEM SET leakguard.application_timeouts = 'web*=30s, "my app"=1min, pg_dump=0';
ALTER SYSTEM SET leakguard.exempt_roles = 'admin, "Ops Team"';
SELECT pg_read_file('postgresql.auto.conf') LIKE '%web*=30s%' AS written;
ALTER SYSTEM RESET leakguard.application_timeouts;
ALTER SYSTEM RESET leakguard.exempt_roles;

-- sighup settings cannot be set in a session
SET leakguard.mode = 'off';
SET leakguard.idle_in_transaction_timeout = 0;

-- and the prefix is reserved
SET leakguard.no_such_setting = 1;
