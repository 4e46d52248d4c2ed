-- What limit to set (1.2): the arguments, and the rows every server has.
SELECT * FROM leakguard.suggest_limits(0, 2);
SELECT * FROM leakguard.suggest_limits(100.5, 2);
SELECT * FROM leakguard.suggested_settings(99, 0.5);
-- four rows for all applications together, one per kind
SELECT kind FROM leakguard.suggest_limits() WHERE application_name IS NULL
 ORDER BY kind COLLATE "C";
-- the three rule settings
SELECT name FROM leakguard.suggested_settings() ORDER BY name COLLATE "C";
