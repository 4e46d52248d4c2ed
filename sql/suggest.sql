-- What limit to set (1.2): the arguments, and the rows every server has.
SELECT * FROM leakguard.suggest_limits(0, 2);
SELECT * FROM leakguard.suggest_limits(100.5, 2);
SELECT * FROM leakguard.suggested_settings(99, 0.5);
-- four rows for all applications together, one per kind
SELECT kind FROM leakguard.suggest_limits() WHERE application_name IS NULL
 ORDER BY kind COLLATE "C";
-- rule settings only, and only those that change a limit (which depends
-- on what this instance has seen so far)
SELECT count(*) AS other_names FROM leakguard.suggested_settings()
 WHERE name NOT IN ('leakguard.application_timeouts',
                    'leakguard.application_idle_timeouts',
                    'leakguard.application_transaction_timeouts',
                    'leakguard.application_connection_limits');
-- What applying the suggestions changes (1.3).
SELECT * FROM leakguard.suggested_changes(0, 2);
SELECT * FROM leakguard.suggested_changes(99, 0.5);
-- every change listed belongs to a setting returned, and is a change
SELECT count(*) AS unlisted FROM leakguard.suggested_changes() c
 WHERE c.setting NOT IN (SELECT name FROM leakguard.suggested_settings())
    OR c.limit_now = c.limit_after;
-- every setting returned changes something listed
SELECT count(*) AS unexplained FROM leakguard.suggested_settings() s
 WHERE NOT EXISTS (SELECT 1 FROM leakguard.suggested_changes() c
                    WHERE c.setting = s.name);
-- no default quota is ever suggested
SELECT suggested_limit, note FROM leakguard.suggest_limits()
 WHERE application_name IS NULL AND kind = 'connections';
